"""The client side: worker processes, each owning a slice of the benchmark's websocket clients.

The same code drives the baseline and Convene, so the comparison is fair: only the URL,
the cookies and the `after` of the hello differ. Nothing here imports Django; a worker
knows the server only through the websocket contract.

A worker runs in three steps, driven by its parent over a pipe:

1. open: connect every client (session cookie + Origin), send `hello {after}`, wait for
   `ready`; report ("ready", summary). From `ready` on each socket is read all the time
   (presence lists arrive as others join) and sends `{"type":"ping"}` every 25 s, as
   static/js/room.js does, so the server's idle timeout does not close it;
2. wait for "go" (throughput), or "status" then "exit" (idle connections);
3. throughput: the senders send their share of the messages, at most `window` unacked
   each; every client reads until it has every message; report ("result", figures).

Latency is measured from the send timestamp carried in each message body
(`time.perf_counter_ns`, CLOCK_MONOTONIC on Linux, one clock for every process on the
machine) to the moment a receiver has the frame in hand and decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

perf_ns = time.perf_counter_ns
OPEN_ATTEMPTS = 4


@dataclass
class Plan:
    """What one worker process does."""

    worker: int
    mode: str  # "throughput" or "idle"
    url: str
    origin: str
    cookies: list[str]
    after: int | None
    # Global sender number of each local client that sends (local index -> sender number).
    senders: dict[int, int] = field(default_factory=dict)
    # Messages each global sender sends; a receiver expects sum(sender_counts).
    sender_counts: list[int] = field(default_factory=list)
    tag: str = "bench"
    window: int = 10
    connect_concurrency: int = 16
    open_timeout: float = 60.0
    stall_timeout: float = 30.0
    keepalive: float = 25.0  # seconds between client pings (room.js: 25 s)
    # Idle connections only: stop opening new ones after this many seconds, so a server
    # whose connection rate collapses yields a partial figure instead of hanging the run.
    open_deadline: float = 600.0
    # Messages per second offered by all senders together; None: as fast as acks allow.
    rate: float | None = None
    # hello {"batch": true}, as static/js/room.js says: the server may send consecutive
    # events as one `batch` frame (the baseline ignores it and never batches).
    batch: bool = True


def raise_nofile() -> int:
    """Lift the soft open-files limit to the hard one; child processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Shared:
    """Figures every client of one worker contributes to."""

    def __init__(self) -> None:
        self.latencies = array("q")
        self.first_send = 0
        self.last_send = 0
        self.last_recv = 0
        self.last_ack = 0
        self.last_activity = perf_ns()


class Client:
    def __init__(
        self, plan: Plan, index: int, cookie: str, shared: Shared, offsets: list[int]
    ) -> None:
        self.plan = plan
        self.index = index
        self.cookie = cookie
        self.ws: ClientConnection | None = None
        self.failure: str | None = None
        self.open_ns = 0
        self.retries = 0
        self.deadline = (
            time.monotonic() + plan.open_deadline
            if plan.mode == "idle" and plan.open_deadline
            else None
        )
        self.last_seq = 0
        self.replayed = 0
        self.received = 0
        self.event_frames = 0  # frames that carried events: `event`, or `batch` of several
        self.duplicates = 0
        self.out_of_order = 0
        self.gaps = 0
        self.foreign = 0
        self.errors: Counter[str] = Counter()
        self.closed: str | None = None
        self.other_frames: Counter[str] = Counter()  # presence, pong, ...: type -> count
        self.other_bytes = 0
        self.reader: asyncio.Task | None = None
        self.pinger: asyncio.Task | None = None
        # Measurement state, shared by the worker's clients; armed before the first read,
        # since another worker may start sending before this one has heard "go".
        self.shared = shared
        self.offsets = offsets
        self.total = offsets[-1]
        self.seen = bytearray(self.total)
        self.done = asyncio.Event()
        # Sender state (unused by pure receivers).
        self.sender = plan.senders.get(index)
        self.pending: set[str] = set()
        self.window = asyncio.Semaphore(plan.window)
        self.send_done = self.sender is None
        self.sent = 0
        self.acked = 0
        self.refused = 0

    async def open(self, gate: asyncio.Semaphore) -> None:
        """Connect and hello; a handshake the server dropped is retried, as a browser would."""
        started = perf_ns()
        for attempt in range(OPEN_ATTEMPTS):
            async with gate:
                if self.deadline is not None and time.monotonic() > self.deadline:
                    self.failure = "not attempted: connect deadline passed"
                    break
                retryable = await self._open_once()
            if self.failure is None or not retryable or attempt == OPEN_ATTEMPTS - 1:
                break
            self.retries += 1
            await asyncio.sleep(0.5 * (attempt + 1) + random.random() * 0.5)
        self.open_ns = perf_ns() - started
        if self.ws is not None:
            self.reader = asyncio.create_task(self.read_loop())
            self.pinger = asyncio.create_task(self.keepalive())

    async def keepalive(self) -> None:
        interval = self.plan.keepalive
        await asyncio.sleep(random.random() * interval)
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.ws.send('{"type":"ping"}')
                await asyncio.sleep(interval)

    def stop(self) -> None:
        for task in (self.reader, self.pinger):
            if task is not None:
                task.cancel()

    async def _open_once(self) -> bool:
        """One attempt; sets `failure` (None on success) and says whether to try again."""
        plan = self.plan
        self.failure = None
        retryable = False
        try:
            self.ws = await connect(
                plan.url,
                additional_headers={"Origin": plan.origin, "Cookie": self.cookie},
                compression=None,  # Daphne does not negotiate permessage-deflate
                ping_interval=None,  # a loaded server must not be dropped for a late pong
                open_timeout=plan.open_timeout,
                close_timeout=2,
                max_size=1 << 20,
                proxy=None,
            )
            hello = {"type": "hello", "after": plan.after, "batch": plan.batch}
            await self.ws.send(json.dumps(hello))
            async with asyncio.timeout(plan.open_timeout):
                while True:
                    frame = json.loads(await self.ws.recv())
                    kind = frame.get("type")
                    if kind == "ready":
                        self.last_seq = int(frame["last_seq"])
                        break
                    if kind == "event":
                        self.replayed += 1
                    elif kind == "batch":
                        self.replayed += len(frame["frames"])
                    elif kind == "error":
                        raise RuntimeError(f"error frame {frame.get('code')}")
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            self.failure = f"closed by server (code {code})"
            retryable = code is None or code < 4000  # 44xx: refused on purpose (auth, ...)
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            self.failure = f"{type(exc).__name__}: {exc}"[:200]
            retryable = True
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"[:200]
        if self.failure and self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None
        return retryable

    def _check_done(self) -> None:
        if self.received >= self.total and self.send_done and not self.pending:
            self.done.set()

    async def read_loop(self) -> None:
        """Every frame the socket gets, from `ready` until the socket closes or is cancelled."""
        ws = self.ws
        tag = self.plan.tag
        loads = json.loads
        try:
            async for raw in ws:
                now = perf_ns()
                frame = loads(raw)
                kind = frame.get("type")
                shared = self.shared
                if kind == "event":
                    shared.last_activity = now
                    self.event_frames += 1
                    self._event(frame, now, tag, shared)
                    if self.received >= self.total:
                        self._check_done()
                elif kind == "batch":  # consecutive events in one frame, in seq order
                    shared.last_activity = now
                    self.event_frames += 1
                    for inner in frame["frames"]:
                        self._event(inner, now, tag, shared)
                    if self.received >= self.total:
                        self._check_done()
                elif kind == "ack":
                    shared.last_activity = now
                    self._settle(frame.get("client_id"), now, ok=True)
                elif kind == "error":
                    shared.last_activity = now
                    self.errors[str(frame.get("code"))] += 1
                    self._settle(frame.get("client_id"), now, ok=False)
                else:  # presence, typing, state, pong: counted, not measured
                    self.other_frames[str(kind)] += 1
                    self.other_bytes += len(raw)
            self.closed = f"code {ws.close_code}"
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            self.closed = f"code {code}"
        finally:
            self.done.set()  # nothing more will come

    def _event(self, frame: dict, now: int, tag: str, shared: Shared) -> None:
        data = frame.get("data")
        body = data.get("body") if isinstance(data, dict) else None
        parts = body.split(" ") if isinstance(body, str) else ()
        if len(parts) != 4 or parts[0] != tag:
            self.foreign += 1
            return
        key = self.offsets[int(parts[1])] + int(parts[2])
        if self.seen[key]:
            self.duplicates += 1
            return
        self.seen[key] = 1
        seq = frame["seq"]
        if seq <= self.last_seq:
            self.out_of_order += 1
        else:
            if seq != self.last_seq + 1:
                self.gaps += seq - self.last_seq - 1
            self.last_seq = seq
        self.received += 1
        shared.latencies.append(now - int(parts[3]))
        if now > shared.last_recv:
            shared.last_recv = now

    def _settle(self, client_id, now: int, *, ok: bool) -> None:
        if client_id not in self.pending:
            return
        self.pending.discard(client_id)
        if ok:
            self.acked += 1
            if now > self.shared.last_ack:
                self.shared.last_ack = now
        else:
            self.refused += 1
        self.window.release()
        self._check_done()

    async def send_all(self, shared: Shared) -> None:
        sender = self.sender
        ws = self.ws
        tag = self.plan.tag
        dumps = json.dumps
        # With a rate, each sender paces its sends (the window still applies); without one
        # it sends as fast as acks allow.
        senders = len(self.plan.sender_counts)
        interval_ns = int(1e9 * senders / self.plan.rate) if self.plan.rate else 0
        # Stagger the senders so that the room sees an even stream, not bursts of S.
        start = perf_ns() + interval_ns * sender // max(1, senders)
        try:
            for i in range(self.plan.sender_counts[sender]):
                if interval_ns:
                    delay = start + i * interval_ns - perf_ns()
                    if delay > 0:
                        await asyncio.sleep(delay / 1e9)
                await self.window.acquire()
                client_id = str(uuid.uuid4())
                self.pending.add(client_id)
                sent_at = perf_ns()
                if not shared.first_send or sent_at < shared.first_send:
                    shared.first_send = sent_at
                await ws.send(
                    dumps(
                        {
                            "type": "send",
                            "client_id": client_id,
                            "body": f"{tag} {sender} {i} {sent_at}",
                        }
                    )
                )
                self.sent += 1
                shared.last_send = max(shared.last_send, perf_ns())
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            self.closed = f"code {code}"
        finally:
            self.send_done = True
            self._check_done()


def _open_summary(clients: list[Client], seconds: float) -> dict[str, Any]:
    failures = [c.failure for c in clients if c.failure]
    open_ms = sorted(c.open_ns / 1e6 for c in clients)
    return {
        "clients": len(clients),
        "connected": len(clients) - len(failures),
        "failed": len(failures),
        "failures": Counter(failures).most_common(5),
        "replayed": sum(c.replayed for c in clients),
        "retries": sum(c.retries for c in clients),
        "open_s": seconds,
        "open_ms_max": open_ms[-1] if open_ms else 0.0,
    }


async def _recv_command(conn) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, conn.recv)


def _frames_summary(clients: list[Client]) -> dict[str, Any]:
    """Frames outside the measurement (presence lists, pongs...) and sockets the server closed."""
    other: Counter[str] = Counter()
    for c in clients:
        other.update(c.other_frames)
    return {
        "other_frames": dict(other),
        "other_bytes": sum(c.other_bytes for c in clients),
        "closed": Counter(c.closed for c in clients if c.closed).most_common(5),
        "closed_count": sum(1 for c in clients if c.closed),
    }


async def run_worker(plan: Plan, conn) -> None:
    offsets = [0]
    for count in plan.sender_counts:
        offsets.append(offsets[-1] + count)
    shared = Shared()
    clients = [Client(plan, i, cookie, shared, offsets) for i, cookie in enumerate(plan.cookies)]
    gate = asyncio.Semaphore(plan.connect_concurrency)
    started = time.perf_counter()
    try:
        await asyncio.gather(*(c.open(gate) for c in clients))
        summary = _open_summary(clients, time.perf_counter() - started)
        conn.send(("ready", {**summary, **_frames_summary(clients)}))
        if plan.mode == "idle":
            while await _recv_command(conn) == "status":
                conn.send(("status", _frames_summary(clients)))
            return  # "exit": the parent has measured and stopped the server
        if await _recv_command(conn) != "go":
            return
        conn.send(("result", await _measure(plan, clients, shared)))
        await _recv_command(conn)  # "exit"
    finally:
        for c in clients:
            c.stop()


async def _measure(plan: Plan, clients: list[Client], shared: Shared) -> dict[str, Any]:
    live = [c for c in clients if c.ws is not None]
    total = sum(plan.sender_counts)
    other_before = _frames_summary(live)["other_frames"]
    cpu_before = time.process_time()
    shared.last_activity = perf_ns()
    for c in live:
        c._check_done()  # a pure receiver of zero messages is done at once
    senders = [asyncio.create_task(c.send_all(shared)) for c in live if c.sender is not None]
    pending = {asyncio.create_task(c.done.wait()) for c in live}
    stalled = False
    while pending:
        _done, pending = await asyncio.wait(pending, timeout=0.5)
        if pending and perf_ns() - shared.last_activity > plan.stall_timeout * 1e9:
            stalled = True
            break
    for task in (*pending, *senders):
        task.cancel()
    await asyncio.gather(*pending, *senders, return_exceptions=True)
    cpu_seconds = time.process_time() - cpu_before

    errors: Counter[str] = Counter()
    for c in live:
        errors.update(c.errors)
    frames = _frames_summary(live)
    other_during = Counter(frames["other_frames"])
    other_during.subtract(other_before)
    incomplete = [(c.index, c.received) for c in live if c.received < total]
    return {
        **_open_summary(clients, 0.0),
        **frames,
        "other_frames_during": {k: v for k, v in other_during.items() if v},
        "expected": len(live) * total,
        "received": sum(c.received for c in live),
        "event_frames": sum(c.event_frames for c in live),
        "complete_clients": len(live) - len(incomplete),
        "incomplete_sample": incomplete[:10],
        "duplicates": sum(c.duplicates for c in live),
        "out_of_order": sum(c.out_of_order for c in live),
        "gaps": sum(c.gaps for c in live),
        "foreign": sum(c.foreign for c in live),
        "errors": dict(errors),
        "sent": sum(c.sent for c in live),
        "acked": sum(c.acked for c in live),
        "refused": sum(c.refused for c in live),
        "first_send": shared.first_send,
        "last_send": shared.last_send,
        "last_recv": shared.last_recv,
        "last_ack": shared.last_ack,
        "latencies": shared.latencies.tobytes(),
        "cpu_s": cpu_seconds,
        "stalled": stalled,
    }


def worker_entry(plan: Plan, conn) -> None:
    """multiprocessing target (spawned, so no Django and no inherited event loop)."""
    raise_nofile()
    try:
        asyncio.run(run_worker(plan, conn))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        conn.close()
