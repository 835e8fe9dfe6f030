"""Posting, the one policy, moderation and profiles at the service layer."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from community import services
from community.errors import Forbidden, NotFound, PostingRefused, ServiceError
from community.models import Message, ModerationLog
from realtime.models import Event

pytestmark = pytest.mark.django_db


def post(member, room, body="hello", client_id=None):
    return services.message_post(
        member=member, room=room, body=body, client_id=client_id or str(uuid.uuid4())
    )


def test_post_stores_message_and_event_with_next_seq(member, room):
    first, created = post(member, room, "one")
    second, _ = post(member, room, "two")
    assert created and (first.seq, second.seq) == (1, 2)
    events = list(Event.objects.filter(stream=room.stream).order_by("seq"))
    assert [(e.seq, e.kind, e.data["id"]) for e in events] == [
        (1, "message.created", first.pk),
        (2, "message.created", second.pk),
    ]
    room.stream.refresh_from_db()
    assert room.stream.last_seq == 2


def test_repeated_client_id_is_idempotent(member, room):
    client_id = str(uuid.uuid4())
    first, created1 = post(member, room, "once", client_id)
    again, created2 = post(member, room, "once", client_id)
    assert created1 and not created2 and first.pk == again.pk
    assert Message.objects.count() == 1 and Event.objects.count() == 1


def test_same_client_id_from_two_members_is_two_messages(member, other_member, room):
    client_id = str(uuid.uuid4())
    post(member, room, "a", client_id)
    post(other_member, room, "b", client_id)
    assert Message.objects.count() == 2


def test_client_id_reused_in_another_room_is_refused(member, room, make_room):
    client_id = str(uuid.uuid4())
    post(member, room, "a", client_id)
    with pytest.raises(ServiceError) as error:
        post(member, make_room("Other"), "a", client_id)
    assert error.value.code == "invalid"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "empty"),
        ("   \n\t  ", "empty"),
        ("\u200b\u2060\ufeff", "empty"),
        ("x" * 4001, "too_long"),
        (None, "invalid"),
        (42, "invalid"),
        (["list"], "invalid"),
        ("nul\x00byte", "invalid"),
    ],
)
def test_bad_bodies_are_refused_and_nothing_is_stored(member, room, body, code):
    with pytest.raises(PostingRefused) as error:
        post(member, room, body)
    assert error.value.code == code and error.value.detail
    assert Message.objects.count() == 0 and Event.objects.count() == 0


@pytest.mark.parametrize("client_id", ["", "nope", "123", None, 5])
def test_bad_client_ids_are_refused(member, room, client_id):
    with pytest.raises(ServiceError) as error:
        services.message_post(member=member, room=room, body="hi", client_id=client_id)
    assert error.value.code == "invalid"
    assert Message.objects.count() == 0


def test_naughty_strings_are_stored_raw_and_rendered_safely(member, room, shared_data, settings):
    import json

    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 10_000}
    strings = json.loads((shared_data / "hostile" / "blns.json").read_text("utf-8"))
    stored = 0
    for text in strings:
        try:
            message, _ = post(member, room, text)
        except PostingRefused as refused:
            assert refused.code in {"empty", "invalid"}, (text, refused.code)
            continue
        message.refresh_from_db()
        assert message.body == text  # nothing typed is lost or altered
        assert "<script" not in message.html.lower()
        stored += 1
    assert stored > 400
    assert Message.objects.count() == stored


def test_muted_room_refuses_members_but_not_moderators(member, moderator, room):
    services.room_mute(moderator=moderator, room_id=room.pk, reason="Break")
    room.refresh_from_db()
    with pytest.raises(PostingRefused) as error:
        post(member, room)
    assert error.value.code == "room_muted" and "Break" in error.value.detail
    post(moderator, room, "We are on a break")
    assert Message.objects.filter(author=member).count() == 0
    assert ModerationLog.objects.filter(action="room.mute").count() == 1
    kinds = list(Event.objects.filter(stream=room.stream).values_list("kind", flat=True))
    assert kinds == ["room.updated", "message.created"]


def test_timed_room_mute_expires(member, moderator, room):
    services.room_mute(
        moderator=moderator, room_id=room.pk, until=timezone.now() + timedelta(minutes=5)
    )
    room.refresh_from_db()
    assert room.muted_now()
    assert not room.muted_now(timezone.now() + timedelta(minutes=6))


def test_only_moderators_mute(member, room):
    with pytest.raises(Forbidden):
        services.room_mute(moderator=member, room_id=room.pk)
    room.refresh_from_db()
    assert not room.is_muted and Event.objects.count() == 0


def test_mute_unknown_room_is_not_found(moderator):
    with pytest.raises(NotFound):
        services.room_mute(moderator=moderator, room_id=987654)


def test_member_mute_site_and_room_scope(member, moderator, room, make_room):
    other_room = make_room("Other")
    services.member_mute(moderator=moderator, member_id=member.pk, room_id=room.pk)
    with pytest.raises(PostingRefused) as error:
        post(member, room)
    assert error.value.code == "muted"
    post(member, other_room)  # a room mute is only for that room
    services.member_mute(moderator=moderator, member_id=member.pk)
    with pytest.raises(PostingRefused):
        post(member, other_room)
    services.member_unmute(moderator=moderator, member_id=member.pk)
    post(member, room)


def test_muted_member_cannot_edit_either(member, moderator, room):
    message, _ = post(member, room, "before")
    services.member_mute(moderator=moderator, member_id=member.pk)
    with pytest.raises(PostingRefused):
        services.message_edit(member=member, message_id=message.pk, body="after")
    message.refresh_from_db()
    assert message.body == "before"


def test_edit_and_delete_own_message_only(member, other_member, moderator, room):
    message, _ = post(member, room, "draft")
    with pytest.raises(Forbidden):
        services.message_edit(member=other_member, message_id=message.pk, body="hijack")
    with pytest.raises(Forbidden):
        services.message_delete(member=other_member, message_id=message.pk)
    services.message_edit(member=member, message_id=message.pk, body="**final**")
    message.refresh_from_db()
    assert message.body == "**final**" and "<strong>final</strong>" in message.html
    services.message_delete(member=moderator, message_id=message.pk)
    with pytest.raises(NotFound):
        services.message_edit(member=member, message_id=message.pk, body="ghost")
    kinds = list(Event.objects.order_by("seq").values_list("kind", flat=True))
    assert kinds == ["message.created", "message.edited", "message.deleted"]


def test_rate_limit_on_the_shared_cache(member, room, settings):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 3}
    for n in range(3):
        post(member, room, f"m{n}")
    with pytest.raises(PostingRefused) as error:
        post(member, room, "one too many")
    assert error.value.code == "rate_limited" and error.value.status == 429
    assert Message.objects.count() == 3


def test_slow_mode(member, room):
    room.slow_mode_seconds = 30
    room.save()
    post(member, room, "first")
    with pytest.raises(PostingRefused) as error:
        post(member, room, "second")
    assert error.value.code == "slow_mode"


def test_organisation_profile_created_and_updated(sector):
    from community.models import Member

    member = Member.objects.create_user(email="new@example.test", password="x-long-password-1")
    organisation = services.organisation_save(
        member=member,
        fields={
            "name": "Northgate Precision",
            "sector": sector,
            "size": "medium",
            "town": "Northgate",
            "website": "https://northgate.example",
            "offers": "CNC",
            "seeks": "Graduates",
        },
    )
    assert member.organisation == organisation and organisation.slug == "northgate-precision"
    services.organisation_save(member=member, fields={"seeks": "Apprentices"})
    organisation.refresh_from_db()
    assert organisation.seeks == "Apprentices" and organisation.name == "Northgate Precision"


def test_a_post_is_one_write_per_row(member, room, django_assert_num_queries):
    """client_id lookup, mute check, seq (one UPDATE ... RETURNING), the message written
    once with its seq, the event; plus the savepoint pair of the test's transaction."""
    services.message_post(member=member, room=room, body="warm", client_id=str(uuid.uuid4()))
    with django_assert_num_queries(7):
        message, created = services.message_post(
            member=member, room=room, body="hello", client_id=str(uuid.uuid4())
        )
    assert created and message.seq == 2
    assert Event.objects.get(seq=2).data["id"] == message.pk
