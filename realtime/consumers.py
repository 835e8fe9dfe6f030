"""The base stream consumer: hello/resume, ready, ordered delivery, ping, close codes.

It knows nothing of chat or Q&A. Subclasses say which stream a socket is for,
what state `ready` carries, and how to handle their own frame types
(`handle_<type>` coroutines).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime.events import event_frame, events_after, events_latest, stream_last_seq
from realtime.groups import member_group, stream_group, stream_presence_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_TOO_MANY = 4429


class StreamClosed(Exception):
    """Raised by `stream_resolve` to refuse a socket with a close code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class FrameRefused(Exception):
    """Raised by a handler to answer with an `error` frame; the socket stays open."""

    def __init__(self, code: str, detail: str, client_id: str | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


class StreamConsumer(AsyncWebsocketConsumer):
    stream_id: int | None = None
    # None until the client's hello has been answered; afterwards the highest seq sent.
    last_seq: int | None = None

    # --- hooks for subclasses -------------------------------------------------
    async def stream_resolve(self) -> int:
        """Return the stream id for this socket or raise StreamClosed."""
        raise NotImplementedError

    async def stream_state(self) -> dict[str, Any]:
        """The current state sent with `ready` (room muted, own mute, ...)."""
        return {}

    # --- connection -------------------------------------------------------------
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            self.stream_id = await self.stream_resolve()
        except StreamClosed as closed:
            await self._refuse(closed.code)
            return
        self.groups_joined = [
            stream_group(self.stream_id),
            stream_presence_group(self.stream_id),
            member_group(user.pk),
        ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def _refuse(self, code: int) -> None:
        # Accept first: a close before accept becomes an HTTP 403 and the code is lost.
        self.groups_joined = []
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- frames from the client ---------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
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
            await self.send_error(refused.code, refused.detail, refused.client_id)

    async def send_error(self, code: str, detail: str, client_id: str | None = None) -> None:
        payload: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
        if client_id is not None:
            payload["client_id"] = client_id
        await self.send(text_data=_dumps(payload))

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=_dumps(payload))

    async def handle_ping(self, frame: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def handle_hello(self, frame: dict[str, Any]) -> None:
        after = frame.get("after")
        last = await database_sync_to_async(stream_last_seq)(stream_id=self.stream_id)
        limit = settings.CONVENE["REPLAY_LIMIT"]
        if after is None:
            events = await database_sync_to_async(events_latest)(
                stream_id=self.stream_id, limit=settings.CONVENE["HISTORY_PAGE"]
            )
        else:
            if isinstance(after, bool) or not isinstance(after, int):
                raise FrameRefused("invalid", '"after" must be a whole number or null.')
            if after < 0 or after > last:
                raise FrameRefused("invalid", f'"after" must be between 0 and {last}.')
            if last - after > limit:
                raise FrameRefused(
                    "resume_too_old",
                    "You missed too much to replay; reload the history over HTTP.",
                )
            events = await database_sync_to_async(events_after)(
                stream_id=self.stream_id, after=after, limit=limit
            )
        for event in events:
            await self.send(text_data=event_frame(event))
        self.last_seq = events[-1].seq if events else (last if after is None else after)
        await self.send_json(
            {"type": "ready", "last_seq": self.last_seq, "state": await self.stream_state()}
        )

    # --- messages from the channel layer ------------------------------------------
    async def stream_event(self, message: dict[str, Any]) -> None:
        if self.last_seq is None:
            return  # no hello yet: the hello's replay will include this event
        seq = message["seq"]
        if seq <= self.last_seq:
            return  # already sent (replayed, or delivered twice)
        if seq > self.last_seq + 1:
            # A gap: an earlier fan-out was dropped or is still in flight. The log has it.
            missing = await database_sync_to_async(events_after)(
                stream_id=self.stream_id, after=self.last_seq, limit=seq - self.last_seq
            )
            for event in missing:
                if event.seq > self.last_seq:
                    await self.send(text_data=event_frame(event))
                    self.last_seq = event.seq
            return
        await self.send(text_data=message["frame"])
        self.last_seq = seq

    async def stream_ephemeral(self, message: dict[str, Any]) -> None:
        if self.last_seq is not None:
            await self.send(text_data=message["frame"])

    async def member_state(self, message: dict[str, Any]) -> None:
        """The member's own standing changed (muted, unmuted): resend state."""
        if self.last_seq is not None:
            await self.send_json({"type": "state", "state": await self.stream_state()})

    async def member_session_ended(self, message: dict[str, Any]) -> None:
        session = self.scope.get("session")
        if session is not None and session.session_key == message.get("session_key"):
            await self.close(code=CLOSE_UNAUTHENTICATED)


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Sockets to paths that are not streams: accepted only to be closed with 4404."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
