"""The base stream consumer: hello/resume, ready, ordered delivery, presence, ping, close codes.

It knows nothing of chat or Q&A. Subclasses say which stream a socket is for,
what state `ready` carries, and how to handle their own frame types
(`handle_<type>` coroutines). Live frames reach the socket through the
process's StreamHub (realtime/hub.py), never through a channel of its own.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime.events import (
    batch_frame,
    event_frame,
    events_after,
    events_latest,
    group_publish,
    stream_last_seq,
)
from realtime.groups import member_group, stream_group
from realtime.hub import EventBatch, hub
from realtime.presence import presence_count, presence_enter, presence_leave, presence_with

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_TOO_MANY = 4429

# Replayed events per `batch` frame, for clients that take batches (~50 KB at most).
REPLAY_BATCH = 50


class StreamClosed(Exception):
    """Raised by `stream_resolve` to refuse a socket with a close code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class FrameRefused(Exception):
    """Raised by a handler to answer with an `error` frame; the socket stays open."""

    def __init__(self, code: str, detail: str, client_id: str | None = None, id: int | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id
        self.id = id  # the message an edit or delete was about, so the client can tell which


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


class StreamConsumer(AsyncWebsocketConsumer):
    # No per-socket channel-layer channel: the hub subscribes once per process.
    channel_layer_alias = "__hub_only__"

    stream_id: int | None = None
    # None until the client's hello has been answered; then the highest seq sent.
    last_seq: int | None = None
    # While a replay from the log runs, live events wait here (never block the hub).
    replay_buffer: list[dict[str, Any]] | None = None
    presence_connection: str | None = None
    last_presence: dict | None = None
    groups_joined: tuple[str, ...] = ()
    session_key: str | None = None
    # Room sockets show who is online; a member's own stream does not.
    track_presence = True
    # The client said `hello {"batch": true}`: consecutive events may come as one frame.
    batch_frames = False

    # --- hooks for subclasses -------------------------------------------------
    async def stream_resolve(self) -> int:
        """Return the stream id for this socket or raise StreamClosed."""
        raise NotImplementedError

    async def stream_state(self) -> dict[str, Any]:
        """The current state sent with `ready` (room muted, own mute, ...)."""
        return {}

    def presence_member(self) -> dict[str, Any]:
        """What other members see of this socket's member in presence lists."""
        user = self.scope["user"]
        return {"id": user.pk, "name": str(user)}

    # --- connection -------------------------------------------------------------
    async def connect(self) -> None:
        self.last_frame_at = time.monotonic()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            self.stream_id = await self.stream_resolve()
        except StreamClosed as closed:
            await self._refuse(closed.code)
            return
        limit = settings.CONVENE["WS_MAX_SOCKETS_PER_MEMBER"]
        if await database_sync_to_async(presence_count)(member_id=user.pk) >= limit:
            await self._refuse(CLOSE_TOO_MANY)
            return
        # Only the key is needed later (sign-out closes this session's sockets).
        session = self.scope.pop("session", None)
        self.session_key = session.session_key if session is not None else None
        self.groups_joined = (stream_group(self.stream_id), member_group(user.pk))
        for group in self.groups_joined:
            await hub.subscribe(group, self)
        await self.accept()

    async def _refuse(self, code: int) -> None:
        # Accept first: a close before accept becomes an HTTP 403 and the code is lost.
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await hub.unsubscribe(group, self)
        if self.presence_connection:
            connection, self.presence_connection = self.presence_connection, None
            await database_sync_to_async(presence_leave)(connection=connection)
            hub.presence_changed(self.stream_id)

    # --- frames from the client ---------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        self.last_frame_at = time.monotonic()
        if text_data is None:
            await self.send_error("invalid", "Frames must be JSON text.")
            return
        if len(text_data) > settings.CONVENE["WS_MAX_FRAME_BYTES"]:
            # Refused unparsed: never decode or broadcast an oversized frame.
            await self.send_error("too_long", "That frame is too large.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid", "Frames must be valid JSON.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("invalid", 'A frame is a JSON object with a "type".')
            return
        kind = frame["type"]
        handler = getattr(self, f"handle_{kind}", None) if kind.isidentifier() else None
        if handler is None:
            await self.send_error("invalid", f"Unknown frame type {kind[:40]!r}.")
            return
        try:
            await handler(frame)
        except FrameRefused as refused:
            await self.send_error(refused.code, refused.detail, refused.client_id, refused.id)
        except Exception:
            # Never a dropped socket: log it, say so, keep the connection.
            logger.exception("frame %r failed", kind)
            await self.send_error(
                "unavailable",
                "Something went wrong on our side. Try again: a resend with the same "
                "client_id is never stored twice.",
            )

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        if text_data is not None and bytes_data is None and not close:
            # The hot path (once per socket per hub round): straight to the server.
            await self.base_send({"type": "websocket.send", "text": text_data})
            return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def send_error(
        self, code: str, detail: str, client_id: str | None = None, id: int | None = None
    ) -> None:
        payload: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
        if client_id is not None:
            payload["client_id"] = client_id
        if id is not None:
            payload["id"] = id
        await self.send(text_data=_dumps(payload))

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=_dumps(payload))

    async def handle_ping(self, frame: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def handle_hello(self, frame: dict[str, Any]) -> None:
        after = frame.get("after")
        batch_frames = frame.get("batch", False)
        if not isinstance(batch_frames, bool):
            raise FrameRefused("invalid", '"batch" must be true or false.')
        last = await database_sync_to_async(stream_last_seq)(stream_id=self.stream_id)
        if after is not None:
            if isinstance(after, bool) or not isinstance(after, int):
                raise FrameRefused("invalid", '"after" must be a whole number or null.')
            if after < 0 or after > last:
                raise FrameRefused("invalid", f'"after" must be between 0 and {last}.')
        if self.last_seq is not None:
            # A second hello on this socket (to refresh state, say) never repeats what the
            # socket already delivered: no duplicates per socket.
            after = self.last_seq if after is None else max(after, self.last_seq)
        if after is not None and last - after > settings.CONVENE["REPLAY_LIMIT"]:
            raise FrameRefused(
                "resume_too_old", "You missed too much to replay; reload the history over HTTP."
            )
        self.last_seq = None
        self.batch_frames = batch_frames
        await self._replay(after=after, floor=last)
        await self._presence_enter()
        state = await self.stream_state()
        if self.track_presence:
            presence = self.last_presence or {"online": [], "count": 0}
            state["online"], state["online_count"] = presence["online"], presence["count"]
        await self.send_json({"type": "ready", "last_seq": self.last_seq, "state": state})

    # --- ordered delivery -------------------------------------------------------------
    async def _replay(self, *, after: int | None, floor: int = 0, until: int | None = None):
        """Send logged events after `after` (None: the latest page), buffering live ones."""
        self.replay_buffer = []
        try:
            if after is None:
                events = await database_sync_to_async(events_latest)(
                    stream_id=self.stream_id, limit=settings.CONVENE["HISTORY_PAGE"]
                )
            else:
                limit = (until - after) if until else settings.CONVENE["REPLAY_LIMIT"]
                events = await database_sync_to_async(events_after)(
                    stream_id=self.stream_id, after=after, limit=limit
                )
            if self.last_seq is None:
                self.last_seq = floor if after is None else after
                if events and after is None:
                    self.last_seq = events[0].seq - 1
            frames = []
            for event in events:
                if event.seq > self.last_seq:
                    self.last_seq = event.seq
                    frames.append(event_frame(event))
            await self._send_frames(frames)
        finally:
            buffered, self.replay_buffer = self.replay_buffer, None
        for message in sorted(buffered, key=lambda m: m["seq"]):
            await self._deliver(message)

    async def _send_frames(self, frames: list[str]) -> None:
        """Encoded event frames in order: in batches of REPLAY_BATCH if the client said so."""
        if not self.batch_frames:
            for frame in frames:
                await self.send(text_data=frame)
            return
        for start in range(0, len(frames), REPLAY_BATCH):
            chunk = frames[start : start + REPLAY_BATCH]
            if len(chunk) == 1:
                await self.send(text_data=chunk[0])
            else:
                await self.send(text_data=batch_frame(chunk))

    async def _deliver(self, message: dict[str, Any]) -> None:
        if self.replay_buffer is not None:
            self.replay_buffer.append(message)
            return
        if self.last_seq is None:
            return  # no hello yet: the hello's replay will include this event
        seq = message["seq"]
        if seq <= self.last_seq:
            return  # already sent (replayed, or delivered twice)
        if seq == self.last_seq + 1:
            self.last_seq = seq
            await self.send(text_data=message["frame"])
            return
        # A gap the hub could not fill (this socket was mid-replay): read the log.
        await self._replay(after=self.last_seq, until=seq)

    # --- messages from the hub -----------------------------------------------------------
    async def hub_events(self, batch: EventBatch) -> None:
        """A round's events: one shared frame if this socket is level with them."""
        if (
            self.batch_frames
            and len(batch.messages) > 1
            and self.replay_buffer is None
            and self.last_seq == batch.first_seq - 1
        ):
            self.last_seq = batch.last_seq
            await self.send(text_data=batch.frame())
            return
        for message in batch.messages:
            await self._deliver(message)

    async def hub_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "stream.event":
            await self._deliver(message)
        elif kind == "stream.ephemeral":
            if self.last_seq is None:
                return
            if "presence" in message:
                if message["presence"] == self.last_presence:
                    return
                self.last_presence = message["presence"]
            elif message.get("sender") == self.presence_connection:
                return  # one's own typing
            await self.send(text_data=message["frame"])
        elif kind == "member.state":
            if self.last_seq is not None:
                await self.send_json({"type": "state", "state": await self.stream_state()})
        elif kind == "member.session_ended" and self.session_key == message.get("session_key"):
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def idle_check(self, now: float) -> None:
        if now - self.last_frame_at > settings.CONVENE["WS_IDLE_SECONDS"]:
            await self.close(code=CLOSE_IDLE)

    # --- presence ---------------------------------------------------------------------------
    async def _presence_enter(self) -> None:
        if not self.track_presence:
            return
        if self.presence_connection is None:
            self.presence_connection = uuid.uuid4().hex
        member = self.presence_member()
        await database_sync_to_async(presence_enter)(
            stream_id=self.stream_id,
            member_id=self.scope["user"].pk,
            member=member,
            connection=self.presence_connection,
        )
        self.last_presence = presence_with(await hub.presence_known(self.stream_id), member)
        hub.presence_changed(self.stream_id)

    async def presence_refresh(self, presence: dict[str, Any]) -> None:
        """From the hub's heartbeat: tell the client if the online list changed."""
        if self.last_seq is not None and presence != self.last_presence:
            self.last_presence = presence
            await self.send_json({"type": "presence", **presence})

    async def ephemeral_send(self, payload: dict[str, Any]) -> None:
        """Typing and the like: to every other socket of this stream, in every process."""
        await group_publish(
            stream_group(self.stream_id),
            {
                "type": "stream.ephemeral",
                "frame": _dumps(payload),
                "sender": self.presence_connection,
            },
        )


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Sockets to paths that are not streams: accepted only to be closed with 4404."""

    channel_layer_alias = "__hub_only__"

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
