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

from realtime.events import event_message, events_after, group_publish, stream_last_seqs
from realtime.groups import stream_group
from realtime.presence import presence_heartbeat, presence_online

logger = logging.getLogger(__name__)


class HubSocket(Protocol):
    stream_id: int | None
    last_seq: int | None  # None until the socket's hello has been answered
    replay_buffer: list | None  # not None while the socket replays from the log

    async def hub_message(self, message: dict[str, Any]) -> None: ...

    async def idle_check(self, now: float) -> None: ...


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
        self.tasks: list[asyncio.Task] = []

    # --- lifecycle ------------------------------------------------------------------
    async def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop and self.channel is not None:
            return
        # A new event loop (tests start one per test): forget the old loop's state.
        self.loop, self.members, self.stream_seq, self.tasks = loop, {}, {}, []
        self.presence_dirty = set()
        self.layer = get_channel_layer()
        self.channel = await self.layer.new_channel(prefix="hub.")
        self.tasks = [
            loop.create_task(self._receive_forever()),
            loop.create_task(self._refresh_forever()),
            loop.create_task(self._presence_flush_forever()),
        ]

    async def stop(self) -> None:
        """Cancel the hub's tasks on this loop and forget its state (tests; shutdown)."""
        if self.loop is not asyncio.get_running_loop():
            return
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self.loop, self.channel, self.members, self.stream_seq = None, None, {}, {}
        self.presence_dirty = set()

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
            with contextlib.suppress(Exception):
                await self.layer.group_discard(group, self.channel)

    def local(self, group: str) -> set[HubSocket]:
        return self.members.get(group, set())

    def presence_changed(self, stream_id: int) -> None:
        """Someone joined or left here; the next flush tells every process's sockets once."""
        self.presence_dirty.add(stream_id)

    async def _presence_flush_forever(self) -> None:
        """Joins and leaves coalesced: at most one presence frame per stream per interval
        (1,000 members joining cost ~10 frames per socket, not 1,000)."""
        while True:
            await asyncio.sleep(settings.CONVENE["PRESENCE_FLUSH_SECONDS"])
            dirty, self.presence_dirty = self.presence_dirty, set()
            for stream_id in dirty:
                try:
                    presence = await database_sync_to_async(presence_online)(stream_id=stream_id)
                    frame = json.dumps({"type": "presence", **presence}, separators=(",", ":"))
                    await group_publish(
                        stream_group(stream_id),
                        {"type": "stream.ephemeral", "frame": frame, "presence": presence},
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
            await self.dispatch(message)

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
            for event in events:
                await self._dispatch(event_message(event))
            if events:
                self.stream_seq[group] = max(self.stream_seq.get(group, 0), events[-1].seq)

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "stream.event":
            await self._dispatch_event(message)
        else:
            await self._dispatch(message)

    async def _dispatch_event(self, message: dict[str, Any]) -> None:
        """Dispatch in seq order per stream: fill a gap from the log once, drop repeats."""
        stream_id, seq = message["stream"], message["seq"]
        last = self.stream_seq.get(message["group"])
        if last is not None and seq <= last:
            return
        if last is not None and seq > last + 1:
            missing = await database_sync_to_async(events_after)(
                stream_id=stream_id, after=last, limit=seq - last - 1
            )
            for event in missing:
                await self._dispatch(event_message(event))
        self.stream_seq[message["group"]] = seq
        await self._dispatch(message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        group = message.get("group")
        for socket in list(self.members.get(group, ())):
            try:
                await socket.hub_message(message)
            except Exception:
                logger.exception("delivery to one socket failed")

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
