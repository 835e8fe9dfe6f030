"""Append to the event log, then publish after commit: the one publish helper."""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

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


def event_message(event: Event) -> dict[str, Any]:
    """What travels through the channel layer for one event (the frame already encoded)."""
    return {
        "type": "stream.event",
        "group": stream_group(event.stream_id),
        "stream": event.stream_id,
        "seq": event.seq,
        "frame": event_frame(event),
    }


@transaction.atomic
def event_append(*, stream_id: int, kind: str, data: dict[str, Any]) -> Event:
    """Give the event the stream's next seq under a row lock, store it, publish after commit.

    Callers run inside their own transaction; the lock on the stream row makes
    seq allocation gap-free and ordered by commit.
    """
    stream = Stream.objects.select_for_update().get(pk=stream_id)
    stream.last_seq += 1
    stream.save(update_fields=["last_seq"])
    # Round-trip through JSON so the stored data and the frame are identical.
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    event = Event.objects.create(stream=stream, seq=stream.last_seq, kind=kind, data=data)
    message = event_message(event)
    transaction.on_commit(lambda: _publish_now(message))
    return event


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
    try:
        async_to_sync(layer.group_send)(message["group"], message)
    except Exception:
        # The log is the source of truth; a lost fan-out costs a resume, not a message.
        logger.exception("channel layer send to %s failed", message["group"])
