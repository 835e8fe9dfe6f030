"""Batch frames (`hello {"batch": true}`) and publishing from the database thread."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer

import realtime.events as events
from community import services
from realtime.events import event_message
from realtime.hub import hub
from realtime.models import Event
from tests.realtime.wsutil import open_socket, receive, receive_until, send

pytestmark = pytest.mark.django_db(transaction=True)


async def ready_socket(room, member, *, after=0, batch=None):
    socket, connected, _ = await open_socket(f"/ws/rooms/{room.pk}/", member)
    assert connected
    hello = {"type": "hello", "after": after}
    if batch is not None:
        hello["batch"] = batch
    await send(socket, hello)
    ready, earlier = await receive_until(socket, "ready")
    return socket, ready, earlier


def post_unpublished(member, room, bodies):
    """Store messages whose fan-out is held back; returns their events' channel messages."""
    real = events._publish_now
    events._publish_now = lambda message: None
    try:
        for body in bodies:
            services.message_post(member=member, room=room, body=body, client_id=str(uuid.uuid4()))
    finally:
        events._publish_now = real
    return [
        event_message(e) for e in Event.objects.filter(stream_id=room.stream_id).order_by("seq")
    ]


async def test_a_round_of_events_reaches_a_batching_socket_as_one_frame(member, other_member, room):
    batching, _, _ = await ready_socket(room, member, batch=True)
    plain, _, _ = await ready_socket(room, other_member)
    messages = await sync_to_async(post_unpublished)(other_member, room, ["one", "two", "three"])
    # One round, as when events pile up while the hub hands a round to a large room;
    # delivered out of order, as a channel layer may.
    await hub.dispatch([messages[2], messages[0], messages[1]])

    frame = await receive(batching)
    assert frame["type"] == "batch"
    assert [(f["type"], f["seq"], f["data"]["body"]) for f in frame["frames"]] == [
        ("event", 1, "one"),
        ("event", 2, "two"),
        ("event", 3, "three"),
    ]
    # A client that did not ask gets one frame per event, as contract v1 says.
    singles = [await receive(plain) for _ in range(3)]
    assert [(f["type"], f["seq"]) for f in singles] == [("event", 1), ("event", 2), ("event", 3)]
    # Nothing more: no event twice.
    for socket in (batching, plain):
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()


async def test_a_socket_behind_the_round_gets_the_missing_events_first(member, other_member, room):
    socket, _, _ = await ready_socket(room, member, batch=True)
    messages = await sync_to_async(post_unpublished)(other_member, room, ["a", "b", "c", "d"])
    await hub.dispatch([messages[0]])  # the hub has seen 1; the next round starts at 3
    assert (await receive(socket))["seq"] == 1
    await hub.dispatch([messages[2], messages[3]])  # 2 lost in transit: filled from the log
    frame = await receive(socket)
    assert frame["type"] == "batch"
    assert [f["seq"] for f in frame["frames"]] == [2, 3, 4]
    await socket.disconnect()


async def test_a_single_event_is_a_plain_event_frame(member, other_member, room):
    socket, _, _ = await ready_socket(room, member, batch=True)
    await sync_to_async(services.message_post)(
        member=other_member, room=room, body="alone", client_id=str(uuid.uuid4())
    )
    frame = await receive(socket)
    assert (frame["type"], frame["seq"], frame["data"]["body"]) == ("event", 1, "alone")
    await socket.disconnect()


async def test_replay_comes_in_batches_then_ready(member, other_member, room, settings):
    from realtime.consumers import REPLAY_BATCH

    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1000}
    count = REPLAY_BATCH + 3
    await sync_to_async(post_unpublished)(other_member, room, [f"m{n}" for n in range(count)])
    socket, ready, earlier = await ready_socket(room, member, batch=True)
    assert [f["type"] for f in earlier] == ["batch", "batch"]
    seqs = [inner["seq"] for frame in earlier for inner in frame["frames"]]
    assert seqs == list(range(1, count + 1))
    assert ready["last_seq"] == count
    await socket.disconnect()

    plain, ready, earlier = await ready_socket(room, member, batch=False)
    assert [f["seq"] for f in earlier] == list(range(1, count + 1))
    assert {f["type"] for f in earlier} == {"event"}
    await plain.disconnect()


@pytest.mark.parametrize("value", ["yes", 1, None, [], {}])
async def test_batch_must_be_a_boolean(member, room, value):
    socket, connected, _ = await open_socket(f"/ws/rooms/{room.pk}/", member)
    assert connected
    await send(socket, {"type": "hello", "after": 0, "batch": value})
    frame = await receive(socket)
    assert (frame["type"], frame["code"]) == ("error", "invalid")
    assert "batch" in frame["detail"]
    # The socket stays usable: a correct hello is answered.
    await send(socket, {"type": "hello", "after": 0, "batch": True})
    ready, _ = await receive_until(socket, "ready")
    assert ready["last_seq"] == 0
    await socket.disconnect()


async def test_publishing_from_the_database_thread_does_not_wait_for_the_event_loop(
    member, other_member, room, monkeypatch
):
    """A post on the database thread hands its fan-out to the loop and returns: waiting
    for the send would hold the one database thread for a whole fan-out round."""
    socket, _, _ = await ready_socket(room, member)
    layer = hub.layer
    real_group_send = layer.group_send
    sent: list[int] = []

    async def slow_group_send(group, message):
        await asyncio.sleep(0.3)  # a slow channel layer (a Redis round trip under load)
        sent.append(message.get("seq"))
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", slow_group_send)

    def post_three():
        started = time.monotonic()
        for body in ("x", "y", "z"):
            services.message_post(
                member=other_member, room=room, body=body, client_id=str(uuid.uuid4())
            )
        # What had reached the layer when the thread was done, and how long it took.
        return list(sent), time.monotonic() - started

    sent_while_posting, took = await sync_to_async(post_three)()
    assert sent_while_posting == []
    assert took < 0.3
    frames = [await receive(socket) for _ in range(3)]
    assert [f["seq"] for f in frames] == [1, 2, 3]  # commit order kept
    if isinstance(layer, InMemoryChannelLayer):
        # No other process can listen on the in-memory layer: the hub took them directly.
        await asyncio.sleep(0.5)
        assert sent == []
    else:
        for _ in range(50):  # other processes still get every event, in commit order
            if len(sent) == 3:
                break
            await asyncio.sleep(0.1)
        assert sent == [1, 2, 3]
    await socket.disconnect()
