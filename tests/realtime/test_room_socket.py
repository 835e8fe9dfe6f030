"""Websocket contract v1 on the room socket, through the real ASGI application."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import sync_to_async

from community import services
from community.models import Message
from realtime.models import Event
from tests.realtime.wsutil import open_socket, receive, receive_until, send

pytestmark = pytest.mark.django_db(transaction=True)


def path_for(room) -> str:
    return f"/ws/rooms/{room.pk}/"


async def closed_with(communicator) -> int:
    output = await communicator.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def test_anonymous_socket_is_closed_4401(room):
    communicator, connected, _ = await open_socket(path_for(room))
    assert connected
    assert await closed_with(communicator) == 4401


async def test_unknown_room_is_closed_4404(member):
    communicator, connected, _ = await open_socket("/ws/rooms/999999/", member)
    assert connected
    assert await closed_with(communicator) == 4404


async def test_a_room_the_member_may_not_see_is_closed_4403(member, room, monkeypatch):
    # Every room is open to members today; the access rule is the one place that would
    # say otherwise (a private round-table, say), and the socket must honour it.
    from community import selectors

    monkeypatch.setattr(selectors, "access_room", lambda member, room: False)
    communicator, connected, _ = await open_socket(path_for(room), member)
    assert connected
    assert await closed_with(communicator) == 4403


async def test_non_numeric_room_path_is_closed_4404(member):
    communicator, connected, _ = await open_socket("/ws/rooms/abc/", member)
    assert connected
    assert await closed_with(communicator) == 4404


async def test_foreign_origin_is_refused(member, room):
    _socket, connected, _ = await open_socket(
        path_for(room), member, origin=b"https://evil.example"
    )
    assert not connected


@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:9999",
        b"http://127.0.0.1.evil.example:8000",
        b"null",
        b"file://",
        b"ws://127.0.0.1:8000",
        b"http://localhost:8000",
    ],
)
async def test_other_origins_are_refused_even_on_the_same_host(member, room, origin):
    _socket, connected, _ = await open_socket(path_for(room), member, origin=origin)
    assert not connected


async def test_missing_origin_is_refused(member, room):
    _socket, connected, _ = await open_socket(path_for(room), member, origin=None)
    assert not connected


async def test_send_ack_and_live_delivery_to_another_member(member, other_member, room):
    alice, ok1, _ = await open_socket(path_for(room), member)
    bob, ok2, _ = await open_socket(path_for(room), other_member)
    assert ok1 and ok2
    for socket in (alice, bob):
        await send(socket, {"type": "hello", "after": 0})
        ready = await receive(socket)
        assert ready["type"] == "ready" and ready["last_seq"] == 0
        assert ready["state"]["muted"] is False and ready["state"]["you_muted"] is False

    client_id = str(uuid.uuid4())
    await send(alice, {"type": "send", "client_id": client_id, "body": "Hello **Tom**"})
    ack, _ = await receive_until(alice, "ack")
    assert ack["client_id"] == client_id and ack["seq"] == 1
    stored = await sync_to_async(Message.objects.get)(pk=ack["id"])
    assert stored.body == "Hello **Tom**" and stored.seq == 1  # persisted before the ack

    event = await receive(bob)
    assert event["type"] == "event" and event["seq"] == 1 and event["kind"] == "message.created"
    data = event["data"]
    assert data["id"] == ack["id"] and data["client_id"] == client_id
    assert data["author"] == {
        "id": member.pk,
        "name": "Amira Shah",
        "organisation": member.organisation.name,
    }
    assert data["html"] == "<p>Hello <strong>Tom</strong></p>\n"
    assert data["created"].endswith("Z")
    await alice.disconnect()
    await bob.disconnect()


async def test_repeated_client_id_returns_the_stored_message(member, room):
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    client_id = str(uuid.uuid4())
    await send(socket, {"type": "send", "client_id": client_id, "body": "once"})
    first, _ = await receive_until(socket, "ack")
    await send(socket, {"type": "send", "client_id": client_id, "body": "once"})
    second, _ = await receive_until(socket, "ack")
    assert first["id"] == second["id"] and first["seq"] == second["seq"]
    assert await sync_to_async(Message.objects.filter(room=room).count)() == 1
    assert await sync_to_async(Event.objects.filter(stream=room.stream).count)() == 1
    await socket.disconnect()


async def test_resume_replays_exactly_what_was_missed(member, other_member, room):
    for n in range(1, 6):
        await sync_to_async(services.message_post)(
            member=other_member, room=room, body=f"message {n}", client_id=str(uuid.uuid4())
        )
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 2})
    ready, replayed = await receive_until(socket, "ready")
    assert [frame["seq"] for frame in replayed] == [3, 4, 5]
    assert [frame["data"]["body"] for frame in replayed] == ["message 3", "message 4", "message 5"]
    assert ready["last_seq"] == 5
    await socket.disconnect()


async def test_hello_null_sends_the_latest_page(member, other_member, room):
    for n in range(3):
        await sync_to_async(services.message_post)(
            member=other_member, room=room, body=f"m{n}", client_id=str(uuid.uuid4())
        )
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": None})
    ready, replayed = await receive_until(socket, "ready")
    assert [frame["seq"] for frame in replayed] == [1, 2, 3] and ready["last_seq"] == 3
    await socket.disconnect()


async def test_a_second_hello_never_repeats_what_the_socket_delivered(member, other_member, room):
    for n in range(3):
        await sync_to_async(services.message_post)(
            member=other_member, room=room, body=f"m{n}", client_id=str(uuid.uuid4())
        )
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 1})
    _, replayed = await receive_until(socket, "ready")
    assert [frame["seq"] for frame in replayed] == [2, 3]
    await sync_to_async(services.message_post)(
        member=other_member, room=room, body="m3", client_id=str(uuid.uuid4())
    )
    assert (await receive(socket))["seq"] == 4
    for after in (0, None):  # asking again from earlier gets fresh state, no repeats
        await send(socket, {"type": "hello", "after": after})
        ready, replayed = await receive_until(socket, "ready")
        assert replayed == [] and ready["last_seq"] == 4 and "state" in ready
    await socket.disconnect()


async def test_resume_too_old(member, other_member, room, settings):
    settings.CONVENE = {**settings.CONVENE, "REPLAY_LIMIT": 2}
    for n in range(4):
        await sync_to_async(services.message_post)(
            member=other_member, room=room, body=f"m{n}", client_id=str(uuid.uuid4())
        )
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 1})
    error = await receive(socket)
    assert error["type"] == "error" and error["code"] == "resume_too_old"
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid"),
        ("[1, 2]", "invalid"),
        ('{"no": "type"}', "invalid"),
        ('{"type": 7}', "invalid"),
        ('{"type": "launch_missiles"}', "invalid"),
        ('{"type": "hello", "after": -1}', "invalid"),
        ('{"type": "hello", "after": 99}', "invalid"),
        ('{"type": "hello", "after": "3"}', "invalid"),
        ('{"type": "send", "client_id": "not-a-uuid", "body": "hi"}', "invalid"),
        (
            '{"type": "send", "client_id": "6F1C1F5E-6A53-4E0E-9C59-6A4A3F1D2F10", "body": "hi"}',
            "invalid",
        ),
        ('{"type": "send", "client_id": 5, "body": "hi"}', "invalid"),
        ('{"type": "send", "client_id": "6f1c1f5e-6a53-4e0e-9c59-6a4a3f1d2f10"}', "invalid"),
        (
            '{"type": "send", "client_id": "6f1c1f5e-6a53-4e0e-9c59-6a4a3f1d2f10", "body": 42}',
            "invalid",
        ),
        (
            '{"type": "send", "client_id": "6f1c1f5e-6a53-4e0e-9c59-6a4a3f1d2f10", "body": ""}',
            "empty",
        ),
        (
            '{"type": "send", "client_id": "6f1c1f5e-6a53-4e0e-9c59-6a4a3f1d2f10", "body": " \\n\\t"}',
            "empty",
        ),
        (
            '{"type": "send", "client_id": "6f1c1f5e-6a53-4e0e-9c59-6a4a3f1d2f10", '
            '"body": "\\u200b\\u200b"}',
            "empty",
        ),
        ('{"type": "edit", "id": 123456, "body": "x"}', "not_found"),
        ('{"type": "edit", "id": -1, "body": "x"}', "not_found"),
        ('{"type": "delete", "id": 0}', "not_found"),
        ('{"type": "edit", "id": "x", "body": "x"}', "invalid"),
        ('{"type": "delete", "id": null}', "invalid"),
    ],
)
async def test_bad_frames_get_an_error_and_change_nothing(member, room, frame, code):
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    await socket.send_to(text_data=frame)
    error = await receive(socket)
    assert error["type"] == "error" and error["code"] == code, error
    assert error["detail"]
    try:
        sent = json.loads(frame)
    except ValueError:
        sent = None
    # A whole-number id is echoed, whatever its value.
    if isinstance(sent, dict) and isinstance(sent.get("id"), int):
        assert error["id"] == sent["id"], error
    # The socket is still usable and nothing was stored.
    await send(socket, {"type": "ping"})
    assert (await receive(socket))["type"] == "pong"
    assert await sync_to_async(Event.objects.filter(stream=room.stream).count)() == 0
    await socket.disconnect()


async def test_oversized_frame_is_refused_unparsed(member, room):
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    huge = json.dumps({"type": "send", "client_id": str(uuid.uuid4()), "body": "x" * 1_000_000})
    await socket.send_to(text_data=huge)
    error = await receive(socket)
    assert error["code"] == "too_long"
    assert await sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


async def test_too_long_message_is_refused(member, room, settings):
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    client_id = str(uuid.uuid4())
    body = "y" * (settings.CONVENE["MESSAGE_MAX_CHARS"] + 1)
    await send(socket, {"type": "send", "client_id": client_id, "body": body})
    error = await receive(socket)
    assert error["code"] == "too_long" and error["client_id"] == client_id
    assert await sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


async def test_room_mute_reaches_open_sockets_and_refuses_sends(member, moderator, room):
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    await sync_to_async(services.room_mute)(moderator=moderator, room_id=room.pk, reason="Lunch")
    event = await receive(socket)
    assert event["kind"] == "room.updated"
    assert event["data"]["muted"] is True and event["data"]["muted_reason"] == "Lunch"
    client_id = str(uuid.uuid4())
    await send(socket, {"type": "send", "client_id": client_id, "body": "still here?"})
    error = await receive(socket)
    assert error["code"] == "room_muted" and error["client_id"] == client_id
    assert await sync_to_async(Message.objects.count)() == 0
    await sync_to_async(services.room_unmute)(moderator=moderator, room_id=room.pk)
    event = await receive(socket)
    assert event["kind"] == "room.updated" and event["data"]["muted"] is False
    await send(socket, {"type": "send", "client_id": client_id, "body": "back"})
    assert (await receive_until(socket, "ack"))[0]["client_id"] == client_id
    await socket.disconnect()


async def test_member_mute_updates_state_at_once(member, moderator, room):
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    await sync_to_async(services.member_mute)(
        moderator=moderator, member_id=member.pk, reason="Cool off"
    )
    state = await receive(socket)
    assert state["type"] == "state" and state["state"]["you_muted"] is True
    assert state["state"]["you_muted_reason"] == "Cool off"
    await send(socket, {"type": "send", "client_id": str(uuid.uuid4()), "body": "hi"})
    assert (await receive(socket))["code"] == "muted"
    await socket.disconnect()


async def test_muted_member_and_muted_room_do_not_show_typing(
    member, other_member, moderator, room
):
    alice, _, _ = await open_socket(path_for(room), member)
    bob, _, _ = await open_socket(path_for(room), other_member)
    for socket in (alice, bob):
        await send(socket, {"type": "hello", "after": 0})
        await receive_until(socket, "ready")
    await sync_to_async(services.member_mute)(
        moderator=moderator, member_id=member.pk, reason="Cool off"
    )
    assert (await receive(alice))["type"] == "state"
    await send(alice, {"type": "typing"})
    refused = await receive(alice)
    assert refused["type"] == "error" and refused["code"] == "muted"
    assert "Cool off" in refused["detail"]
    # Bob hears nothing; a ping round-trip proves the typing frame was handled first.
    await sync_to_async(services.room_mute)(moderator=moderator, room_id=room.pk)
    assert (await receive(bob))["kind"] == "room.updated"
    await send(bob, {"type": "typing"})
    assert (await receive(bob))["code"] == "room_muted"
    await send(alice, {"type": "ping"})
    while (frame := await receive(alice))["type"] != "pong":
        assert frame["type"] == "event", frame  # room.updated only, never typing
    await send(bob, {"type": "ping"})
    assert (await receive(bob))["type"] == "pong"
    await alice.disconnect()
    await bob.disconnect()


async def event_and_ack(socket, kind: str) -> tuple[dict, dict]:
    """The event of `kind` and the edit/delete ack, in whichever order they come (the
    ack is sent when the write returns, the event by the hub after commit)."""
    event = ack = None
    while event is None or ack is None:
        frame = await receive(socket)
        if frame["type"] == "event" and frame["kind"] == kind:
            event = frame
        elif frame["type"] == "ack" and "client_id" not in frame:
            ack = frame
    return event, ack


async def test_edit_and_delete_travel_as_events_and_replay(member, other_member, room):
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    await send(socket, {"type": "send", "client_id": str(uuid.uuid4()), "body": "draft"})
    ack, _ = await receive_until(socket, "ack")
    await send(socket, {"type": "edit", "id": ack["id"], "body": "final"})
    edited, settled = await event_and_ack(socket, "message.edited")
    assert edited["data"]["body"] == "final"
    assert settled == {"type": "ack", "id": ack["id"]}
    # An edit that changes nothing has no event, but is still answered.
    await send(socket, {"type": "edit", "id": ack["id"], "body": "final"})
    assert await receive(socket) == {"type": "ack", "id": ack["id"]}
    await send(socket, {"type": "delete", "id": ack["id"]})
    deleted, settled = await event_and_ack(socket, "message.deleted")
    assert deleted["data"] == {"id": ack["id"]} and settled == {"type": "ack", "id": ack["id"]}
    # A refused edit names the message it was about.
    await send(socket, {"type": "edit", "id": ack["id"], "body": "again"})
    refused = await receive(socket)
    assert refused["code"] == "not_found" and refused["id"] == ack["id"]
    await socket.disconnect()

    # Someone else's message cannot be edited or deleted.
    other, _, _ = await open_socket(path_for(room), other_member)
    await send(other, {"type": "hello", "after": 0})
    ready, replayed = await receive_until(other, "ready")
    assert [f["kind"] for f in replayed] == ["message.created", "message.edited", "message.deleted"]
    await send(other, {"type": "send", "client_id": str(uuid.uuid4()), "body": "mine"})
    mine, _ = await receive_until(other, "ack")
    await other.disconnect()
    socket, _, _ = await open_socket(path_for(room), member)
    await send(socket, {"type": "hello", "after": ready["last_seq"] + 1})
    await receive_until(socket, "ready")
    await send(socket, {"type": "edit", "id": mine["id"], "body": "hijack"})
    refused = await receive(socket)
    assert refused["code"] == "forbidden" and refused["id"] == mine["id"]
    await socket.disconnect()


async def test_ping_pong_and_typing(member, other_member, room):
    alice, _, _ = await open_socket(path_for(room), member)
    bob, _, _ = await open_socket(path_for(room), other_member)
    for socket in (alice, bob):
        await send(socket, {"type": "hello", "after": 0})
        await receive_until(socket, "ready")
    await send(alice, {"type": "ping"})
    assert (await receive(alice))["type"] == "pong"
    await send(alice, {"type": "typing"})
    typing = await receive(bob)
    assert typing == {
        "type": "typing",
        "member": {"id": member.pk, "name": "Amira Shah", "organisation": member.organisation.name},
    }
    await alice.disconnect()
    await bob.disconnect()


async def test_sign_out_closes_that_sessions_sockets(member, room):
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(member)
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(
        application,
        path_for(room),
        headers=[
            (b"host", b"127.0.0.1:8000"),
            (b"origin", b"http://127.0.0.1:8000"),
            (b"cookie", cookie),
        ],
    )
    assert (await socket.connect())[0]
    await send(socket, {"type": "hello", "after": 0})
    await receive_until(socket, "ready")
    response = await sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code == 302
    assert await closed_with(socket) == 4401
