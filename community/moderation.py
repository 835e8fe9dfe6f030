"""The one posting policy. Every write of user text asks `can_post` first.

Websocket sends, HTML forms, htmx, the JSON API, edits and Q&A answers all come
through here, so a muted member cannot post by any path.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from community.errors import PostingRefused
from community.models import Member, MemberMute, Room
from community.permissions import is_moderator

# Characters that render as nothing; a body made only of these is empty.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


def text_is_blank(text: str) -> bool:
    return not text.strip().strip(_INVISIBLE).strip()


def member_mute_active(*, member: Member, room: Room | None = None) -> MemberMute | None:
    """The mute that stops this member posting here now (site-wide or this room), if any."""
    scope = Q(room__isnull=True) if room is None else Q(room__isnull=True) | Q(room=room)
    now = timezone.now()
    return (
        MemberMute.objects.filter(member=member, lifted__isnull=True)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .filter(scope)
        .order_by("-created")
        .first()
    )


def text_check(*, text: object, max_chars: int, what: str = "Message") -> str:
    """Type, emptiness and length of one piece of user text; returns it unchanged."""
    if not isinstance(text, str):
        raise PostingRefused("invalid", f"{what} must be text.")
    if text_is_blank(text):
        raise PostingRefused("empty", f"{what} is empty.")
    if len(text) > max_chars:
        raise PostingRefused(
            "too_long", f"{what} is {len(text):,} characters; the limit is {max_chars:,}."
        )
    if "\x00" in text:
        raise PostingRefused("invalid", f"{what} contains a NUL character.")
    return text


def can_post(
    *,
    member: Member | None,
    body: object,
    room: Room | None = None,
    thread_locked: bool = False,
    max_chars: int | None = None,
    count: bool = True,
    what: str = "Message",
) -> str:
    """Decide whether `member` may post `body` (to `room`, or a Q&A thread).

    Returns the body when allowed; raises PostingRefused with a stable code
    otherwise. `count=False` checks without using up rate-limit or slow-mode
    allowance (edits, previews).
    """
    if member is None or not member.is_authenticated or not member.is_active:
        raise PostingRefused("not_signed_in", "Sign in to post.")
    moderator = is_moderator(member)
    mute = member_mute_active(member=member, room=room)
    if mute is not None and not moderator:
        until = f" until {timezone.localtime(mute.until):%d %b %Y %H:%M}" if mute.until else ""
        raise PostingRefused("muted", f"A moderator has muted you{until}.")
    if room is not None and room.muted_now() and not moderator:
        reason = f": {room.muted_reason}" if room.muted_reason else "."
        raise PostingRefused("room_muted", f"This room is read-only{reason}")
    if thread_locked and not moderator:
        raise PostingRefused("thread_locked", "This thread is locked.")
    body = text_check(
        text=body, max_chars=max_chars or settings.CONVENE["MESSAGE_MAX_CHARS"], what=what
    )
    if count and not moderator:
        _slow_mode_check(member=member, room=room)
        _rate_limit_check(member=member)
    return body


def _slow_mode_check(*, member: Member, room: Room | None) -> None:
    if room is None or not room.slow_mode_seconds:
        return
    key = f"slow:{room.pk}:{member.pk}"
    if not cache.add(key, 1, timeout=room.slow_mode_seconds):
        raise PostingRefused(
            "slow_mode",
            f"Slow mode is on: one message every {room.slow_mode_seconds} seconds.",
        )


def _rate_limit_check(*, member: Member) -> None:
    """Fixed-window counter on the shared cache, so every server process agrees."""
    limit = settings.CONVENE["RATE_LIMIT_POSTS"]
    window = settings.CONVENE["RATE_LIMIT_WINDOW_SECONDS"]
    bucket = int(timezone.now().timestamp() // window)
    key = f"rate:post:{member.pk}:{bucket}"
    cache.add(key, 0, timeout=window * 2)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window * 2)
        used = 1
    if used > limit:
        raise PostingRefused(
            "rate_limited", f"You are posting too fast; wait {window} seconds and try again."
        )
