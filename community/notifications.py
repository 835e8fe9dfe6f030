"""Notifications: stored per member and pushed live on the member's own stream (/ws/me/)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from community.models import Member, MemberStream, Notification
from community.payloads import iso_utc
from realtime.events import event_append, stream_create, stream_label


def notification_payload(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "url": notification.url,
        "data": notification.data,
        "created": iso_utc(notification.created),
        "read": notification.read is not None,
    }


def member_stream_id(*, member_id: int) -> int:
    """The member's own stream, created the first time it is needed."""
    existing = MemberStream.objects.filter(member_id=member_id).values_list("stream_id", flat=True)
    stream_id = existing.first()
    if stream_id is not None:
        return stream_id
    try:
        with transaction.atomic():
            stream = stream_create(kind="member")
            stream_label(stream_id=stream.pk, label=f"member:{member_id}")
            MemberStream.objects.create(member_id=member_id, stream=stream)
            return stream.pk
    except IntegrityError:  # created concurrently by another request
        return MemberStream.objects.values_list("stream_id", flat=True).get(member_id=member_id)


@transaction.atomic
def notification_send(
    *, member_id: int, kind: str, title: str, url: str, data: dict | None = None
) -> Notification:
    """Store a notification and push `notification.created` to the member after commit.

    `url` must be a path on this site; `title` may hold user text (shown escaped).
    """
    if not url.startswith("/") or url.startswith("//"):
        raise ValueError("notification urls are paths on this site")
    notification = Notification.objects.create(
        member_id=member_id, kind=kind[:50], title=title[:300], url=url[:500], data=data or {}
    )
    event_append(
        stream_id=member_stream_id(member_id=member_id),
        kind="notification.created",
        data=notification_payload(notification),
    )
    return notification


def notifications_recent(*, member: Member, limit: int = 50) -> QuerySet[Notification]:
    return Notification.objects.filter(member=member).order_by("-id")[:limit]


def notifications_unread_count(*, member: Member) -> int:
    return Notification.objects.filter(member=member, read__isnull=True).count()


@transaction.atomic
def notifications_mark_read(*, member: Member, notification_id: int | None = None) -> int:
    unread = Notification.objects.filter(member=member, read__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read=timezone.now())
