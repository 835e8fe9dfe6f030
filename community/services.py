"""Writes. Each service validates (via the posting policy), writes in one transaction,
then notifies through the event log after commit."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from community.errors import Forbidden, NotFound, ServiceError
from community.markup import render_markdown
from community.models import (
    ApiToken,
    Challenge,
    Member,
    MemberMute,
    Message,
    ModerationLog,
    Organisation,
    Room,
    RoomReadState,
    Sector,
)
from community.moderation import can_post, member_mutes_in_force, text_check, text_has_controls
from community.notifications import notification_send
from community.payloads import iso_utc, message_payload, room_payload
from community.permissions import access_message_change, access_room, is_moderator
from realtime.events import (
    event_append,
    event_store,
    member_notify,
    stream_create,
    stream_label,
    stream_seq_next,
)


def unique_slug(*, model, text: str, max_length: int = 200) -> str:
    base = slugify(text)[: max_length - 8] or "item"
    slug, n = base, 2
    while model.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- rooms ---------------------------------------------------------------------


@transaction.atomic
def room_create(
    *,
    name: str,
    kind: str,
    sector: Sector | None = None,
    challenge: Challenge | None = None,
    topic: str = "",
    credit: str = "",
) -> Room:
    slug = unique_slug(model=Room, text=name)
    stream = stream_create(kind="room")
    room = Room.objects.create(
        name=name,
        slug=slug,
        kind=kind,
        sector=sector,
        challenge=challenge,
        topic=topic,
        credit=credit,
        stream=stream,
    )
    stream_label(stream_id=stream.pk, label=f"room:{room.pk}")
    return room


def _moderator_required(member: Member) -> None:
    if not is_moderator(member):
        raise Forbidden("Only moderators can do that.")


def _room_state_publish(room: Room) -> None:
    event_append(stream_id=room.stream_id, kind="room.updated", data=room_payload(room))


@transaction.atomic
def room_mute(
    *, moderator: Member, room_id: int, reason: str = "", until: datetime | None = None
) -> Room:
    _moderator_required(moderator)
    reason = _reason_check(reason)
    until = _until_check(until)
    room = _room_locked(room_id)
    room.is_muted, room.muted_reason, room.muted_until = True, reason, until
    room.save(update_fields=["is_muted", "muted_reason", "muted_until"])
    ModerationLog.objects.create(
        actor=moderator, action="room.mute", target=f"room:{room.pk}", reason=reason
    )
    _room_state_publish(room)
    return room


@transaction.atomic
def room_unmute(*, moderator: Member, room_id: int) -> Room:
    _moderator_required(moderator)
    room = _room_locked(room_id)
    room.is_muted, room.muted_reason, room.muted_until = False, "", None
    room.save(update_fields=["is_muted", "muted_reason", "muted_until"])
    ModerationLog.objects.create(actor=moderator, action="room.unmute", target=f"room:{room.pk}")
    _room_state_publish(room)
    return room


def _room_locked(room_id: object) -> Room:
    if isinstance(room_id, bool) or not isinstance(room_id, int):
        raise NotFound("No such room.")
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise NotFound("No such room.")
    return room


def _until_check(until: datetime | None) -> datetime | None:
    """Mute end times: naive times are taken as UTC (as the API documents); past ones refused."""
    if until is None:
        return None
    if timezone.is_naive(until):
        until = timezone.make_aware(until, UTC)
    if until <= timezone.now():
        raise ServiceError("invalid", "The end of a mute must be in the future.")
    return until


def _reason_check(reason: object) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > 300:
        raise ServiceError("invalid", "A reason is text of at most 300 characters.")
    if text_has_controls(reason):
        raise ServiceError("invalid", "A reason cannot contain control or bidi characters.")
    return reason.strip()


# --- member mutes --------------------------------------------------------------------


@transaction.atomic
def member_mute(
    *,
    moderator: Member,
    member_id: int,
    room_id: int | None = None,
    until: datetime | None = None,
    reason: str = "",
) -> MemberMute:
    _moderator_required(moderator)
    reason = _reason_check(reason)
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        raise NotFound("No such member.")
    if member.pk == moderator.pk:
        raise ServiceError("invalid", "You cannot mute yourself.")
    room = None
    if room_id is not None:
        room = Room.objects.filter(pk=room_id).first()
        if room is None:
            raise NotFound("No such room.")
    until = _until_check(until)
    mute = MemberMute.objects.create(
        member=member, room=room, until=until, reason=reason, created_by=moderator
    )
    ModerationLog.objects.create(
        actor=moderator,
        action="member.mute",
        target=f"member:{member.pk}" + (f" room:{room.pk}" if room else ""),
        reason=reason,
    )
    member_notify(member_id=member.pk, message={"type": "member.state"})
    return mute


@transaction.atomic
def member_unmute(
    *,
    moderator: Member,
    member_id: int,
    scope: str = "all",
    room_id: int | None = None,
) -> int:
    """Lift a member's mutes: all of them, only site-wide ones, or one room's. Returns how
    many were lifted (0 is not an error: the member may already be free to post)."""
    _moderator_required(moderator)
    if scope not in ("all", "site", "room"):
        raise ServiceError("invalid", 'scope is "all", "site" or "room".')
    if scope == "room" and room_id is None:
        raise ServiceError(
            "invalid", "A room unmute needs a room_id.", fields={"room_id": "Required."}
        )
    if not Member.objects.filter(pk=member_id).exists():
        raise NotFound("No such member.")
    mutes, target = member_mutes_in_force(member_id=member_id), f"member:{member_id}"
    if scope == "site":
        mutes, target = mutes.filter(room__isnull=True), f"{target} site"
    elif scope == "room":
        if not Room.objects.filter(pk=room_id).exists():
            raise NotFound("No such room.")
        mutes, target = mutes.filter(room_id=room_id), f"{target} room:{room_id}"
    lifted = mutes.update(lifted=timezone.now())
    ModerationLog.objects.create(actor=moderator, action="member.unmute", target=target)
    member_notify(member_id=member_id, message={"type": "member.state"})
    return lifted


# --- messages ------------------------------------------------------------------------


def client_id_parse(value: object) -> uuid.UUID:
    """A client_id in the one form the server echoes (lowercase, hyphenated), so a client
    that matches acks and events to its outbox by string always finds its own."""
    if not isinstance(value, str):
        raise ServiceError("invalid", "client_id must be a UUID string.")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value:
        raise ServiceError(
            "invalid",
            "client_id must be a UUID in lowercase hyphenated form, "
            "e.g. 6f1c1f5e-6a53-4e0e-9c59-6a4a3f1d2f10.",
        )
    return parsed


def message_post(
    *, member: Member, room: Room, body: object, client_id: object
) -> tuple[Message, bool]:
    """Post a message. Returns (message, created); a repeated client_id returns the stored one."""
    cid = client_id_parse(client_id)
    if not access_room(member, room):
        raise Forbidden("You cannot post in this room.")
    existing = _message_by_client_id(member=member, client_id=cid)
    if existing is not None:
        return _same_room(existing, room), False
    body = can_post(member=member, room=room, body=body)
    try:
        with transaction.atomic():
            message, named = _message_store(room=room, author=member, body=body, client_id=cid)
            _mentions_notify(message=message, members=named)
            return message, True
    except IntegrityError:
        # The same client_id raced in on another connection: that one won.
        existing = _message_by_client_id(member=member, client_id=cid)
        if existing is None:
            raise
        return _same_room(existing, room), False


def _message_by_client_id(*, member: Member, client_id: uuid.UUID) -> Message | None:
    # At most one row (unique per author); a slice, not first(), so no ORDER BY is built.
    found = Message.objects.select_related("author__organisation").filter(
        author=member, client_id=client_id
    )[:1]
    return next(iter(found), None)


def _same_room(message: Message, room: Room) -> Message:
    if message.room_id != room.pk:
        raise ServiceError("invalid", "That client_id was already used in another room.")
    if message.deleted is not None:
        raise NotFound("That message was sent and then deleted.")
    return message


def _message_store(
    *,
    room: Room,
    author: Member,
    body: str,
    client_id: uuid.UUID,
    created: datetime | None = None,
) -> tuple[Message, list[Member]]:
    """Store a message and its message.created event in the caller's transaction; returns
    it with the members it mentions."""
    html, named = _text_render(body=body)
    # The seq first, so the message row is written once with it (under the stream's lock).
    seq = stream_seq_next(stream_id=room.stream_id)
    message = Message.objects.create(
        room=room,
        author=author,
        client_id=client_id,
        body=body,
        html=html,
        seq=seq,
        created=created or timezone.now(),
    )
    event_store(
        stream_id=room.stream_id,
        seq=seq,
        kind="message.created",
        data=_message_created_data(message),
    )
    return message, named


MENTIONS_MAX = 20


def _text_render(*, body: str) -> tuple[str, list[Member]]:
    """A message's HTML with its mentions resolved: (html, the members it names).

    `@**Display Name**` names a member (Zulip's syntax, since names have spaces). Names are
    not unique, so a name shared by several members names nobody unless the mention
    carries the member's id too: `@**Display Name|42**`. Only mentions that name someone
    are shown as mentions.
    """
    named: dict[tuple[str, int | None], Member] = {}

    def resolve(found: list[tuple[str, int | None]]) -> dict[tuple[str, int | None], str]:
        for name, member_id in found[:MENTIONS_MAX]:
            matches = Member.objects.filter(display_name__iexact=name, is_active=True)
            if member_id is not None:
                matches = matches.filter(pk=member_id)
            candidates = list(matches[:2])
            if len(candidates) == 1:
                named[(name, member_id)] = candidates[0]
        return {key: member.name for key, member in named.items()}

    html = render_markdown(body, mentions=resolve)
    return html, list({member.pk: member for member in named.values()}.values())


def _mentions_notify(*, message: Message, members: list[Member]) -> list[int]:
    """Tell each member a new message names (not its author)."""
    mentioned = [member.pk for member in members if member.pk != message.author_id]
    for member_id in mentioned:
        notification_send(
            member_id=member_id,
            kind="mention",
            title=f"{message.author.name} mentioned you in {message.room.name}",
            url=f"{message.room.get_absolute_url()}#message-{message.pk}",
            data={"room_id": message.room_id, "message_id": message.pk},
        )
    return mentioned


def _message_created_data(message: Message) -> dict:
    data = message_payload(message)
    data.pop("seq")  # the event's own seq is the message's seq
    return data


@transaction.atomic
def message_import(
    *, room: Room, author: Member, body: str, created: datetime, client_id: uuid.UUID
) -> Message:
    """Replay archived chat into a room's history (demo data); bypasses rate limits only."""
    text_check(text=body, max_chars=4000)
    existing = _message_by_client_id(member=author, client_id=client_id)
    if existing is not None:
        return existing
    return _message_store(
        room=room, author=author, body=body, client_id=client_id, created=created
    )[0]


def _message_for_change(*, member: Member, message_id: object) -> Message:
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise ServiceError("invalid", "id must be a message id (a whole number).")
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("room", "author__organisation")
        .filter(pk=message_id, deleted__isnull=True)
        .first()
    )
    if message is None:
        raise NotFound("No such message.")
    if not access_message_change(member, message):
        raise Forbidden("You can only change your own messages.")
    return message


@transaction.atomic
def message_edit(*, member: Member, message_id: object, body: object) -> Message:
    message = _message_for_change(member=member, message_id=message_id)
    if body == message.body:
        return message  # nothing changed: no event, no edit mark
    # Edits count against the rate limit: each one is a durable event every client replays.
    body = can_post(member=member, room=message.room, body=body)
    # Mentions show as mentions, but an edit notifies nobody (as in Slack): a typo fix must
    # not ping everyone named again.
    html, _named = _text_render(body=body)
    message.body, message.html, message.edited = body, html, timezone.now()
    message.save(update_fields=["body", "html", "edited"])
    event_append(
        stream_id=message.room.stream_id,
        kind="message.edited",
        data={
            "id": message.pk,
            "body": message.body,
            "html": message.html,
            "edited": iso_utc(message.edited),
        },
    )
    return message


@transaction.atomic
def message_delete(*, member: Member, message_id: object) -> Message:
    message = _message_for_change(member=member, message_id=message_id)
    if message.author_id != member.pk:
        ModerationLog.objects.create(
            actor=member, action="message.delete", target=f"message:{message.pk}"
        )
    message.deleted = timezone.now()
    message.save(update_fields=["deleted"])
    event_append(stream_id=message.room.stream_id, kind="message.deleted", data={"id": message.pk})
    return message


# --- profiles ------------------------------------------------------------------------


@transaction.atomic
def organisation_save(*, member: Member, fields: dict) -> Organisation:
    """Create the member's organisation, or update it. Fields come from a validated form."""
    organisation = member.organisation
    if organisation is None:
        organisation = Organisation(slug=unique_slug(model=Organisation, text=fields["name"]))
    for name, value in fields.items():
        setattr(organisation, name, value)
    organisation.full_clean()
    organisation.save()
    if member.organisation_id != organisation.pk:
        member.organisation = organisation
        member.save(update_fields=["organisation"])
    return organisation


@transaction.atomic
def member_profile_update(*, member: Member, display_name: str, job_title: str) -> Member:
    member.display_name, member.job_title = display_name.strip(), job_title.strip()
    member.full_clean(exclude=["password"])
    member.save(update_fields=["display_name", "job_title"])
    return member


# --- unread markers ----------------------------------------------------------------------


def room_read_mark(*, member: Member, room_id: int, seq: int) -> int:
    """Move the member's read marker forward (never back); returns the marker."""
    room = Room.objects.select_related("stream").filter(pk=room_id).first()
    if room is None or not access_room(member, room):
        raise NotFound("No such room.")
    seq = min(seq, room.stream.last_seq)
    state, _ = RoomReadState.objects.get_or_create(member=member, room=room)
    RoomReadState.objects.filter(pk=state.pk, last_read_seq__lt=seq).update(last_read_seq=seq)
    return max(state.last_read_seq, seq)


# --- personal API tokens ----------------------------------------------------------------

TOKENS_MAX = 10


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def token_create(*, member: Member, name: object) -> tuple[ApiToken, str]:
    """A new token; the key is returned once and only its hash is kept."""
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        raise ServiceError("invalid", "Name the token (at most 80 characters).")
    if ApiToken.objects.filter(member=member, revoked__isnull=True).count() >= TOKENS_MAX:
        raise ServiceError("invalid", f"You can have at most {TOKENS_MAX} tokens; revoke one.")
    key = f"cvn_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        member=member, name=name.strip(), prefix=key[:12], key_hash=token_hash(key)
    )
    return token, key


@transaction.atomic
def token_revoke(*, member: Member, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, member=member, revoked__isnull=True).first()
    if token is None:
        raise NotFound("No such token.")
    token.revoked = timezone.now()
    token.save(update_fields=["revoked"])
    return token


def token_authenticate(*, key: str) -> Member | None:
    if not key.startswith("cvn_") or len(key) > 100:
        return None
    token = (
        ApiToken.objects.select_related("member")
        .filter(key_hash=token_hash(key), revoked__isnull=True, member__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now())
    return token.member
