"""Per-process fan-out: one channel-layer subscription per group, frames handed to local sockets.

The Channels-tutorial pattern puts every socket in the channel-layer group, so a
room of 1,000 sockets costs 1,000 channel-layer deliveries per event. Here each
server process subscribes once per group (one channel, `new_channel()`), and the
hub hands the already-encoded frame to that process's own sockets directly.

The hub also
- fills seq gaps once per stream from the event log (a dropped or reordered
  fan-out costs one query per process, not one per socket);
- re-adds its group memberships well inside the layer's group expiry, so a socket
  open for days keeps receiving;
- beats presence for its sockets and refreshes each room's online list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from realtime.events import (
    batch_frame,
    event_message,
    events_after,
    group_publish,
    local_receiver_set,
    stream_last_seqs,
)
from realtime.groups import stream_group
from realtime.presence import presence_heartbeat, presence_online

logger = logging.getLogger(__name__)

# A round over a large room lets the event loop run every this many sockets, so that
# writes finishing on the database thread are acknowledged and the next ones start
# while the round goes on, instead of waiting for its end (their events join the next round).
YIELD_EVERY = 100
# After a round, the hub waits ROUND_REST times as long as the round took (rounds shorter
# than ROUND_REST_MIN seconds go on at once). 0.5 measured better than 1.0 and 0 at
# 8 and 15 messages/s into 1,000 sockets (docs/decisions.md).
ROUND_REST = 0.5
ROUND_REST_MIN = 0.002
# Presence sends (one per socket per presence frame) a process allows itself per second.
PRESENCE_SENDS_PER_S = 1000


class HubSocket(Protocol):
    stream_id: int | None
    last_seq: int | None  # None until the socket's hello has been answered
    replay_buffer: list | None  # not None while the socket replays from the log

    async def hub_message(self, message: dict[str, Any]) -> None: ...

    async def hub_events(self, batch: EventBatch) -> None: ...

    async def idle_check(self, now: float) -> None: ...


class EventBatch:
    """Consecutive events of one stream, dispatched together in one round.

    A socket that has everything before `first_seq` gets them as one `batch` frame,
    encoded once for every such socket: under load the per-socket send cost (Daphne,
    autobahn framing, the socket write) is paid once per round, not once per event.
    """

    __slots__ = ("_frame", "first_seq", "last_seq", "messages")

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.first_seq = messages[0]["seq"]
        self.last_seq = messages[-1]["seq"]
        self._frame: str | None = None

    def frame(self) -> str:
        if self._frame is None:
            self._frame = batch_frame([message["frame"] for message in self.messages])
        return self._frame


def _cancelled() -> bool:
    """True once this task has been asked to stop, even if a library swallowed the
    CancelledError and raised something else (redis-py can): loops must then end."""
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())


class StreamHub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.layer = None
        self.channel: str | None = None
        self.members: dict[str, set[HubSocket]] = {}
        self.stream_seq: dict[str, int] = {}  # highest seq dispatched, per stream group
        self.presence_dirty: set[int] = set()  # streams whose online list changed here
        self.presence_flushed: dict[str, float] = {}  # group -> when this process last told it
        self.presence_cache: dict[str, dict[str, Any]] = {}  # group -> latest online list
        self.tasks: list[asyncio.Task] = []
        # Messages received from the layer and not yet dispatched (see _dispatch_forever).
        self.inbox: list[dict[str, Any]] = []
        self.inbox_ready = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------
    async def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop and self.channel is not None:
            return
        # A new event loop (tests start one per test): forget the old loop's state.
        if self.loop is not None:
            local_receiver_set(loop=self.loop, receiver=None)
        self.loop, self.members, self.stream_seq, self.tasks = loop, {}, {}, []
        self.presence_dirty, self.presence_flushed, self.presence_cache = set(), {}, {}
        self.inbox, self.inbox_ready = [], asyncio.Event()
        self.layer = get_channel_layer()
        self.channel = await self.layer.new_channel(prefix="hub.")
        local_receiver_set(loop=loop, receiver=self._receive_local)
        self.tasks = [
            loop.create_task(self._receive_forever()),
            loop.create_task(self._dispatch_forever()),
            loop.create_task(self._refresh_forever()),
            loop.create_task(self._presence_flush_forever()),
        ]

    async def stop(self) -> None:
        """Cancel the hub's tasks on this loop and forget its state (tests; shutdown)."""
        if self.loop is not asyncio.get_running_loop():
            return
        local_receiver_set(loop=self.loop, receiver=None)
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self.loop, self.channel, self.members, self.stream_seq = None, None, {}, {}
        self.presence_dirty, self.presence_flushed, self.presence_cache = set(), {}, {}
        self.inbox = []

    # --- subscriptions ----------------------------------------------------------------
    async def subscribe(self, group: str, socket: HubSocket) -> None:
        await self._ensure_started()
        sockets = self.members.setdefault(group, set())
        if not sockets:
            await self.layer.group_add(group, self.channel)
        sockets.add(socket)

    async def unsubscribe(self, group: str, socket: HubSocket) -> None:
        sockets = self.members.get(group)
        if not sockets:
            return
        sockets.discard(socket)
        if not sockets:
            del self.members[group]
            self.stream_seq.pop(group, None)
            self.presence_cache.pop(group, None)
            self.presence_flushed.pop(group, None)
            with contextlib.suppress(Exception):
                await self.layer.group_discard(group, self.channel)

    def local(self, group: str) -> set[HubSocket]:
        return self.members.get(group, set())

    def presence_changed(self, stream_id: int) -> None:
        """Someone joined or left here; the next flush tells every process's sockets once."""
        self.presence_dirty.add(stream_id)

    async def presence_known(self, stream_id: int) -> dict[str, Any]:
        """The stream's online list as of the last presence frame or heartbeat; read from
        the database only when this process has none (its first socket in the stream)."""
        group = stream_group(stream_id)
        presence = self.presence_cache.get(group)
        if presence is None:
            presence = await database_sync_to_async(presence_online)(stream_id=stream_id)
            self.presence_cache[group] = presence
        return presence

    def presence_spacing(self, group: str) -> float:
        """Seconds between presence frames for a stream: a frame costs one send per local
        socket, so a room of thousands is told less often (at most ~PRESENCE_SENDS_PER_S
        presence sends per second per process), a small room every flush interval."""
        interval = settings.CONVENE["PRESENCE_FLUSH_SECONDS"]
        return max(interval, len(self.local(group)) / PRESENCE_SENDS_PER_S)

    async def _presence_flush_forever(self) -> None:
        """Joins and leaves coalesced: at most one presence frame per stream per spacing
        (1,000 members joining cost ~10 frames per socket, not 1,000)."""
        while True:
            await asyncio.sleep(settings.CONVENE["PRESENCE_FLUSH_SECONDS"])
            now = time.monotonic()
            for stream_id in list(self.presence_dirty):
                group = stream_group(stream_id)
                if now - self.presence_flushed.get(group, 0.0) < self.presence_spacing(group):
                    continue  # still dirty: told at a later tick
                self.presence_dirty.discard(stream_id)
                self.presence_flushed[group] = now
                try:
                    presence = await database_sync_to_async(presence_online)(stream_id=stream_id)
                    self.presence_cache[group] = presence
                    frame = json.dumps({"type": "presence", **presence}, separators=(",", ":"))
                    await group_publish(
                        group, {"type": "stream.ephemeral", "frame": frame, "presence": presence}
                    )
                except Exception:
                    if _cancelled():
                        raise asyncio.CancelledError from None
                    logger.warning("presence flush failed", exc_info=True)

    # --- delivery -----------------------------------------------------------------------
    async def _receive_forever(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                if _cancelled():
                    raise asyncio.CancelledError from None
                # Redis restarting, say. Its restart lost our group memberships and any
                # fan-out in flight: rejoin at once and send what the log has.
                logger.warning("hub receive failed; retrying", exc_info=True)
                await asyncio.sleep(1)
                await self._rejoin_and_catch_up()
                continue
            self.inbox.append(message)
            self.inbox_ready.set()

    def _receive_local(self, message: dict[str, Any]) -> None:
        """A stream event committed in this process: queued for the next round at once.
        Every post that committed during a round joins the round after it."""
        if message["group"] in self.members:
            self.inbox.append(message)
            self.inbox_ready.set()

    async def _dispatch_forever(self) -> None:
        """Dispatch everything received since the last round, as one round.

        While a round hands frames to a large room, more events arrive; the next round
        takes them all at once, so the cost per event falls as the load rises.
        """
        while True:
            await self.inbox_ready.wait()
            self.inbox_ready.clear()
            messages, self.inbox = self.inbox, []
            started = time.monotonic()
            try:
                await self.dispatch(messages)
            except Exception:
                if _cancelled():
                    raise asyncio.CancelledError from None
                logger.exception("hub dispatch failed")
            # Rest half as long as the round took (a large room's round is tens of ms; a
            # small room's, microseconds): writes and handshakes get the loop meanwhile,
            # and the next round carries every event that arrived, instead of one round
            # per event at full load.
            spent = time.monotonic() - started
            if spent > ROUND_REST_MIN:
                await asyncio.sleep(spent * ROUND_REST)

    async def _rejoin_and_catch_up(self) -> None:
        for group in list(self.members):
            try:
                await self.layer.group_add(group, self.channel)
            except Exception:
                if _cancelled():
                    raise asyncio.CancelledError from None
                logger.warning("hub could not rejoin %s", group, exc_info=True)
        try:
            await self._catch_up()
        except Exception:
            if _cancelled():
                raise asyncio.CancelledError from None
            logger.warning("hub catch-up failed", exc_info=True)

    async def _catch_up(self) -> None:
        """Send local sockets any logged event they have not had (a lost fan-out, with no
        later event to reveal the gap). One query per process, more only when behind."""
        lowest: dict[str, tuple[int, int]] = {}
        for group, sockets in list(self.members.items()):
            for socket in sockets:
                seq, stream_id = socket.last_seq, socket.stream_id
                if seq is None or socket.replay_buffer is not None:
                    continue
                if stream_group(stream_id) != group:
                    continue
                if group not in lowest or seq < lowest[group][1]:
                    lowest[group] = (stream_id, seq)
        if not lowest:
            return
        last = await database_sync_to_async(stream_last_seqs)(
            stream_ids=[stream_id for stream_id, _ in lowest.values()]
        )
        for group, (stream_id, low) in lowest.items():
            behind = last.get(stream_id, 0) - low
            if behind <= 0:
                continue
            events = await database_sync_to_async(events_after)(
                stream_id=stream_id, after=low, limit=min(behind, settings.CONVENE["REPLAY_LIMIT"])
            )
            if events:
                await self._dispatch_events(group, [event_message(event) for event in events])
                self.stream_seq[group] = max(self.stream_seq.get(group, 0), events[-1].seq)

    async def dispatch(self, messages: list[dict[str, Any]]) -> None:
        """One round: events grouped per stream and put in seq order, the rest as they come."""
        events: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            if message.get("type") == "stream.event":
                events.setdefault(message["group"], []).append(message)
            else:
                await self._dispatch(message)
        for group, received in events.items():
            ordered = await self._in_order(group, received)
            if ordered:
                await self._dispatch_events(group, ordered)

    async def _in_order(self, group: str, received: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The round's events of one stream in seq order, repeats dropped, gaps filled
        from the log once per process (not once per socket)."""
        last = self.stream_seq.get(group)
        ordered: list[dict[str, Any]] = []
        for message in sorted(received, key=lambda m: m["seq"]):
            seq = message["seq"]
            if last is not None and seq <= last:
                continue
            if last is not None and seq > last + 1:
                missing = await database_sync_to_async(events_after)(
                    stream_id=message["stream"], after=last, limit=seq - last - 1
                )
                ordered.extend(event_message(event) for event in missing)
            ordered.append(message)
            last = seq
        if last is not None:
            self.stream_seq[group] = max(self.stream_seq.get(group, last), last)
        return ordered

    async def _dispatch_events(self, group: str, messages: list[dict[str, Any]]) -> None:
        batch = EventBatch(messages)
        for index, socket in enumerate(list(self.members.get(group, ()))):
            try:
                await socket.hub_events(batch)
            except Exception:
                logger.exception("delivery to one socket failed")
            if index % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        group = message.get("group")
        if "presence" in message and group in self.members:
            self.presence_cache[group] = message["presence"]  # another process's flush too
        for index, socket in enumerate(list(self.members.get(group, ()))):
            try:
                await socket.hub_message(message)
            except Exception:
                logger.exception("delivery to one socket failed")
            if index % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)

    async def _refresh_forever(self) -> None:
        """Keep group memberships alive and presence fresh."""
        expiry = settings.CHANNEL_GROUP_EXPIRY
        interval = max(0.5, min(settings.CONVENE["PRESENCE_HEARTBEAT_SECONDS"], expiry / 3))
        while True:
            await asyncio.sleep(interval)
            if _cancelled():
                raise asyncio.CancelledError
            await self._rejoin_and_catch_up()
            now = time.monotonic()
            for socket in {s for group in list(self.members) for s in self.local(group)}:
                with contextlib.suppress(Exception):
                    await socket.idle_check(now)
            try:
                await presence_heartbeat(self)
            except Exception:
                if _cancelled():
                    raise asyncio.CancelledError from None
                logger.warning("presence heartbeat failed", exc_info=True)


hub = StreamHub()
