"""Websocket contract v1 against a real Daphne process, with real websocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
import uuid

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from community.models import Message
from tests.live import LiveServer, cookie_header, running_daphne

pytestmark = pytest.mark.e2e

TIMEOUT = 10.0


def room_path(room) -> str:
    return f"/ws/rooms/{room.pk}/"


def open_socket(
    server: LiveServer, path: str, cookie: str | None = None, origin: str | None = ""
) -> connect:
    """`origin=""` means the server's own origin; None sends no Origin header at all."""
    headers = {}
    if origin is not None:
        headers["Origin"] = origin or server.origin
    if cookie is not None:
        headers["Cookie"] = cookie
    return connect(
        server.ws_url + path,
        additional_headers=headers,
        proxy=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    )


async def receive(socket: ClientConnection) -> dict:
    async with asyncio.timeout(TIMEOUT):
        return json.loads(await socket.recv())


async def send(socket: ClientConnection, frame: dict) -> None:
    await socket.send(json.dumps(frame))


async def receive_until(socket: ClientConnection, frame_type: str) -> tuple[dict, list[dict]]:
    """Frames up to and including the first of `frame_type`: (that frame, the earlier ones)."""
    earlier = []
    while True:
        frame = await receive(socket)
        if frame["type"] == frame_type:
            return frame, earlier
        earlier.append(frame)


async def hello(socket: ClientConnection, after: int | None) -> tuple[dict, list[dict]]:
    await send(socket, {"type": "hello", "after": after})
    return await receive_until(socket, "ready")


async def quiet(socket: ClientConnection) -> list[dict]:
    """Frames that arrive before the answer to a ping: nothing else should be in flight."""
    await send(socket, {"type": "ping"})
    _pong, earlier = await receive_until(socket, "pong")
    return earlier


async def close_code(socket: ClientConnection) -> int | None:
    """Wait for the server to close the socket; return the code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        await receive(socket)
    return closed.value.rcvd.code if closed.value.rcvd else None


def stored(ack_ids: list[int]) -> dict[int, tuple[int, str, str]]:
    return {m.pk: (m.seq, str(m.client_id), m.body) for m in Message.objects.filter(pk__in=ack_ids)}


@pytest.fixture
def cookies(daphne_server, member, other_member):
    return {"a": cookie_header(member), "b": cookie_header(other_member)}


async def post_many(socket: ClientConnection, bodies: list[str]) -> tuple[list[dict], list[dict]]:
    """Send each body with a fresh client_id; return (acks in send order, other frames)."""
    client_ids = [str(uuid.uuid4()) for _ in bodies]
    for client_id, body in zip(client_ids, bodies, strict=True):
        await send(socket, {"type": "send", "client_id": client_id, "body": body})
    acks: dict[str, dict] = {}
    others = []
    while len(acks) < len(bodies):
        frame = await receive(socket)
        if frame["type"] == "ack":
            assert frame["client_id"] not in acks, f"second ack for one send: {frame}"
            acks[frame["client_id"]] = frame
        else:
            assert frame["type"] != "error", frame
            others.append(frame)
    return [acks[client_id] for client_id in client_ids], others


async def test_two_members_chat_in_order_and_resume_after_a_disconnect(
    daphne_server, cookies, member, room
):
    path = room_path(room)
    async with (
        open_socket(daphne_server, path, cookies["a"]) as alice,
        open_socket(daphne_server, path, cookies["b"]) as bob,
    ):
        for socket in (alice, bob):
            ready, replayed = await hello(socket, 0)
            assert replayed == []
            assert ready["last_seq"] == 0 and ready["state"]["muted"] is False

        bodies = [f"message {n}" for n in range(1, 21)]
        acks, alice_events = await post_many(alice, bodies)
        assert [ack["seq"] for ack in acks] == list(range(1, 21))
        assert len({ack["id"] for ack in acks}) == 20

        # Persist, then publish: every acknowledged message is in the database.
        rows = await database_sync_to_async(stored)([ack["id"] for ack in acks])
        assert rows == {
            ack["id"]: (ack["seq"], ack["client_id"], body)
            for ack, body in zip(acks, bodies, strict=True)
        }

        bob_events = [await receive(bob) for _ in range(20)]
        bob_events += await quiet(bob)
        assert [(f["type"], f["kind"]) for f in bob_events] == [("event", "message.created")] * 20
        assert [f["seq"] for f in bob_events] == list(range(1, 21))
        assert [f["data"]["id"] for f in bob_events] == [ack["id"] for ack in acks]
        assert [f["data"]["client_id"] for f in bob_events] == [a["client_id"] for a in acks]
        assert [f["data"]["body"] for f in bob_events] == bodies
        first = bob_events[0]["data"]
        assert first["author"]["id"] == member.pk and first["created"].endswith("Z")

        # Alice gets her own events too, in order, once each.
        alice_events += await quiet(alice)
        assert [f["seq"] for f in alice_events if f["type"] == "event"] == list(range(1, 21))

        last_seen = bob_events[-1]["seq"]
        await bob.close()

        missed = [f"while Bob was away {n}" for n in range(1, 6)]
        acks, _ = await post_many(alice, missed)
        assert [ack["seq"] for ack in acks] == list(range(21, 26))
        rows = await database_sync_to_async(stored)([ack["id"] for ack in acks])
        assert sorted(seq for seq, _cid, _body in rows.values()) == list(range(21, 26))

        async with open_socket(daphne_server, path, cookies["b"]) as bob_again:
            ready, replayed = await hello(bob_again, last_seen)
            assert [f["seq"] for f in replayed] == list(range(21, 26))
            assert [f["data"]["body"] for f in replayed] == missed
            assert [f["data"]["id"] for f in replayed] == [ack["id"] for ack in acks]
            assert ready["last_seq"] == 25
            assert await quiet(bob_again) == []


async def test_anonymous_socket_is_closed_4401(daphne_server, room):
    async with open_socket(daphne_server, room_path(room)) as socket:
        assert await close_code(socket) == 4401


async def test_unknown_room_is_closed_4404(daphne_server, cookies):
    async with open_socket(daphne_server, "/ws/rooms/999999/", cookies["a"]) as socket:
        assert await close_code(socket) == 4404


# The Origin must be the page's own origin: host and port (config/security.py).
@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://127.0.0.1.evil.example", "http://127.0.0.1:1", "null", None],
)
async def test_foreign_or_missing_origin_is_refused_at_the_handshake(
    daphne_server, cookies, room, origin
):
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(daphne_server, room_path(room), cookies["a"], origin=origin):
            pass
    assert refused.value.response.status_code == 403


def test_room_page_and_its_script_are_served(daphne_server, cookies, room):
    def get(path: str, cookie: str | None = None):
        request = urllib.request.Request(daphne_server.url + path)  # noqa: S310 (http to our server)
        if cookie:
            request.add_header("Cookie", cookie)
        return urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310

    with get(f"/rooms/{room.pk}/", cookies["a"]) as response:
        assert response.status == 200
        page = response.read().decode()
    assert 'id="room"' in page and "/static/js/room.js" in page
    with get("/static/js/room.js") as response:
        assert response.status == 200
        assert "class RoomClient" in response.read().decode()


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL") and not os.environ.get("CI"),  # CI never skips it
    reason="two server processes share live fan-out only through Redis: set REDIS_URL (and DATABASE_URL) or run `bash .ci/run`",
)
async def test_two_server_processes_pass_messages_between_them(daphne_server, cookies, room):
    path = room_path(room)
    with running_daphne() as second:
        async with (
            open_socket(daphne_server, path, cookies["a"]) as alice,
            open_socket(second, path, cookies["b"], origin=second.origin) as bob,
        ):
            await hello(alice, 0)
            await hello(bob, 0)
            acks, _ = await post_many(alice, [f"across processes {n}" for n in range(1, 11)])
            bob_events = [await receive(bob) for _ in range(10)]
            bob_events += await quiet(bob)
            assert [f["seq"] for f in bob_events] == list(range(1, 11))
            assert [f["data"]["id"] for f in bob_events] == [ack["id"] for ack in acks]


async def test_another_server_process_replays_the_shared_log(daphne_server, cookies, room):
    """Any process serves a resume from the database log, even without a shared channel layer."""
    path = room_path(room)
    async with open_socket(daphne_server, path, cookies["a"]) as alice:
        await hello(alice, 0)
        acks, _ = await post_many(alice, [f"logged {n}" for n in range(1, 6)])
    with running_daphne() as second:
        async with open_socket(second, path, cookies["b"]) as bob:
            ready, replayed = await hello(bob, 2)
            assert [f["seq"] for f in replayed] == [3, 4, 5]
            assert [f["data"]["id"] for f in replayed] == [ack["id"] for ack in acks[2:]]
            assert ready["last_seq"] == 5
            assert await quiet(bob) == []


async def test_a_one_megabyte_frame_is_refused_and_the_socket_stays_usable(
    daphne_server, cookies, room
):
    async with open_socket(daphne_server, room_path(room), cookies["a"]) as socket:
        await hello(socket, 0)
        body = "x" * 1_000_000  # under Daphne's 1 MiB transport limit: it reaches us
        await send(socket, {"type": "send", "client_id": str(uuid.uuid4()), "body": body})
        error, _ = await receive_until(socket, "error")
        assert error["code"] == "too_long"
        assert await quiet(socket) == []  # still answers, and nothing was broadcast
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_a_frame_over_the_transport_limit_ends_only_that_connection(
    daphne_server, cookies, room
):
    async with open_socket(daphne_server, room_path(room), cookies["a"]) as socket:
        await hello(socket, 0)
        await socket.send("y" * (2 * 1024 * 1024))
        # Daphne drops the connection before the application sees the frame (documented
        # in docs/protocol.md); the client learns at once rather than waiting on it.
        with pytest.raises(ConnectionClosed):
            await receive(socket)
    async with open_socket(daphne_server, room_path(room), cookies["a"]) as socket:
        await hello(socket, 0)
        assert await quiet(socket) == []
    assert await database_sync_to_async(Message.objects.count)() == 0
