"""Inputs the fresh-eyes QA pass found: surrogates, invisible text, bidi names, naive times,
replays of deleted messages, no-op edits, typing floods and a cache outage."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from community import services
from community.errors import NotFound, PostingRefused, ServiceError
from community.models import Member, Message, Organisation
from community.moderation import text_is_blank
from realtime.models import Event
from tests.realtime.wsutil import open_socket, receive, receive_until, send

INVISIBLE = [
    "\u180e",
    "\U000e0020",
    "\u2800",
    "\u115f",
    "\u034f",
    "\u3164",
    "\u200e\u200f",
    "\ufe0f",
    "\u2061",
    " \u00ad ",
    "\u200b\u2060\ufeff",
]


@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_only_text_is_blank(text):
    assert text_is_blank(text)


@pytest.mark.parametrize("text", ["a", "ẞ", "😀", "Ṱ̺̺̕o͞", "\u0661", "\u05d0"])
def test_visible_text_is_not_blank(text):
    assert not text_is_blank(text)


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["bad \ud800", "\udfff", "ok\udc00ok"])
def test_lone_surrogates_are_refused(member, room, body):
    with pytest.raises(PostingRefused) as refused:
        services.message_post(member=member, room=room, body=body, client_id=str(uuid.uuid4()))
    assert refused.value.code == "invalid"
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_lone_surrogates_over_the_api_are_400(member, room):
    client = Client()
    client.force_login(member)
    body = '{"client_id": "' + str(uuid.uuid4()) + '", "body": "bad \\ud800"}'
    response = client.post(
        f"/api/v1/rooms/{room.pk}/messages/", body, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid"


@pytest.mark.django_db(transaction=True)
async def test_lone_surrogates_over_the_socket_get_an_error_frame(member, room):
    socket, _, _ = await open_socket(f"/ws/rooms/{room.pk}/", member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    for frame in [
        '{"type":"send","client_id":"' + str(uuid.uuid4()) + '","body":"bad \\ud800"}',
        '{"type":"send","client_id":"\\ud800","body":"x"}',
        '{"type":"edit","id":1,"body":"\\udfff"}',
    ]:
        await socket.send_to(text_data=frame)
        error = await receive(socket)
        assert error["type"] == "error" and error["code"] in {"invalid", "not_found"}
    await send(socket, {"type": "ping"})
    assert (await receive(socket))["type"] == "pong"
    assert await sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


@pytest.mark.django_db
def test_naive_mute_end_is_taken_as_utc(moderator, member, room):
    room = services.room_mute(moderator=moderator, room_id=room.pk, until=datetime(2099, 1, 1))
    assert room.muted_until.utcoffset().total_seconds() == 0
    services.member_mute(moderator=moderator, member_id=member.pk, until=datetime(2099, 1, 1))
    with pytest.raises(ServiceError):
        services.room_mute(moderator=moderator, room_id=room.pk, until=datetime(2000, 1, 1))


@pytest.mark.django_db
def test_naive_mute_end_over_the_api(moderator, room):
    client = Client()
    client.force_login(moderator)
    response = client.post(
        f"/api/v1/rooms/{room.pk}/mute/",
        json.dumps({"until": "2099-01-01T00:00:00"}),
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["muted_until"] == "2099-01-01T00:00:00Z"


@pytest.mark.django_db
def test_resending_a_deleted_messages_client_id_is_not_acked(member, room):
    client_id = str(uuid.uuid4())
    message, _ = services.message_post(member=member, room=room, body="x", client_id=client_id)
    services.message_delete(member=member, message_id=message.pk)
    with pytest.raises(NotFound):
        services.message_post(member=member, room=room, body="x", client_id=client_id)
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_no_op_edit_makes_no_event_and_edits_are_rate_limited(member, room, settings):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 3}
    message, _ = services.message_post(
        member=member, room=room, body="x", client_id=str(uuid.uuid4())
    )
    services.message_edit(member=member, message_id=message.pk, body="x")
    assert Event.objects.count() == 1
    services.message_edit(member=member, message_id=message.pk, body="y")
    services.message_edit(member=member, message_id=message.pk, body="z")
    with pytest.raises(PostingRefused) as refused:
        services.message_edit(member=member, message_id=message.pk, body="flood")
    assert refused.value.code == "rate_limited"
    assert Event.objects.count() == 3


@pytest.mark.django_db(transaction=True)
async def test_typing_floods_are_coalesced(member, other_member, room):
    alice, _, _ = await open_socket(f"/ws/rooms/{room.pk}/", member)
    bob, _, _ = await open_socket(f"/ws/rooms/{room.pk}/", other_member)
    for socket in (alice, bob):
        await send(socket, {"type": "hello", "after": 0})
        await receive_until(socket, "ready")
    for _ in range(50):
        await send(alice, {"type": "typing"})
    await send(alice, {"type": "ping"})
    assert (await receive(alice))["type"] == "pong"
    typing = [await receive(bob)]
    assert typing[0]["type"] == "typing"
    assert await bob.receive_nothing(timeout=0.5)
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.django_db
def test_posting_goes_on_when_the_cache_is_down(member, room, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("redis is restarting")

    monkeypatch.setattr(cache, "add", down)
    monkeypatch.setattr(cache, "incr", down)
    message, created = services.message_post(
        member=member, room=room, body="still posting", client_id=str(uuid.uuid4())
    )
    assert created and message.body == "still posting"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    ["\u200b", "\u200b\u200b\ufeff", "\u3164", "\u2800", "Amira\u202eS", "x\x07y", "RLM\u200fname"],
)
def test_invisible_or_spoofing_names_are_refused(client, sector, name):
    response = client.post(
        "/accounts/signup/",
        {
            "display_name": name,
            "email": "n@example.test",
            "organisation_name": name,
            "sector": sector.pk,
            "size": "small",
            "town": "",
            "password1": "a-very-long-password-42",
            "password2": "a-very-long-password-42",
        },
    )
    assert response.status_code == 200  # the form again, with errors
    assert not Member.objects.filter(email="n@example.test").exists()
    assert not Organisation.objects.exists()
