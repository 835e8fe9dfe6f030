"""Fault tests: two Daphne processes, kill -9, a Redis restart, vanished clients.

They check DESIGN.md's invariants 1 (an acknowledged message is in the database) and 2
(per stream, every client sees every event in seq order, no gap, no duplicate, across
reconnects, server restarts and multiple server processes) and the contract's promise
that the channel layer is only an accelerator: whatever it loses, a resume restores.
Run them with `bash .ci/run` (PostgreSQL + Redis), e.g.
`CI_COMMAND='.venv/bin/pytest tests/fault -v' bash .ci/run`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest
from channels.db import database_sync_to_async

from tests import live
from tests.fault.conftest import (
    DaphneProcess,
    RoomClient,
    assert_consistent,
    catch_up,
    reached,
    room_messages,
    start_clients,
    stop_clients,
    wait_until,
)

pytestmark = pytest.mark.e2e

# The default (30 posts per 10 s per member) is far below what these senders do.
FAST_POSTING = {"RATE_LIMIT_POSTS": "100000"}
CLIENTS_PER_SERVER = 10
# This 2-core box stores ~12 messages a second per sending socket (about 75 ms a post, most
# of it PostgreSQL round trips), so the fault tests send fewer messages than the 1,000 of
# the plain two-process test: 5 senders x 40, the fault injected after 60 acks.
FAULT_MESSAGES_PER_SENDER = 40
FAULT_AFTER_ACKS = 60
# Three senders on the first server (the one killed in the kill -9 test), two on the second.
SENDER_INDEXES = (0, 1, 2, CLIENTS_PER_SERVER, CLIENTS_PER_SERVER + 1)


@pytest.fixture
def twenty_members(make_members):
    return make_members(2 * CLIENTS_PER_SERVER)


@pytest.fixture
def two_members(make_members):
    return make_members(2)


def room_path(room) -> str:
    return f"/ws/rooms/{room.pk}/"


def spread(members, servers: list[DaphneProcess], room) -> list[RoomClient]:
    """Members spread evenly over servers, in order: the first block on servers[0], ..."""
    per_server = len(members) // len(servers)
    return [
        RoomClient(
            name=f"c{n:02d}@{servers[n // per_server].name}",
            member_id=member.pk,
            cookie=cookie,
            server=servers[n // per_server],
            path=room_path(room),
        )
        for n, (member, cookie) in enumerate(members)
    ]


def acked(clients: list[RoomClient]) -> int:
    return sum(len(c.acks) for c in clients)


async def test_two_processes_deliver_a_thousand_messages_to_twenty_clients(
    daphne_pool, twenty_members, room, fault_note
):
    servers = daphne_pool.start(2, env=FAST_POSTING)
    clients = spread(twenty_members, servers, room)
    senders = [clients[n] for n in SENDER_INDEXES]
    try:
        await start_clients(clients)
        started = time.monotonic()
        await asyncio.gather(*(s.post_many(200, window=20, prefix="msg") for s in senders))
        sent_in = time.monotonic() - started
        stored = await database_sync_to_async(room_messages)(room.pk)
        assert len(stored) == 1000
        stalled = await catch_up(clients, len(stored), live_wait=30)
        delivered_in = time.monotonic() - started
    finally:
        await stop_clients(clients)

    assert_consistent(clients, stored, room.pk)
    # Nothing failed, so live delivery alone must have been complete: no resume, no drop.
    assert not stalled, f"live delivery stalled for {stalled}"
    assert all(c.connects == 1 and not c.drops for c in clients), clients
    for server in servers:
        assert not server.problems(), f"{server.name} logged errors: {server.problems()[:5]}"
    fault_note(
        f"1,000 messages from 5 senders (window 20) over 2 processes to 20 clients: "
        f"all acked in {sent_in:.1f} s, all delivered in {delivered_in:.1f} s"
    )


async def test_kill9_one_process_mid_stream_loses_and_duplicates_nothing(
    daphne_pool, twenty_members, room, fault_note
):
    killed, survivor = daphne_pool.start(2, env=FAST_POSTING)
    clients = spread(twenty_members, [killed, survivor], room)
    senders = [clients[n] for n in SENDER_INDEXES]
    on_killed = [c for c in clients if c.server is killed]
    on_survivor = [c for c in clients if c.server is survivor]
    timeline: dict[str, float] = {}
    in_flight: dict[str, list[str]] = {}

    async def kill_and_restart() -> None:
        await wait_until(lambda: acked(senders) >= FAULT_AFTER_ACKS, 30, "acks before the kill")
        for sender in senders:
            if sender.server is killed:
                in_flight[sender.name] = list(sender.outbox)
        timeline["killed"] = time.monotonic()
        timeline["killed_wall"] = time.time()
        await asyncio.to_thread(killed.kill9)
        await asyncio.sleep(0.5)  # its clients retry against a closed port meanwhile
        await asyncio.to_thread(killed.restart)
        timeline["restarted"] = time.monotonic()
        await wait_until(lambda: all(c.ready for c in on_killed), 20, "clients back")
        timeline["back"] = time.monotonic()

    try:
        await start_clients(clients)
        await asyncio.gather(
            kill_and_restart(),
            *(s.post_many(FAULT_MESSAGES_PER_SENDER, window=20, prefix="msg") for s in senders),
        )
        stored = await database_sync_to_async(room_messages)(room.pk)
        stalled = await catch_up(clients, len(stored), live_wait=10)

        # Idempotency, deterministically: re-send already stored messages (as after a lost
        # ack); each must be acked with its stored id and seq, and nothing new is stored.
        repeats_before = sum(s.repeat_acks for s in senders)
        for sender in senders:
            if sender.server is killed:
                await sender.repost(list(sender.acks)[:5])
        await asyncio.sleep(0.5)  # a wrongly created event would arrive meanwhile
        reposted_repeats = sum(s.repeat_acks for s in senders) - repeats_before
        stored_after_reposts = await database_sync_to_async(room_messages)(room.pk)
    finally:
        await stop_clients(clients)

    assert reposted_repeats == 15
    assert stored_after_reposts == stored, "re-sending a stored client_id changed the room"
    assert all(c.last_seq == len(stored) for c in clients), clients
    assert killed.starts == 2 and killed.port is not None
    for client in on_killed:
        assert client.drops, f"{client.name} never saw its connection drop"
        when, code, seen = client.drops[0]
        assert when >= timeline["killed"], f"{client.name} dropped before the kill"
        assert code is None, f"{client.name} got a close frame ({code}) from a SIGKILLed server"
        assert client.connects >= 2
        # It resumed where it was: the next hello asked for what came after the last seq seen.
        assert seen > 0 and client.hellos[1] == seen, (client.name, seen, client.hellos)
    assert all(not c.drops and c.connects == 1 for c in on_survivor), on_survivor
    # The killed process's senders had messages in flight and re-sent them (same client_id).
    assert sum(len(ids) for ids in in_flight.values()) > 0
    assert sum(s.resent for s in senders if s.server is killed) > 0
    assert len(stored) == 5 * FAULT_MESSAGES_PER_SENDER
    assert_consistent(clients, stored, room.pk)

    # In flight at the kill, already stored by the killed process, and not acked before the
    # drop: the re-send with the same client_id was answered from the stored message.
    flying = {cid for ids in in_flight.values() for cid in ids}
    unacked_at_drop = {
        cid for s in senders if s.server is killed for cid in s.sent if cid not in s.acked_at_drop
    }
    answered_from_store = [
        row
        for row in stored
        if str(row["client_id"]) in flying & unacked_at_drop
        and row["created"].timestamp() < timeline["killed_wall"]
    ]
    fault_note(
        f"kill -9 after {FAULT_AFTER_ACKS} acks: clients of the killed process back in "
        f"{timeline['back'] - timeline['killed']:.1f} s (restart took "
        f"{timeline['restarted'] - timeline['killed']:.1f} s); {len(flying)} messages in flight "
        f"at the kill, re-sends {sum(s.resent for s in senders)}, repeated acks "
        f"{sum(s.repeat_acks for s in senders)}; failed connects "
        f"{sum(c.failed_connects for c in on_killed)}; clients that needed a resume at the end: "
        f"{len(stalled)} ({', '.join(c.name for c in stalled) or 'none'}); "
        f"stored by the killed process but acked only after the re-send: {len(answered_from_store)}"
    )


async def test_redis_restart_mid_stream_loses_no_acknowledged_message(
    daphne_pool, private_redis, twenty_members, room, fault_note
):
    # Our own Redis: CI's is shared with the test process (and, outside CI, may be someone's).
    servers = daphne_pool.start(2, env={**FAST_POSTING, "REDIS_URL": private_redis.url})
    clients = spread(twenty_members, servers, room)
    senders = [clients[n] for n in SENDER_INDEXES]
    timeline: dict[str, float] = {}
    connects_before: dict[str, int] = {}

    async def restart_redis() -> None:
        await wait_until(lambda: acked(senders) >= FAULT_AFTER_ACKS, 30, "acks before it")
        connects_before.update({c.name: c.connects for c in clients})
        timeline["down"] = time.monotonic()
        await asyncio.to_thread(private_redis.shutdown_nosave)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(private_redis.start)
        timeline["up"] = time.monotonic()

    try:
        await start_clients(clients)
        await asyncio.gather(
            restart_redis(),
            *(
                s.post_many(FAULT_MESSAGES_PER_SENDER, window=10, prefix="msg", timeout=90)
                for s in senders
            ),
        )
        timeline["sent"] = time.monotonic()
        kept_socket = [c for c in clients if c.connects == connects_before[c.name]]

        # Does live delivery come back by itself? Probe once a second, for up to 15 s.
        probe_sender = senders[-1]
        probe_seq, probes, recovered_after = 0, 0, None
        while time.monotonic() - timeline["sent"] < 15:
            await wait_until(lambda: probe_sender.ready, 20, "the probe sender to be ready")
            await probe_sender.post_many(1, window=1, prefix="probe")
            probes += 1
            probe_seq = max(seq for _id, seq in probe_sender.acks.values())
            if not await reached(lambda seq=probe_seq: all(c.last_seq >= seq for c in clients), 1):
                continue
            recovered_after = time.monotonic() - timeline["up"]
            break
        live_ok = [c for c in clients if c.last_seq >= probe_seq]

        # The contract's guarantee: a resume after the restart gives everyone everything.
        stored = await database_sync_to_async(room_messages)(room.pk)
        for client in clients:
            await client.resync()
        await catch_up(clients, len(stored), live_wait=20)
    finally:
        await stop_clients(clients)

    assert_consistent(clients, stored, room.pk)
    assert len(stored) == 5 * FAULT_MESSAGES_PER_SENDER + probes
    kept_and_live = [c for c in kept_socket if c in live_ok]
    recovery = (
        f"live delivery recovered {recovered_after:.1f} s after Redis came back"
        if recovered_after is not None
        else "live delivery had NOT recovered 15 s after the last send (resume needed)"
    )
    fault_note(
        f"Redis down {timeline['up'] - timeline['down']:.1f} s after {FAULT_AFTER_ACKS} acks: "
        f"{len(kept_socket)}/20 clients kept their socket through it; {recovery} "
        f"({probes} probes); the last probe reached {len(live_ok)}/20 clients live, "
        f"{len(kept_and_live)}/{len(kept_socket)} of those that kept their socket; "
        f"sender drops {sum(len(s.drops) for s in senders)}, close codes "
        f"{sorted({code for c in clients for _t, code, _seq in c.drops}, key=str)}; "
        f"error frames {sum(len(c.errors) for c in clients)}"
    )


@pytest.mark.parametrize("vanish", ["killed", "frozen"])
async def test_a_client_that_vanishes_leaves_presence(
    vanish, daphne_pool, two_members, room, fault_note
):
    """SIGKILL: the TCP connection closes with no close frame. SIGSTOP: it stays open and
    nothing answers, so only Daphne's ping timeout (2 s idle, 4 s to answer) can notice."""
    (server,) = daphne_pool.start(1, args=["--ping-interval", "2", "--ping-timeout", "4"])
    (observer_member, observer_cookie), (vanisher_member, vanisher_cookie) = two_members
    observer = RoomClient(
        name="observer",
        member_id=observer_member.pk,
        cookie=observer_cookie,
        server=server,
        path=room_path(room),
    )

    def online_ids() -> set:
        return {entry.get("id") for entry in observer.online or [] if isinstance(entry, dict)}

    child = None
    try:
        await start_clients([observer])
        state = observer.ready_frames[-1].get("state") or {}
        assert "online" in state, f"ready.state has no 'online' list: {state}"
        assert observer_member.pk in online_ids()

        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fault.hold_socket",
            server.ws_url + room_path(room),
            server.origin,
            cwd=live.REPO_ROOT,
            env={**os.environ, "HOLD_SOCKET_COOKIE": vanisher_cookie},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        line = await asyncio.wait_for(child.stdout.readline(), 20)
        assert line.strip() == b"ready", f"the socket-holding child said {line!r}"
        await wait_until(
            lambda: vanisher_member.pk in online_ids(),
            10,
            lambda: f"the second member to appear online (online: {observer.online})",
        )

        vanished = time.monotonic()
        os.kill(child.pid, signal.SIGKILL if vanish == "killed" else signal.SIGSTOP)
        await wait_until(
            lambda: vanisher_member.pk not in online_ids(),
            30,
            lambda: f"the vanished member to leave presence (online: {observer.online})",
            interval=0.05,
        )
        took = time.monotonic() - vanished
    finally:
        if child is not None and child.returncode is None:
            child.kill()  # SIGKILL also ends a stopped process
            await child.wait()
        await stop_clients([observer])

    fault_note(f"a {vanish} client left presence {took:.1f} s after it vanished")
    assert took <= 15, f"the vanished member left presence only after {took:.1f} s"
    assert observer_member.pk in online_ids()
    assert not observer.drops and not observer.anomalies, observer
