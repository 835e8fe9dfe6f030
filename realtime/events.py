"""Append to the event log, then publish after commit: the one publish helper."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from realtime.groups import member_group, stream_group
from realtime.models import Event, Stream

logger = logging.getLogger(__name__)


def stream_create(*, kind: str) -> Stream:
    """A new stream; its owner names it after its own id with `stream_label`."""
    return Stream.objects.create(label=kind[:100])


def stream_label(*, stream_id: int, label: str) -> None:
    Stream.objects.filter(pk=stream_id).update(label=label[:100])


def stream_last_seq(*, stream_id: int) -> int:
    return Stream.objects.values_list("last_seq", flat=True).get(pk=stream_id)


def stream_last_seqs(*, stream_ids: list[int]) -> dict[int, int]:
    return dict(Stream.objects.filter(pk__in=stream_ids).values_list("pk", "last_seq"))


def event_frame(event: Event) -> str:
    """The wire form of an event, encoded once and shared by every socket."""
    return json.dumps(
        {"type": "event", "seq": event.seq, "kind": event.kind, "data": event.data},
        cls=DjangoJSONEncoder,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def batch_frame(frames: list[str]) -> str:
    """Several encoded event frames as one `batch` frame, for clients that said
    `hello {"batch": true}`; joined as text, never decoded and encoded again."""
    return '{"type":"batch","frames":[' + ",".join(frames) + "]}"


def event_message(event: Event) -> dict[str, Any]:
    """What travels through the channel layer for one event (the frame already encoded)."""
    return {
        "type": "stream.event",
        "group": stream_group(event.stream_id),
        "stream": event.stream_id,
        "seq": event.seq,
        "frame": event_frame(event),
    }


# No savepoint: an event is part of its caller's change, never kept without it (and a
# savepoint would cost two more statements on every write).
@transaction.atomic(savepoint=False)
def event_append(*, stream_id: int, kind: str, data: dict[str, Any]) -> Event:
    """Give the event the stream's next seq under a row lock, store it, publish after commit.

    Callers run inside their own transaction; the lock on the stream row makes
    seq allocation gap-free and ordered by commit.
    """
    return event_store(
        stream_id=stream_id, seq=stream_seq_next(stream_id=stream_id), kind=kind, data=data
    )


@transaction.atomic(savepoint=False)
def event_store(*, stream_id: int, seq: int, kind: str, data: dict[str, Any]) -> Event:
    """Store an event under a seq the caller took with `stream_seq_next` in this same
    transaction (for rows that carry their seq, such as messages, so they are written once)."""
    # Round-trip through JSON so the stored data and the frame are identical.
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    event = Event.objects.create(stream_id=stream_id, seq=seq, kind=kind, data=data)
    message = event_message(event)
    transaction.on_commit(lambda: _publish_now(message))
    return event


def stream_seq_next(*, stream_id: int) -> int:
    """Allocate the stream's next seq in one statement. The UPDATE holds the stream row's
    lock until commit, as SELECT ... FOR UPDATE did, at a third of the ORM's cost on the
    write path (PostgreSQL and SQLite 3.35+ both have RETURNING)."""
    if not connection.in_atomic_block:
        # Outside a transaction the seq would commit alone: a gap if its event never came.
        raise RuntimeError("stream_seq_next must run inside the transaction that stores the event")
    table = connection.ops.quote_name(Stream._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq",  # noqa: S608 (a model's table name)
            [stream_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Stream.DoesNotExist(f"No stream {stream_id}.")
    return row[0]


def events_after(*, stream_id: int, after: int, limit: int) -> list[Event]:
    return list(Event.objects.filter(stream_id=stream_id, seq__gt=after).order_by("seq")[:limit])


def events_latest(*, stream_id: int, limit: int) -> list[Event]:
    latest = Event.objects.filter(stream_id=stream_id).order_by("-seq")[:limit]
    return sorted(latest, key=lambda event: event.seq)


def member_notify(*, member_id: int, message: dict[str, Any]) -> None:
    """Tell every open socket of a member (after the current transaction commits)."""
    group = member_group(member_id)
    transaction.on_commit(lambda: _publish_now({**message, "group": group}))


async def group_publish(group: str, message: dict[str, Any]) -> None:
    """Publish from async code (consumers): ephemeral frames such as typing and presence."""
    layer = get_channel_layer()
    try:
        await layer.group_send(group, {**message, "group": group})
    except Exception:
        logger.warning("channel layer send to %s failed", group, exc_info=True)


def _publish_now(message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop()
    if loop is not None:
        # On a server's database thread: hand the message to the event loop and return.
        # Waiting for the send (async_to_sync) would hold the one database thread until
        # the loop is free, i.e. until a whole fan-out round has run: one write per round.
        loop.call_soon_threadsafe(_publish_queue, loop, layer, message)
        return
    try:
        async_to_sync(layer.group_send)(message["group"], message)
    except Exception:
        # The log is the source of truth; a lost fan-out costs a resume, not a message.
        logger.exception("channel layer send to %s failed", message["group"])


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop this thread works for (set by sync_to_async), if any."""
    threadlocal = SyncToAsync.threadlocal
    if getattr(threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(threadlocal, "main_event_loop", None)
    if loop is None or not loop.is_running() or loop.is_closed():
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return loop  # a worker thread: no loop of its own
    return None


# Per event loop: messages waiting to be sent, in commit order, and the task sending them.
_outboxes: dict[asyncio.AbstractEventLoop, deque] = {}
# Per event loop: the process's hub, which takes this process's own stream events at once.
_local_receivers: dict[asyncio.AbstractEventLoop, Callable[[dict[str, Any]], None]] = {}


def local_receiver_set(
    *, loop: asyncio.AbstractEventLoop, receiver: Callable[[dict[str, Any]], None] | None
) -> None:
    """The hub registers here to get stream events published in its own process without
    a round trip through the channel layer (which hands them over one per loop turn, so
    a busy loop would dispatch them one per round). It still gets them from the layer
    too, and drops those as repeats by seq."""
    if receiver is None:
        _local_receivers.pop(loop, None)
    else:
        _local_receivers[loop] = receiver


def _publish_queue(loop: asyncio.AbstractEventLoop, layer, message: dict[str, Any]) -> None:
    receiver = _local_receivers.get(loop)
    if receiver is not None and message.get("type") == "stream.event":
        receiver(message)
        if isinstance(layer, InMemoryChannelLayer):
            return  # no other process can be listening: the hub has it
    outbox = _outboxes.get(loop)
    if outbox is not None:
        outbox.append(message)
        return
    _outboxes[loop] = deque([message])
    loop.create_task(_publish_drain(loop, layer))


async def _publish_drain(loop: asyncio.AbstractEventLoop, layer) -> None:
    """Send queued messages one at a time, so they reach the layer in commit order."""
    outbox = _outboxes[loop]
    try:
        while outbox:
            message = outbox.popleft()
            try:
                await layer.group_send(message["group"], message)
            except Exception:
                logger.exception("channel layer send to %s failed", message["group"])
    finally:
        del _outboxes[loop]
