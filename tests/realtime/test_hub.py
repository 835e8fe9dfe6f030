"""The per-process hub: one subscription per stream, gap filling, group expiry, presence,
connection limits and idle timeout."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from community import services
from realtime.events import event_append
from realtime.hub import hub
from realtime.models import Presence
from tests.realtime.wsutil import open_socket, receive, receive_until, send

pytestmark = pytest.mark.django_db(transaction=True)


def path_for(room) -> str:
    return f"/ws/rooms/{room.pk}/"


async def ready_socket(room, member, after=0):
    socket, connected, _ = await open_socket(path_for(room), member)
    assert connected
    await send(socket, {"type": "hello", "after": after})
    ready, _ = await receive_until(socket, "ready")
    return socket, ready


async def test_one_channel_layer_subscription_per_process(member, other_member, room, make_room):
    other_room = await sync_to_async(make_room)("Other")
    sockets = [await ready_socket(room, m) for m in (member, other_member, member)]
    other_room_socket, _ = await ready_socket(other_room, other_member)
    group = f"stream.{room.stream_id}"
    # The hub is the only channel in the room's group, however many sockets are open.
    layer = hub.layer
    if hasattr(layer, "groups"):  # the in-memory layer exposes its groups
        assert list(layer.groups[group]) == [hub.channel]
    elif hasattr(layer, "_group_key"):  # channels-redis: the group's set holds one channel
        import redis.asyncio as redis

        client = redis.from_url(os.environ["REDIS_URL"])
        members = await client.zrange(layer._group_key(group), 0, -1)
        await client.aclose()
        assert [m.decode() for m in members] == [hub.channel]
    assert len(hub.local(group)) == 3
    for socket, _ in sockets:
        await socket.disconnect()
    await other_room_socket.disconnect()
    assert group not in hub.members


async def test_a_dropped_fan_out_is_filled_from_the_log(member, other_member, room, monkeypatch):
    socket, _ = await ready_socket(room, member)
    # Store an event but lose its fan-out (as a full channel or a Redis blip would).
    import realtime.events as events

    real_publish = events._publish_now
    monkeypatch.setattr(events, "_publish_now", lambda message: None)
    await sync_to_async(services.message_post)(
        member=other_member, room=room, body="lost in transit", client_id=str(uuid.uuid4())
    )
    monkeypatch.setattr(events, "_publish_now", real_publish)
    await sync_to_async(services.message_post)(
        member=other_member, room=room, body="arrives", client_id=str(uuid.uuid4())
    )
    first, second = await receive(socket), await receive(socket)
    assert (first["seq"], first["data"]["body"]) == (1, "lost in transit")
    assert (second["seq"], second["data"]["body"]) == (2, "arrives")
    await socket.disconnect()


async def test_events_out_of_order_are_delivered_in_order_once(member, room):
    socket, _ = await ready_socket(room, member)

    def two_events():
        with transaction.atomic():
            first = event_append(stream_id=room.stream_id, kind="room.updated", data={"n": 1})
            second = event_append(stream_id=room.stream_id, kind="room.updated", data={"n": 2})
        return first, second

    import realtime.events as events

    held = []
    real = events._publish_now
    events._publish_now = held.append
    try:
        await sync_to_async(two_events)()
    finally:
        events._publish_now = real
    # Publish the second before the first: the hub fills 1 from the log, then drops the late 1.
    await sync_to_async(real)(held[1])
    await sync_to_async(real)(held[0])
    frames = [await receive(socket), await receive(socket)]
    assert [f["seq"] for f in frames] == [1, 2]
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_socket_outlives_group_expiry(member, other_member, room, settings):
    from channels.layers import channel_layers

    settings.CHANNEL_GROUP_EXPIRY = 1
    # With Redis (CI) the real production layer is tested; embedded, the in-memory one.
    backend = (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [os.environ["REDIS_URL"]],
                "group_expiry": 1,
                "prefix": f"expiry-{uuid.uuid4().hex[:8]}",
            },
        }
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 1}}
    )
    settings.CHANNEL_LAYERS = {"default": backend}
    channel_layers.backends = {}
    socket, _ = await ready_socket(room, member)
    await asyncio.sleep(3.5)  # three group expiries: only the hub's refresh keeps us in
    await sync_to_async(services.message_post)(
        member=other_member, room=room, body="still there?", client_id=str(uuid.uuid4())
    )
    event = await receive(socket)
    assert event["data"]["body"] == "still there?"
    await socket.disconnect()


async def test_presence_lists_who_is_online_and_follows_leaves(member, other_member, room):
    alice, ready = await ready_socket(room, member)
    assert [m["id"] for m in ready["state"]["online"]] == [member.pk]
    bob, ready = await ready_socket(room, other_member)
    assert {m["id"] for m in ready["state"]["online"]} == {member.pk, other_member.pk}
    joined, _ = await receive_until(alice, "presence")
    assert {m["id"] for m in joined["online"]} == {member.pk, other_member.pk}
    assert {m["name"] for m in joined["online"]} == {"Amira Shah", "Tom Baines"}
    await bob.disconnect()
    left, _ = await receive_until(alice, "presence")
    assert [m["id"] for m in left["online"]] == [member.pk]
    await alice.disconnect()
    assert await sync_to_async(Presence.objects.count)() == 0


async def test_stale_presence_of_a_dead_process_drops_out(member, other_member, room, settings):
    settings.CONVENE = {
        **settings.CONVENE,
        "PRESENCE_HEARTBEAT_SECONDS": 0.5,
        "PRESENCE_TIMEOUT_SECONDS": 1,
    }
    alice, _ = await ready_socket(room, member)
    # A row beaten by a process that has since been killed.
    from django.utils import timezone

    await sync_to_async(Presence.objects.create)(
        stream_id=room.stream_id,
        member={"id": other_member.pk, "name": "Tom Baines"},
        member_id=other_member.pk,
        connection="dead-process-socket",
        last_seen=timezone.now(),
    )
    seen_with, seen_without = False, False
    for _ in range(10):
        frame, _ = await receive_until(alice, "presence", timeout=3)
        ids = {m["id"] for m in frame["online"]}
        seen_with |= other_member.pk in ids
        if seen_with and other_member.pk not in ids:
            seen_without = True
            break
    assert seen_with and seen_without
    await alice.disconnect()


async def test_too_many_sockets_is_4429(member, room, settings):
    settings.CONVENE = {**settings.CONVENE, "WS_MAX_SOCKETS_PER_MEMBER": 2}
    first, _ = await ready_socket(room, member)
    second, _ = await ready_socket(room, member)
    third, connected, _ = await open_socket(path_for(room), member)
    assert connected
    closed = await third.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4429, "reason": ""} or (
        closed["type"] == "websocket.close" and closed["code"] == 4429
    )
    await first.disconnect()
    await second.disconnect()


async def test_idle_socket_is_closed_4408(member, room, settings):
    settings.CONVENE = {**settings.CONVENE, "WS_IDLE_SECONDS": 1, "PRESENCE_HEARTBEAT_SECONDS": 0.5}
    socket, _ = await ready_socket(room, member)
    for _ in range(20):
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == 4408
            break
    else:
        pytest.fail("the idle socket was not closed")


async def test_a_lost_fan_out_with_no_later_event_is_repaired_by_the_heartbeat(
    member, other_member, room, settings, monkeypatch
):
    settings.CONVENE = {**settings.CONVENE, "PRESENCE_HEARTBEAT_SECONDS": 0.5}
    socket, _ = await ready_socket(room, member)
    import realtime.events as events

    monkeypatch.setattr(events, "_publish_now", lambda message: None)
    await sync_to_async(services.message_post)(
        member=other_member, room=room, body="published to nobody", client_id=str(uuid.uuid4())
    )
    event = await receive(socket, timeout=5)
    assert (event["seq"], event["data"]["body"]) == (1, "published to nobody")
    await socket.disconnect()


async def test_presence_changes_are_coalesced_and_capped(member, make_member, room, monkeypatch):
    import realtime.presence as presence

    monkeypatch.setattr(presence, "PRESENCE_LIST_MAX", 3)
    observer, _ = await ready_socket(room, member)
    others = await sync_to_async(lambda: [make_member(f"Guest {n}") for n in range(8)])()
    sockets = [(await ready_socket(room, other))[0] for other in others]
    frames = []
    while True:
        try:
            frame, _ = await receive_until(observer, "presence", timeout=2.5)
        except Exception:
            break
        frames.append(frame)
        if frame["count"] == 9:
            break
    # Eight joins within a second or so: a frame or two, not eight.
    assert 1 <= len(frames) <= 3
    assert frames[-1]["count"] == 9 and len(frames[-1]["online"]) == 3
    for socket in sockets:
        await socket.disconnect()
    await observer.disconnect()


async def test_presence_frames_come_less_often_in_a_large_room(
    member, make_member, room, monkeypatch
):
    """A presence frame costs one send per socket: past PRESENCE_SENDS_PER_S sockets a
    room is told less often than every flush interval (here 4 sockets at 2 sends/s:
    one frame per 2 s at most, however many join)."""
    import realtime.hub as hub_module

    monkeypatch.setattr(hub_module, "PRESENCE_SENDS_PER_S", 2)
    observer, _ = await ready_socket(room, member)
    others = await sync_to_async(lambda: [make_member(f"Guest {n}") for n in range(3)])()
    loop = asyncio.get_running_loop()
    stamps = []  # (arrival time, count) of each presence frame the observer gets

    async def watch():
        while not stamps or stamps[-1][1] < 4:
            frame, _ = await receive_until(observer, "presence", timeout=6)
            stamps.append((loop.time(), frame["count"]))

    watcher = asyncio.create_task(watch())
    sockets = []
    for other in others:  # a join every 0.6 s: each flush interval has a change to tell
        sockets.append((await ready_socket(room, other))[0])
        await asyncio.sleep(0.6)
    await asyncio.wait_for(watcher, timeout=8)  # everyone is told in the end
    assert stamps[-1][1] == 4
    # A frame to n local sockets waits n / 2 s after the last one: unthrottled, every
    # frame would follow the last by one 1 s flush interval.
    gaps = [(later - earlier, count) for (earlier, _), (later, count) in itertools.pairwise(stamps)]
    assert gaps and all(gap >= 1.4 for gap, count in gaps if count >= 3), stamps
    for socket in sockets:
        await socket.disconnect()
    await observer.disconnect()
