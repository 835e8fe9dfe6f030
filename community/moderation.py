"""The one posting policy. Every write of user text asks `can_post` first.

Websocket sends, HTML forms, htmx, the JSON API, edits and Q&A answers all come
through here, so a muted member cannot post by any path.
"""

from __future__ import annotations

import logging
import unicodedata

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from community.errors import PostingRefused
from community.models import Member, MemberMute, Room
from community.permissions import is_moderator

logger = logging.getLogger(__name__)

# Letters that render as blank space (Hangul and Braille fillers and the like).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")
# Format, control and combining characters show nothing on their own.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp", "Cn"})
# Bidirectional overrides and isolates: they can make text read as something else.
_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)


def text_is_blank(text: str) -> bool:
    """True when nothing visible would be shown: whitespace, zero-width, fillers, marks."""
    return all(
        char.isspace()
        or char in _BLANK_LETTERS
        or unicodedata.category(char) in _INVISIBLE_CATEGORIES
        for char in text
    )


def text_has_surrogates(text: str) -> bool:
    """Lone UTF-16 surrogates (valid JSON escapes, not characters) cannot be stored or sent."""
    return any("\ud800" <= char <= "\udfff" for char in text)


def text_has_controls(text: str) -> bool:
    """Control characters or bidi overrides: they can make a line read as something else."""
    return any(char in _BIDI_CONTROLS or unicodedata.category(char) == "Cc" for char in text)


def name_check(*, text: object, what: str, max_chars: int) -> str:
    """Names (people, organisations): visible, no bidi tricks, no control characters."""
    text = text_check(text=text, max_chars=max_chars, what=what).strip()
    if text_has_controls(text):
        raise PostingRefused("invalid", f"{what} contains control characters.")
    return " ".join(text.split())


def member_mutes_in_force(*, member_id: int) -> QuerySet[MemberMute]:
    """A member's mutes that are neither lifted nor over, anywhere."""
    return MemberMute.objects.filter(member_id=member_id, lifted__isnull=True).filter(
        Q(until__isnull=True) | Q(until__gt=timezone.now())
    )


def member_mute_active(*, member: Member, room: Room | None = None) -> MemberMute | None:
    """The mute that stops this member posting here now (site-wide or this room), if any."""
    scope = Q(room__isnull=True) if room is None else Q(room__isnull=True) | Q(room=room)
    return member_mutes_in_force(member_id=member.pk).filter(scope).order_by("-created").first()


def text_check(*, text: object, max_chars: int, what: str = "Message") -> str:
    """Type, emptiness and length of one piece of user text; returns it unchanged."""
    if not isinstance(text, str):
        raise PostingRefused("invalid", f"{what} must be text.")
    if len(text) > max_chars:
        raise PostingRefused(
            "too_long", f"{what} is {len(text):,} characters; the limit is {max_chars:,}."
        )
    if "\x00" in text or text_has_surrogates(text):
        raise PostingRefused("invalid", f"{what} contains characters that are not text.")
    if text_is_blank(text):
        raise PostingRefused("empty", f"{what} is empty.")
    return text


def standing_check(
    *, member: Member | None, room: Room | None = None, thread_locked: bool = False
) -> None:
    """The part of the posting policy about who and where, not what: signed in, not muted,
    room not read-only, thread not locked. Typing indicators ask this too."""
    if member is None or not member.is_authenticated or not member.is_active:
        raise PostingRefused("not_signed_in", "Sign in to post.")
    moderator = is_moderator(member)
    mute = member_mute_active(member=member, room=room)
    if mute is not None and not moderator:
        until = f" until {timezone.localtime(mute.until):%d %b %Y %H:%M}" if mute.until else ""
        reason = f" ({mute.reason})" if mute.reason else ""
        raise PostingRefused("muted", f"A moderator has muted you{until}{reason}.")
    if room is not None and room.muted_now() and not moderator:
        reason = f": {room.muted_reason}" if room.muted_reason else "."
        raise PostingRefused("room_muted", f"This room is read-only{reason}")
    if thread_locked and not moderator:
        raise PostingRefused("thread_locked", "This thread is locked.")


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
    standing_check(member=member, room=room, thread_locked=thread_locked)
    moderator = is_moderator(member)
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
    if not _cache_call(cache.add, key, 1, timeout=room.slow_mode_seconds, fallback=True):
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
    _cache_call(cache.add, key, 0, timeout=window * 2, fallback=False)
    try:
        used = _cache_call(cache.incr, key, fallback=0)
    except ValueError:  # expired between add and incr
        _cache_call(cache.set, key, 1, timeout=window * 2, fallback=None)
        used = 1
    if used > limit:
        raise PostingRefused(
            "rate_limited", f"You are posting too fast; wait {window} seconds and try again."
        )


def _cache_call(function, *args, fallback, **kwargs):
    """Rate limits fail open: a cache (Redis) outage must not stop members posting."""
    try:
        return function(*args, **kwargs)
    except ValueError:
        raise
    except Exception:
        logger.warning("cache unavailable; posting limits skipped", exc_info=True)
        return fallback
