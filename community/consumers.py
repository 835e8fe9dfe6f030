"""The room socket: websocket contract v1 on top of realtime's StreamConsumer."""

from __future__ import annotations

import time
import uuid
from typing import Any

from channels.db import database_sync_to_async

from community import selectors, services
from community.errors import Forbidden, NotFound, ServiceError
from community.models import Member, Message
from community.moderation import standing_check
from community.notifications import member_stream_id, notifications_unread_count
from community.payloads import member_payload
from realtime.consumers import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    FrameRefused,
    StreamClosed,
    StreamConsumer,
)

TYPING_INTERVAL = 2.0


def _uuid_text(value: object) -> str | None:
    """The client_id to echo in an error: only a canonical UUID, exactly as sent."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return value if str(uuid.UUID(value)) == value else None
    except ValueError:
        return None


def _author_payload(member_id: int) -> dict[str, Any]:
    # A fresh instance, so the socket's own user object does not keep an organisation.
    return member_payload(Member.objects.select_related("organisation").get(pk=member_id))


def _is_id(value: object) -> bool:
    return _id_echo(value) is not None and value > 0


def _id_echo(value: object) -> int | None:
    """The `id` to echo in an error: any whole number that fits in 64 bits, as sent."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


class RoomConsumer(StreamConsumer):
    last_typing = 0.0

    async def stream_resolve(self) -> int:
        room_id = self.scope["url_route"]["kwargs"]["room_id"]
        if not room_id.isdigit():
            raise StreamClosed(CLOSE_NOT_FOUND)
        try:
            room = await database_sync_to_async(selectors.room_get)(
                member=self.scope["user"], room_id=int(room_id)
            )
        except NotFound:
            raise StreamClosed(CLOSE_NOT_FOUND) from None
        except Forbidden:
            raise StreamClosed(CLOSE_FORBIDDEN) from None
        self.author = await database_sync_to_async(_author_payload)(self.scope["user"].pk)
        # Keep ids, not model instances: per-socket memory is the fan-out budget's limit.
        self.room_id = room.pk
        return room.stream_id

    async def stream_state(self) -> dict[str, Any]:
        return await database_sync_to_async(self._state)()

    def _state(self) -> dict[str, Any]:
        room = selectors.room_get(member=self.scope["user"], room_id=self.room_id)
        return selectors.room_state(room=room, member=self.scope["user"])

    async def _call(self, service, client_id: str | None = None, **kwargs):
        """Run a service on the database thread; a refusal becomes an `error` frame that
        names the send (`client_id`) or the message (`id`) it answers."""
        try:
            return await database_sync_to_async(service)(member=self.scope["user"], **kwargs)
        except ServiceError as error:
            message_id = kwargs.get("message_id")
            echo = _id_echo(message_id)
            raise FrameRefused(error.code, error.detail, client_id, echo) from None

    async def handle_send(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        echo = _uuid_text(client_id)  # echo only what is safe to send back
        if "body" not in frame:
            raise FrameRefused("invalid", 'A send needs a "body".', echo)
        message, _created = await self._call(
            self._post, client_id=echo, body=frame["body"], client_id_raw=client_id
        )
        await self.send_json(
            {
                "type": "ack",
                "client_id": str(message.client_id),
                "id": message.pk,
                "seq": message.seq,
            }
        )

    def _post(self, *, member, body, client_id_raw):
        room = selectors.room_get(member=member, room_id=self.room_id)  # fresh mute state
        return services.message_post(member=member, room=room, body=body, client_id=client_id_raw)

    async def handle_edit(self, frame: dict[str, Any]) -> None:
        message_id = frame.get("id")
        if "body" not in frame:
            echo = _id_echo(message_id)
            raise FrameRefused("invalid", 'An edit needs an "id" and a "body".', id=echo)
        message = await self._call(self._edit, message_id=message_id, body=frame["body"])
        # The message.edited event shows the change to everyone; the ack tells this client
        # its edit is settled (an edit that changes nothing has no event).
        await self.send_json({"type": "ack", "id": message.pk})

    def _edit(self, *, member, message_id, body):
        self._own_room_message(message_id)
        return services.message_edit(member=member, message_id=message_id, body=body)

    async def handle_delete(self, frame: dict[str, Any]) -> None:
        message = await self._call(self._delete, message_id=frame.get("id"))
        await self.send_json({"type": "ack", "id": message.pk})

    def _delete(self, *, member, message_id):
        self._own_room_message(message_id)
        return services.message_delete(member=member, message_id=message_id)

    def _own_room_message(self, message_id: object) -> None:
        """Edits and deletes on this socket only reach this room's messages."""
        if (
            _is_id(message_id)
            and not Message.objects.filter(pk=message_id, room_id=self.room_id).exists()
        ):
            raise NotFound("No such message.")

    def presence_member(self) -> dict[str, Any]:
        return self.author

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        # Coalesced: at most one relay per socket per TYPING_INTERVAL (clients send every 3 s).
        now = time.monotonic()
        if now - self.last_typing < TYPING_INTERVAL:
            return
        self.last_typing = now
        # Someone who may not post here is not shown typing either.
        await self._call(self._typing_allowed)
        await self.ephemeral_send({"type": "typing", "member": self.author})

    def _typing_allowed(self, *, member) -> None:
        room = selectors.room_get(member=member, room_id=self.room_id)  # fresh mute state
        standing_check(member=member, room=room)

    async def handle_read(self, frame: dict[str, Any]) -> None:
        """The client has shown everything up to `seq`: move the unread marker."""
        seq = frame.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise FrameRefused("invalid", '"seq" must be a whole number.')
        await self._call(services.room_read_mark, room_id=self.room_id, seq=seq)


class MeConsumer(StreamConsumer):
    """/ws/me/: the member's own notifications."""

    track_presence = False

    async def stream_resolve(self) -> int:
        return await database_sync_to_async(member_stream_id)(member_id=self.scope["user"].pk)

    async def stream_state(self) -> dict[str, Any]:
        count = await database_sync_to_async(notifications_unread_count)(member=self.scope["user"])
        return {"unread_notifications": count}
