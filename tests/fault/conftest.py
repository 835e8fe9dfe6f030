"""Fault tests: real Daphne processes on the shared PostgreSQL test database and Redis.

Helpers here:

- `daphne_pool`: start N Daphne processes (free ports, same test database), kill -9 one,
  restart it on the same port; every process is stopped at teardown and its log shown
  when the test fails.
- `private_redis`: a throwaway redis-server on a free port that a test may shut down and
  restart (CI's own Redis is shared with the test process and is left alone).
- `RoomClient`: a websocket client that follows docs/protocol.md's client duties: session
  cookie + Origin, `hello {after: last seq seen}` on every (re)connect, exponential backoff
  with full jitter, an outbox re-sent with the same client_id after `ready`. It records
  every anomaly the server must never produce on one socket (a gap, a repeated seq).
- `fault_note`: observations printed in the terminal summary ("fault observations"), so a
  CI log shows e.g. whether live delivery recovered after a Redis restart.

The tests need PostgreSQL and Redis. Without DATABASE_URL and REDIS_URL they skip, except
under CI (env CI set), where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from tests import live

NEEDS_SERVICES = "needs DATABASE_URL and REDIS_URL: run `bash .ci/run`, which starts both"
START_TIMEOUT = 20.0
LOG_TAIL_CHARS = 20_000
# Server log lines that mean the application itself failed.
PROBLEM_MARKERS = ("Traceback", "Exception inside application", "ERROR")

_NOTES: list[str] = []


# --- services --------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _real_services() -> None:
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if not missing:
        return
    message = f"{NEEDS_SERVICES} (missing: {', '.join(missing)})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter) -> None:
    if _NOTES:
        terminalreporter.section("fault observations")
        for note in _NOTES:
            terminalreporter.write_line(note)


@pytest.fixture
def fault_note(request) -> Callable[[str], None]:
    """fault_note(text): an observation shown in the terminal summary (and on stdout)."""

    def note(text: str) -> None:
        line = f"{request.node.name}: {text}"
        _NOTES.append(line)
        print(line)

    return note


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
    except OSError:
        return False


# --- Daphne processes ------------------------------------------------------------------------
class DaphneProcess:
    """One Daphne process; it keeps its port across kill -9 and restart."""

    def __init__(self, name: str, env: dict[str, str], args: list[str], log_dir: Path):
        self.name = name
        self.env = env
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    origin = url

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> None:
        """Start on `port` (retrying while it is still held) or on a free port."""
        fixed = port is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            use = port if fixed else live.free_port()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            with self.log_path.open("ab") as log_file:
                log_file.write(f"===== start on port {use} =====\n".encode())
                log_file.flush()
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "daphne",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(use),
                        *self.args,
                        "config.asgi:application",
                    ],
                    cwd=live.REPO_ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            while self.process.poll() is None and time.monotonic() < deadline:
                if port_open(use):
                    self.port = use
                    self.starts += 1
                    return
                time.sleep(0.05)
            self._stop()
            output = self.log_path.read_bytes()[offset:].decode(errors="replace")
            if "Address already in use" in output and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            pytest.fail(
                f"Daphne {self.name} did not accept connections on port {use} "
                f"(exit status {self.process.returncode}). Its output:\n{output[-LOG_TAIL_CHARS:]}",
                pytrace=False,
            )

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no close frames; the kernel resets its connections."""
        assert self.process is not None and self.process.poll() is None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> None:
        """Start again on the same port (after kill9)."""
        self.start(port=self.port)

    def _stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        self._stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def problems(self) -> list[str]:
        """Log lines that mean the application failed (tracebacks, 'Exception inside ...')."""
        return [line for line in self.log().splitlines() if any(m in line for m in PROBLEM_MARKERS)]


class DaphnePool:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.servers: list[DaphneProcess] = []

    def start(
        self, count: int, *, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> list[DaphneProcess]:
        """`count` Daphne processes on the test database; env adds to/overrides theirs."""
        started = []
        for _ in range(count):
            name = f"daphne{len(self.servers) + 1}"
            server = DaphneProcess(name, live.server_env(env), list(args or []), self.log_dir)
            self.servers.append(server)
            server.start()
            started.append(server)
        return started

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def daphne_pool(transactional_db) -> Iterator[DaphnePool]:
    """Start Daphne processes with `daphne_pool.start(n, env=..., args=...)`; all stop after."""
    with tempfile.TemporaryDirectory(prefix="convene-fault-") as tmp:
        pool = DaphnePool(Path(tmp))
        try:
            yield pool
        finally:
            pool.stop_all()
            for server in pool.servers:  # captured by pytest: shown only when the test fails
                print(f"----- {server.name} on port {server.port} (starts {server.starts}) -----")
                print(server.log()[-LOG_TAIL_CHARS:])


# --- a Redis of our own -----------------------------------------------------------------------
class RedisProcess:
    """redis-server in the foreground on a fixed free port, without persistence."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = live.free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                    "--logfile",
                    str(self.log_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            while self.process.poll() is None and time.monotonic() < deadline:
                if self.ping():
                    return
                time.sleep(0.05)
            self.stop()
            if time.monotonic() >= deadline:
                pytest.fail(f"redis-server did not start on port {self.port}:\n{self.log()}")
            time.sleep(0.2)  # the port is still held (TIME_WAIT, or a previous instance)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def shutdown_nosave(self) -> None:
        """What an operator's restart does: `redis-cli shutdown nosave`, all data gone."""
        subprocess.run(
            ["redis-cli", "-u", self.url, "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert self.process is not None
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        message = "needs redis-server and redis-cli on PATH (`bash .ci/run` installs them)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="convene-fault-redis-") as tmp:
        redis = RedisProcess(Path(tmp))
        redis.start()
        try:
            yield redis
        finally:
            redis.stop()


# --- members ------------------------------------------------------------------------------------
@pytest.fixture
def make_members(make_member):
    """make_members(n) -> [(member, cookie header)] for n distinct members."""

    def make(count: int) -> list[tuple[Any, str]]:
        members = [make_member(f"Fault member {n:02d}") for n in range(1, count + 1)]
        return [(member, live.cookie_header(member)) for member in members]

    return make


# --- waiting ---------------------------------------------------------------------------------
async def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: Callable[[], str] | str = "condition",
    *,
    interval: float = 0.02,
) -> bool:
    """Poll until predicate() is true; on timeout raise AssertionError describing `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {detail}")
        await asyncio.sleep(interval)
    return True


async def reached(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll until predicate() is true or `timeout` passes; say which."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# --- the client -------------------------------------------------------------------------------
FATAL_CLOSE_CODES = {4401, 4403, 4404, 4429}


class RoomClient:
    """A room socket that behaves like static/js/room.js, instrumented.

    Start it with `start()`; it connects, says `hello {after: last_seq}` and keeps doing
    so after every drop (backoff with full jitter). `post()` puts a message in the outbox
    and sends it if the socket is ready; after every `ready` the whole outbox is re-sent
    with the same client_ids. An `ack`, or our own `message.created`, settles a message.
    """

    def __init__(
        self,
        *,
        name: str,
        member_id: int,
        cookie: str,
        server: DaphneProcess,
        path: str,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
    ):
        self.name = name
        self.member_id = member_id
        self.cookie = cookie
        self.server = server
        self.path = path
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

        self.last_seq = 0
        # (seq, kind, data id, data client_id) of every event this client received.
        self.events: list[tuple[int, str, Any, Any]] = []
        self.anomalies: list[str] = []  # things the server must never do
        self.errors: list[dict] = []  # error frames
        self.outbox: dict[str, str] = {}  # client_id -> body, not yet settled
        self.sent: dict[str, str] = {}  # every client_id ever posted -> body
        self.acks: dict[str, tuple[int, int]] = {}  # client_id -> (id, seq) from ack frames
        self.repeat_acks = 0  # acks for a client_id already acked (re-send after a drop)
        self.resent = 0  # sends repeated after a reconnect
        self.ready_frames: list[dict] = []
        self.online: list[dict] | None = None
        self.presence_log: list[tuple[float, list[dict]]] = []

        self.connects = 0  # sockets opened
        self.failed_connects = 0  # attempts that never opened
        self.connect_errors: list[str] = []
        # (monotonic time, close code received or None, last seq seen) per unplanned drop
        self.drops: list[tuple[float, int | None, int]] = []
        self.hellos: list[int] = []  # the `after` of every hello sent
        self.acked_at_drop: set[str] = set()  # client_ids acked before the first drop
        self.resyncs = 0  # deliberate reconnects asked for by the test

        self._ws: ClientConnection | None = None
        self._ready = False
        self._stopping = False
        self._resync_now = False
        self._task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return (
            f"<{self.name} last_seq={self.last_seq} ready={self._ready} connects={self.connects} "
            f"drops={len(self.drops)} outbox={len(self.outbox)} anomalies={self.anomalies[:3]}>"
        )

    @property
    def ready(self) -> bool:
        return self._ready

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"client {self.name}")

    async def stop(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(TimeoutError, WebSocketException, OSError):
                await asyncio.wait_for(ws.close(), 2)
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            except Exception as error:  # a client bug: make it visible
                self.anomalies.append(f"client task crashed: {error!r}")

    async def resync(self) -> None:
        """Reconnect now and resume with hello {after: last seq seen} (a stall detected)."""
        self.resyncs += 1
        self._resync_now = True
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            url = self.server.ws_url + self.path
            ws: ClientConnection | None = None
            try:
                async with connect(
                    url,
                    additional_headers={"Origin": self.server.origin, "Cookie": self.cookie},
                    proxy=None,
                    open_timeout=5,
                    close_timeout=2,
                ) as ws:
                    self._ws = ws
                    self.connects += 1
                    self.hellos.append(self.last_seq)
                    await ws.send(json.dumps({"type": "hello", "after": self.last_seq}))
                    async for raw in ws:
                        if await self._on_frame(ws, json.loads(raw)):
                            attempt = 0
            except (OSError, TimeoutError, WebSocketException) as error:
                if ws is None:
                    self.failed_connects += 1
                    self.connect_errors.append(f"{type(error).__name__}: {error}"[:200])
            finally:
                self._ws = None
                self._ready = False
            if ws is not None:
                close = ws.protocol.close_rcvd
                code = close.code if close is not None else None
                if not self._stopping and not self._resync_now:
                    if not self.drops:
                        self.acked_at_drop = set(self.acks)
                    self.drops.append((time.monotonic(), code, self.last_seq))
                if code in FATAL_CLOSE_CODES:
                    self.anomalies.append(f"server closed the socket with {code}")
                    return
            if self._stopping:
                return
            if self._resync_now:
                self._resync_now = False
                continue
            delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))
            attempt += 1
            await asyncio.sleep(delay)

    # --- frames -------------------------------------------------------------------------------
    async def _on_frame(self, ws: ClientConnection, frame: dict) -> bool:
        """Handle one frame; True when it was `ready`."""
        kind = frame.get("type")
        if kind == "event":
            self._on_event(frame)
        elif kind == "ready":
            if frame.get("last_seq") != self.last_seq:
                self.anomalies.append(
                    f"ready.last_seq {frame.get('last_seq')} but the client saw {self.last_seq}"
                )
            self.ready_frames.append(frame)
            state = frame.get("state") or {}
            if "online" in state:
                self._set_online(state["online"])
            self._ready = True
            for client_id, body in list(self.outbox.items()):
                if client_id in self.outbox:
                    self.resent += 1
                    await ws.send(self._send_frame(client_id, body))
            return True
        elif kind == "ack":
            self._settle(frame["client_id"], (frame["id"], frame["seq"]), ack=True)
        elif kind == "error":
            self.errors.append(frame)
            self.outbox.pop(frame.get("client_id"), None)  # refused: nothing was stored
        elif kind == "presence":
            self._set_online(frame.get("online"))
        elif kind not in {"pong", "typing", "state"}:
            self.anomalies.append(f"unexpected frame {str(frame)[:200]}")
        return False

    def _on_event(self, frame: dict) -> None:
        seq = frame.get("seq")
        if not isinstance(seq, int):
            self.anomalies.append(f"event without an integer seq: {str(frame)[:200]}")
            return
        if seq <= self.last_seq:
            self.anomalies.append(f"repeated seq {seq} (already saw {self.last_seq})")
            return
        if seq != self.last_seq + 1:
            self.anomalies.append(f"gap: seq {seq} after {self.last_seq}")
        self.last_seq = seq
        data = frame.get("data") or {}
        self.events.append((seq, frame.get("kind"), data.get("id"), data.get("client_id")))
        author = (data.get("author") or {}).get("id")
        if frame.get("kind") == "message.created" and author == self.member_id:
            self._settle(data.get("client_id"), (data.get("id"), seq), ack=False)

    def _settle(self, client_id: str, stored: tuple[int, int], *, ack: bool) -> None:
        if client_id not in self.sent:
            self.anomalies.append(f"ack/event for a client_id we never sent: {client_id}")
            return
        if ack:
            previous = self.acks.get(client_id)
            if previous is not None:
                self.repeat_acks += 1
                if previous != stored:
                    self.anomalies.append(
                        f"client_id {client_id} acked as {previous} and then as {stored}"
                    )
            self.acks[client_id] = stored
        self.outbox.pop(client_id, None)

    def _set_online(self, online: Any) -> None:
        if not isinstance(online, list):
            self.anomalies.append(f"online is not a list: {online!r}")
            return
        self.online = online
        self.presence_log.append((time.monotonic(), online))

    @staticmethod
    def _send_frame(client_id: str, body: str) -> str:
        return json.dumps({"type": "send", "client_id": client_id, "body": body})

    # --- sending -------------------------------------------------------------------------------
    async def post(self, body: str) -> str:
        client_id = str(uuid.uuid4())
        self.outbox[client_id] = body
        self.sent[client_id] = body
        ws = self._ws
        if ws is not None and self._ready:
            # If the socket just dropped, the outbox re-sends it after the next ready.
            with contextlib.suppress(WebSocketException):
                await ws.send(self._send_frame(client_id, body))
        return client_id

    async def repost(self, client_ids: list[str], timeout: float = 30.0) -> None:
        """Send already-sent messages again, same client_id and body (a lost-ack re-send)."""
        for client_id in client_ids:
            self.outbox[client_id] = self.sent[client_id]
            ws = self._ws
            if ws is not None and self._ready:
                with contextlib.suppress(WebSocketException):
                    await ws.send(self._send_frame(client_id, self.sent[client_id]))
        await wait_until(lambda: not self.outbox, timeout, lambda: f"{self!r} to settle re-posts")

    async def post_many(
        self, count: int, *, window: int, prefix: str, timeout: float = 60.0
    ) -> None:
        """Post `count` messages, at most `window` unsettled at a time; wait until all settle."""
        for n in range(count):
            await wait_until(
                lambda: len(self.outbox) < window,
                timeout,
                lambda: f"{self!r} to free its send window",
                interval=0.005,
            )
            await self.post(f"{prefix} {self.name} #{n}")
        await wait_until(lambda: not self.outbox, timeout, lambda: f"{self!r} to settle")


async def start_clients(clients: list[RoomClient], timeout: float = 20.0) -> None:
    for client in clients:
        client.start()
    await wait_until(
        lambda: all(c.ready for c in clients),
        timeout,
        lambda: f"every client to be ready: {[c for c in clients if not c.ready]}",
    )


async def stop_clients(clients: list[RoomClient]) -> None:
    await asyncio.gather(*(client.stop() for client in clients))


async def catch_up(
    clients: list[RoomClient], final_seq: int, *, live_wait: float, resume_wait: float = 20.0
) -> list[RoomClient]:
    """Wait for live delivery up to `final_seq`; resume the clients still behind.

    Returns the clients that had to resume (their live delivery stalled).
    """
    await reached(lambda: all(c.last_seq >= final_seq for c in clients), live_wait)
    stalled = [c for c in clients if c.last_seq < final_seq]
    for client in stalled:
        await client.resync()
    await wait_until(
        lambda: all(c.last_seq >= final_seq and c.ready for c in clients),
        resume_wait,
        lambda: (
            f"every client to reach seq {final_seq} after resuming: "
            f"{[c for c in clients if c.last_seq < final_seq or not c.ready]}"
        ),
    )
    return stalled


# --- the database, as the contract sees it -----------------------------------------------------
def room_messages(room_id: int) -> list[dict[str, Any]]:
    """Every stored message of the room, in seq order."""
    from community.models import Message

    return list(
        Message.objects.filter(room_id=room_id)
        .order_by("seq", "pk")
        .values("id", "seq", "client_id", "author_id", "body", "created")
    )


def assert_consistent(
    clients: list[RoomClient], stored: list[dict[str, Any]], room_id: int
) -> None:
    """Invariants 1 and 2 plus idempotency, for everything these clients sent and saw."""
    # Nothing the server must never do happened on any socket.
    anomalies = {c.name: c.anomalies for c in clients if c.anomalies}
    assert not anomalies, f"protocol violations seen by clients: {anomalies}"
    errors = {c.name: c.errors for c in clients if c.errors}
    assert not errors, f"error frames: {errors}"
    unsettled = {c.name: list(c.outbox) for c in clients if c.outbox}
    assert not unsettled, f"messages never settled: {unsettled}"

    # The log: seqs 1..N, one message per client_id (per author), every sent one present.
    seqs = [row["seq"] for row in stored]
    assert seqs == list(range(1, len(stored) + 1)), f"room {room_id} seqs are not 1..N: {seqs}"
    keys = [(row["author_id"], str(row["client_id"])) for row in stored]
    assert len(keys) == len(set(keys)), "a (author, client_id) is stored twice"
    sent = {(c.member_id, cid): body for c in clients for cid, body in c.sent.items()}
    by_key = {(row["author_id"], str(row["client_id"])): row for row in stored}
    assert set(by_key) == set(sent), (
        f"stored messages differ from the messages sent: missing {len(set(sent) - set(by_key))}, "
        f"unexpected {len(set(by_key) - set(sent))}"
    )
    assert all(by_key[key]["body"] == body for key, body in sent.items())

    # Invariant 1: every acknowledged message is stored, with the acked id and seq.
    for client in clients:
        for client_id, (message_id, seq) in client.acks.items():
            row = by_key.get((client.member_id, client_id))
            assert row is not None, f"{client.name}: acked {client_id} is not in the database"
            assert (row["id"], row["seq"]) == (message_id, seq), (
                f"{client.name}: ack {client_id} says id {message_id} seq {seq}, "
                f"the database says id {row['id']} seq {row['seq']}"
            )

    # Invariant 2: every client saw exactly the log, in order, once.
    expected = [(row["seq"], "message.created", row["id"], str(row["client_id"])) for row in stored]
    for client in clients:
        if client.events != expected:
            first = next(
                (
                    n
                    for n, (a, b) in enumerate(zip(client.events, expected, strict=False))
                    if a != b
                ),
                min(len(client.events), len(expected)),
            )
            raise AssertionError(
                f"{client.name} saw {len(client.events)} events, the log has {len(expected)}; "
                f"first difference at index {first}"
            )
