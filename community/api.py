"""Rooms, messages and moderation over JSON. Thin: parse, call a selector or service."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from community import selectors, services
from community.errors import ServiceError
from community.payloads import message_payload, room_payload

router = Router(tags=["rooms"])


class ErrorOut(Schema):
    code: str
    detail: str
    fields: dict[str, str] | None = None


class AuthorOut(Schema):
    id: int
    name: str
    organisation: str | None


class MessageOut(Schema):
    id: int
    seq: int
    client_id: str
    author: AuthorOut
    body: str
    html: str
    created: str
    edited: str | None


class MessageList(Schema):
    items: list[MessageOut]
    next: str | None


class RoomOut(Schema):
    id: int
    name: str
    kind: str
    topic: str
    muted: bool
    muted_reason: str
    muted_until: str | None
    slow_mode_seconds: int


class RoomList(Schema):
    items: list[RoomOut]
    next: str | None


class MessageIn(Schema):
    client_id: str = Field(max_length=64)
    body: str


class RoomMuteIn(Schema):
    reason: str = Field("", max_length=300)
    until: datetime | None = None


class MemberMuteIn(Schema):
    until: datetime | None = None
    scope: str = Field("site", pattern="^(site|room)$")
    room_id: int | None = None
    reason: str = Field("", max_length=300)


class MemberUnmuteIn(Schema):
    # "all" lifts every mute the member has; "site" only site-wide ones; "room" one room's.
    scope: str = Field("all", pattern="^(all|site|room)$")
    room_id: int | None = None


class Done(Schema):
    ok: bool


class Lifted(Schema):
    ok: bool
    lifted: int


ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    429: ErrorOut,
}


@router.get("/rooms/", response={200: RoomList, **ERRORS})
def rooms_list(request: HttpRequest):
    rooms = selectors.rooms_visible(member=request.auth)
    return {"items": [room_payload(room) for room in rooms], "next": None}


def _cursor_parse(cursor: str) -> tuple[str, int]:
    """Cursors are `before.N` or `after.N` (opaque to clients: pass back `next`)."""
    direction, _, seq = cursor.partition(".")
    if direction not in {"before", "after"} or not seq.isdigit():
        raise ServiceError("invalid", "Unknown cursor.", fields={"cursor": "Pass back `next`."})
    return direction, int(seq)


@router.get("/rooms/{room_id}/messages/", response={200: MessageList, **ERRORS})
def room_messages(
    request: HttpRequest,
    room_id: int,
    after: int | None = Query(None, ge=0),
    before: int | None = Query(None, ge=0),
    cursor: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=200),
):
    if cursor:
        if after is not None or before is not None:
            raise ServiceError(
                "invalid",
                "Pass either a cursor or after/before, not both.",
                fields={"cursor": "A cursor already says where the page starts."},
            )
        direction, seq = _cursor_parse(cursor)
        after, before = (seq, None) if direction == "after" else (None, seq)
    room = selectors.room_get(member=request.auth, room_id=room_id)
    page = selectors.room_messages(room=room, after=after, before=before, limit=limit)
    # Forward pages continue after the last item; backward pages before the first.
    next_cursor = None
    if len(page) == limit:
        next_cursor = f"after.{page[-1].seq}" if after is not None else f"before.{page[0].seq}"
    return {"items": [message_payload(message) for message in page], "next": next_cursor}


@router.post("/rooms/{room_id}/messages/", response={201: MessageOut, 200: MessageOut, **ERRORS})
def room_message_post(request: HttpRequest, room_id: int, payload: MessageIn):
    room = selectors.room_get(member=request.auth, room_id=room_id)
    message, created = services.message_post(
        member=request.auth, room=room, body=payload.body, client_id=payload.client_id
    )
    return Status(201 if created else 200, message_payload(message))


@router.post("/rooms/{room_id}/mute/", response={200: RoomOut, **ERRORS})
def room_mute(request: HttpRequest, room_id: int, payload: RoomMuteIn):
    room = services.room_mute(
        moderator=request.auth, room_id=room_id, reason=payload.reason, until=payload.until
    )
    return room_payload(room)


@router.post("/rooms/{room_id}/unmute/", response={200: RoomOut, **ERRORS})
def room_unmute(request: HttpRequest, room_id: int):
    return room_payload(services.room_unmute(moderator=request.auth, room_id=room_id))


@router.post("/members/{member_id}/mute/", response={200: Done, **ERRORS})
def member_mute(request: HttpRequest, member_id: int, payload: MemberMuteIn):
    room_id = payload.room_id if payload.scope == "room" else None
    if payload.scope == "room" and room_id is None:
        raise ServiceError(
            "invalid", "A room mute needs a room_id.", fields={"room_id": "Required."}
        )
    services.member_mute(
        moderator=request.auth,
        member_id=member_id,
        room_id=room_id,
        until=payload.until,
        reason=payload.reason,
    )
    return {"ok": True}


@router.post("/members/{member_id}/unmute/", response={200: Lifted, **ERRORS})
def member_unmute(request: HttpRequest, member_id: int, payload: MemberUnmuteIn):
    lifted = services.member_unmute(
        moderator=request.auth,
        member_id=member_id,
        scope=payload.scope,
        room_id=payload.room_id,
    )
    return {"ok": True, "lifted": lifted}
