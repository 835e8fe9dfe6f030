"""The JSON shapes of community objects, shared by events, the API and pages' data attributes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from community.models import Member, Message, Room


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def member_payload(member: Member) -> dict[str, Any]:
    organisation = member.organisation
    return {
        "id": member.pk,
        "name": member.name,
        "organisation": organisation.name if organisation else None,
    }


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "client_id": str(message.client_id),
        "author": member_payload(message.author),
        "body": message.body,
        "html": message.html,
        "created": iso_utc(message.created),
        "edited": iso_utc(message.edited),
    }


def room_payload(room: Room) -> dict[str, Any]:
    return {
        "id": room.pk,
        "name": room.name,
        "kind": room.kind,
        "topic": room.topic,
        "muted": room.muted_now(),
        "muted_reason": room.muted_reason if room.muted_now() else "",
        "muted_until": iso_utc(room.muted_until) if room.muted_now() else None,
        "slow_mode_seconds": room.slow_mode_seconds,
    }
