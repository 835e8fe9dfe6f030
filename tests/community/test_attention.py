"""Attention: @mentions, notifications live on /ws/me/, unread markers, API tokens."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from community import selectors, services
from community.errors import NotFound, ServiceError
from community.models import ApiToken, Message, Notification, RoomReadState
from community.notifications import notification_send
from tests.realtime.wsutil import open_socket, receive, receive_until, send


def post(member, room, body):
    return services.message_post(member=member, room=room, body=body, client_id=str(uuid.uuid4()))[
        0
    ]


@pytest.mark.django_db
def test_mention_notifies_only_the_named_members(member, other_member, moderator, room):
    message = post(member, room, "Thanks @**tom baines** and @**Nobody Here**, cc @Morgan")
    (notification,) = Notification.objects.all()
    assert notification.member == other_member and notification.kind == "mention"
    assert notification.url == f"/rooms/{room.pk}/#message-{message.pk}"
    assert "Amira Shah mentioned you" in notification.title
    post(member, room, "talking to myself @**Amira Shah**")
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_only_mentions_that_name_a_member_notify_or_show_as_mentions(member, other_member, room):
    message = post(
        member,
        room,
        "`@**Tom Baines**` in code\n\n```\n@**Tom Baines** in a fence\n```\n\n"
        f"@**Nobody Here**, @**Tom Baines|{member.pk}** (wrong id), "
        f"@**Tom Baines|0{other_member.pk}** (not the id as written), "
        "\\@**Tom Baines** (escaped: literal), @**tom baines**",
    )
    assert list(Notification.objects.values_list("member_id", flat=True)) == [other_member.pk]
    # The one that named Tom shows his name as he writes it; the others stay as typed.
    assert message.html.count('class="mention"') == 1
    assert '<strong class="mention">@Tom Baines</strong>' in message.html
    assert "@<strong>Nobody Here</strong>" in message.html
    assert "<code>@**Tom Baines**</code>" in message.html
    assert "@<strong>Tom Baines</strong> (escaped: literal)" in message.html
    # An edit shows a new mention as one, but notifies nobody (as in Slack).
    edited = services.message_edit(
        member=member, message_id=message.pk, body="now @**Tom Baines** and @**Amira Shah**"
    )
    assert edited.html.count('class="mention"') == 2 and Notification.objects.count() == 1


@pytest.mark.django_db
def test_notification_urls_must_be_local(member):
    for url in ["https://evil.example/", "//evil.example/", "javascript:alert(1)"]:
        with pytest.raises(ValueError):
            notification_send(member_id=member.pk, kind="x", title="t", url=url)
    assert Notification.objects.count() == 0


@pytest.mark.django_db(transaction=True)
async def test_mention_arrives_live_on_ws_me(member, other_member, room):
    me, connected, _ = await open_socket("/ws/me/", other_member)
    assert connected
    await send(me, {"type": "hello", "after": None})
    ready, _ = await receive_until(me, "ready")
    assert ready["state"]["unread_notifications"] == 0
    await sync_to_async(post)(member, room, "@**Tom Baines** have a look")
    event = await receive(me)
    assert event["kind"] == "notification.created" and event["seq"] == ready["last_seq"] + 1
    assert event["data"]["title"].startswith("Amira Shah mentioned you")
    await me.disconnect()
    # A reconnect resumes: the missed notification is replayed after `after`.
    await sync_to_async(post)(member, room, "@**Tom Baines** again")
    me, _, _ = await open_socket("/ws/me/", other_member)
    await send(me, {"type": "hello", "after": event["seq"]})
    ready, replayed = await receive_until(me, "ready")
    assert [e["data"]["title"] for e in replayed] == [
        "Amira Shah mentioned you in Skills shortages"
    ]
    assert ready["state"]["unread_notifications"] == 2
    await me.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_ws_me_needs_sign_in():
    socket, connected, _ = await open_socket("/ws/me/", None)
    assert connected
    assert (await socket.receive_output(timeout=3))["code"] == 4401


@pytest.mark.django_db
def test_notification_page_and_mark_read(member, other_member, room):
    post(member, room, "@**Tom Baines** hello")
    client = Client()
    client.force_login(other_member)
    page = client.get(reverse("notification_list")).content.decode()
    assert "Amira Shah mentioned you" in page and "unread-item" in page
    assert client.post(reverse("notification_list")).status_code == 302
    assert Notification.objects.filter(read__isnull=True).count() == 0


@pytest.mark.django_db
def test_read_marker_moves_forward_only(member, other_member, room):
    for n in range(5):
        post(other_member, room, f"m{n}")
    assert services.room_read_mark(member=member, room_id=room.pk, seq=3) == 3
    assert services.room_read_mark(member=member, room_id=room.pk, seq=1) == 3
    assert services.room_read_mark(member=member, room_id=room.pk, seq=999) == 5
    assert RoomReadState.objects.get().last_read_seq == 5
    with pytest.raises(NotFound):
        services.room_read_mark(member=member, room_id=424242, seq=1)


@pytest.mark.django_db
def test_unread_marker_on_room_list_and_page(member, other_member, room, make_room):
    quiet = make_room("Quiet room")
    for n in range(3):
        post(other_member, room, f"m{n}")
    services.room_read_mark(member=member, room_id=room.pk, seq=1)
    rooms = {r.pk: r for r in selectors.rooms_visible(member=member)}
    assert rooms[room.pk].last_read_seq == 1 and rooms[quiet.pk].last_read_seq == 0
    client = Client()
    client.force_login(member)
    listing = client.get(reverse("room_list")).content.decode()
    assert listing.count('class="unread"') == 1
    page = client.get(reverse("room_detail", args=[room.pk])).content.decode()
    divider = page.index('id="unread-divider"')
    assert page.index(">m0<") < divider < page.index(">m1<")


@pytest.mark.django_db(transaction=True)
async def test_read_frame_moves_the_marker(member, other_member, room):
    await sync_to_async(post)(other_member, room, "hello")
    socket, _, _ = await open_socket(f"/ws/rooms/{room.pk}/", member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    await send(socket, {"type": "read", "seq": 1})
    await send(socket, {"type": "read", "seq": "1"})
    error = await receive(socket)
    assert error["code"] == "invalid"
    state = await sync_to_async(RoomReadState.objects.get)(member=member, room=room)
    assert state.last_read_seq == 1
    await socket.disconnect()


@pytest.mark.django_db
def test_api_tokens(member, room):
    client = Client()
    client.force_login(member)
    page = client.post(reverse("token_create"), {"name": "CRM sync"}).content.decode()
    token = ApiToken.objects.get()
    key = page.split('<code id="new-token">')[1].split("<")[0]
    assert key.startswith("cvn_") and token.key_hash != key and key not in token.key_hash
    api = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert api.get("/api/v1/rooms/", **auth).status_code == 200
    created = api.post(
        f"/api/v1/rooms/{room.pk}/messages/",
        json.dumps({"client_id": str(uuid.uuid4()), "body": "from a script"}),
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201 and Message.objects.get().author == member
    assert api.get("/api/v1/rooms/", HTTP_AUTHORIZATION="Bearer cvn_wrong").status_code == 401
    assert client.get(reverse("profile_edit")).content.decode().count(key) == 0  # shown once
    client.post(reverse("token_revoke", args=[token.pk]))
    assert api.get("/api/v1/rooms/", **auth).status_code == 401


@pytest.mark.django_db
def test_tokens_are_private_and_validated(member, other_member):
    token, _ = services.token_create(member=member, name="mine")
    with pytest.raises(NotFound):
        services.token_revoke(member=other_member, token_id=token.pk)
    for bad in ["", "   ", "x" * 81, None, 5]:
        with pytest.raises(ServiceError):
            services.token_create(member=member, name=bad)
    assert ApiToken.objects.count() == 1


@pytest.mark.django_db
def test_a_shared_name_needs_the_id_to_mention(member, other_member, make_member, room):
    impostor = make_member("tom baines")
    post(member, room, "@**Tom Baines** hello")
    assert Notification.objects.count() == 0  # two members answer to that name
    post(member, room, f"@**Tom Baines|{other_member.pk}** hello")
    assert list(Notification.objects.values_list("member_id", flat=True)) == [other_member.pk]
    assert impostor.notifications.count() == 0


@pytest.mark.django_db
def test_unknown_api_post_is_json_404_not_a_csrf_page(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/api/v1/nonexistent/", "{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_divider_after_a_visit_to_an_empty_room(member, other_member, room):
    services.room_read_mark(member=member, room_id=room.pk, seq=0)  # opened while empty
    for n in range(2):
        post(other_member, room, f"later {n}")
    client = Client()
    client.force_login(member)
    page = client.get(reverse("room_detail", args=[room.pk])).content.decode()
    assert page.index('id="unread-divider"') < page.index(">later 0<")
