"""Reads. Every selector that takes a member checks access itself."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from community.errors import Forbidden, NotFound
from community.models import Member, MemberMute, Message, Organisation, Room, RoomReadState
from community.moderation import member_mute_active, member_mutes_in_force
from community.payloads import iso_utc, room_payload
from community.permissions import access_room, access_room_moderation


def rooms_visible(*, member: Member) -> QuerySet[Room]:
    """Rooms the member can see, each with `last_read_seq` (the member's unread marker)."""
    if not (member and member.is_authenticated):
        return Room.objects.none()
    read = RoomReadState.objects.filter(member=member, room=OuterRef("pk")).values("last_read_seq")
    return (
        Room.objects.select_related("sector", "challenge", "stream")
        .annotate(last_read_seq=Coalesce(Subquery(read[:1]), Value(0)))
        .order_by("kind", "name")
    )


def room_last_read_seq(*, member: Member, room: Room) -> int | None:
    """The member's read marker in the room; None if they have never opened it."""
    state = RoomReadState.objects.filter(member=member, room=room).values_list(
        "last_read_seq", flat=True
    )
    return state.first()


def room_get(*, member: Member, room_id: object) -> Room:
    if isinstance(room_id, bool) or not isinstance(room_id, int):
        raise NotFound("No such room.")
    try:
        room = Room.objects.select_related("sector", "challenge", "stream").get(pk=room_id)
    except Room.DoesNotExist:
        raise NotFound("No such room.") from None
    if not access_room(member, room):
        raise Forbidden("You cannot see this room.")
    return room


def room_messages(
    *,
    room: Room,
    after: int | None = None,
    before: int | None = None,
    limit: int | None = None,
) -> list[Message]:
    """Keyset page of live messages by seq, oldest first.

    With neither bound: the latest page. `before` pages backwards, `after` forwards.
    """
    limit = limit or settings.CONVENE["HISTORY_PAGE"]
    messages = Message.objects.filter(room=room, deleted__isnull=True).select_related(
        "author__organisation"
    )
    if after is not None:
        messages = messages.filter(seq__gt=after)
        if before is not None:
            messages = messages.filter(seq__lt=before)
        return list(messages.order_by("seq")[:limit])
    if before is not None:
        messages = messages.filter(seq__lt=before)
    return list(reversed(messages.order_by("-seq")[:limit]))


def room_state(*, room: Room, member: Member) -> dict[str, Any]:
    """What a member's client needs to know to enable or disable its input."""
    mute = member_mute_active(member=member, room=room)
    state = room_payload(room)
    state.update(
        you_muted=mute is not None,
        you_muted_until=iso_utc(mute.until) if mute else None,
        you_muted_reason=mute.reason if mute else "",
        can_moderate=access_room_moderation(member, room),
        last_seq=room.stream.last_seq,
    )
    # Moderators may still post in a muted room (to explain, or to close a discussion).
    state["can_post"] = state["can_moderate"] or not (state["muted"] or state["you_muted"])
    return state


def organisation_get(*, slug: str) -> Organisation:
    organisation = Organisation.objects.select_related("sector").filter(slug=slug).first()
    if organisation is None:
        raise NotFound("No such organisation.")
    return organisation


def member_get(*, member_id: int) -> Member:
    member = (
        Member.objects.select_related("organisation__sector")
        .filter(pk=member_id, is_active=True)
        .first()
    )
    if member is None:
        raise NotFound("No such member.")
    return member


def member_mutes_active(*, member_id: int) -> QuerySet[MemberMute]:
    """The mutes that stop a member posting now, site-wide first, then by room."""
    return (
        member_mutes_in_force(member_id=member_id)
        .select_related("room", "created_by")
        .order_by(F("room_id").asc(nulls_first=True), "-created")
    )
