"""access_<thing>() helpers: who may see or do what. Views, consumers and selectors ask here."""

from __future__ import annotations

from community.models import Member, Message, Room


def is_moderator(member: Member | None) -> bool:
    return bool(member and member.is_authenticated and (member.is_moderator or member.is_superuser))


def access_room(member: Member | None, room: Room) -> bool:
    """Every signed-in member may read every room for now (one network, open rooms)."""
    return bool(member and member.is_authenticated and member.is_active)


def access_room_moderation(member: Member | None, room: Room) -> bool:
    return is_moderator(member)


def access_message_change(member: Member | None, message: Message) -> bool:
    if not (member and member.is_authenticated):
        return False
    return message.author_id == member.pk or is_moderator(member)
