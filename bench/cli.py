"""`python -m bench`: Convene's fan-out against a bare `websockets` broadcast server.

For each channel layer asked for, and each client count N:

- throughput + latency: N clients connect and say hello; S senders send M messages between
  them (at most `--window` unacked each); every client must receive every message exactly
  once and in seq order. Reported: messages delivered per second (frames delivered to all
  clients / wall time from the first send to the last delivery), send-to-receive latency
  percentiles, and any loss;
- memory per idle connection: a fresh server's RSS before and after K idle connections
  have said hello and got `ready`, (after - before) / K.

The baseline (bench/baseline_server.py) runs the same scenarios with the same clients in
the same run; tables show ours, baseline and ours/baseline. Results also go to
var/bench/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import wait as wait_connections
from pathlib import Path
from typing import Any

from bench import fixtures, machine, profile
from bench.clients import Plan, raise_nofile, worker_entry
from bench.servers import (
    REPO_ROOT,
    RedisServer,
    Server,
    load_average,
    machine_busy_seconds,
    start_baseline,
    start_daphne,
)

RESULTS_DIR = REPO_ROOT / "var" / "bench"
LAYERS = ("inmemory", "redis", "redis-pubsub")
REDIS_BACKEND = "channels_redis.core.RedisChannelLayer"
PUBSUB_BACKEND = "channels_redis.pubsub.RedisPubSubChannelLayer"
WARMUP_CLIENTS = 5
# DESIGN.md, "Fan-out budget": at 1,000 clients at least a quarter of the bare server's
# delivered messages/s with p95 < 500 ms; at most 3x its memory per idle connection.
TARGET_CLIENTS = 1000
TARGET_THROUGHPUT_RATIO = 0.25
TARGET_P95_MS = 500.0
TARGET_MEMORY_RATIO = 3.0

_started = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- arguments ------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected whole numbers, got {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Convene's websocket fan-out beside a bare websockets broadcast server.",
    )
    parser.add_argument("--clients", type=_int_list, help="client counts (default 100,500,1000)")
    parser.add_argument("--senders", type=int, default=5, help="clients that send (default 5)")
    parser.add_argument("--messages", type=int, help="messages per scenario, all senders together")
    parser.add_argument(
        "--idle", type=_int_list, help="idle connection counts (default 1000,5000; 0: none)"
    )
    parser.add_argument(
        "--layer",
        action="append",
        help="channel layer(s) for our server: inmemory, redis, redis-pubsub; repeat or "
        "comma-separate (default: inmemory,redis)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke sizes: 20 clients, 20 messages, 200 idle connections, no profile",
    )
    parser.add_argument("--window", type=int, default=10, help="unacked sends per sender")
    parser.add_argument(
        "--target-load",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the saturating runs at 1,000 clients, run both servers at a fixed load "
        "of a quarter of the bare server's delivered rate and take the p95 target there "
        "(default: on, off with --quick or --rate)",
    )
    parser.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="clients say hello {batch: true}, as the browser client does, so ours may send "
        "consecutive events as one frame (default); --no-batch measures one frame per event",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="offered load in messages/s, all senders together (default: as fast as acks "
        "allow, which saturates the server and so measures queueing, not just fan-out)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each throughput pair this many times and report the median (default 1)",
    )
    parser.add_argument(
        "--workers", type=int, help="client processes (default: 2, or 4 on 4+ cores)"
    )
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=16,
        help="handshakes in flight at once, all workers together (default 16)",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=30.0,
        help="give up after this many seconds without a frame (default 30)",
    )
    parser.add_argument(
        "--connect-deadline",
        type=float,
        default=600.0,
        help="idle scenario: stop opening connections after this many seconds and measure "
        "what is open (default 600)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds between the last idle connection's ready and the RSS reading (default 2)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one extra run of ours at the largest client count under py-spy "
        "(default: on unless --quick, when py-spy is installed)",
    )
    parser.add_argument("--output", type=Path, help="JSON results (default var/bench/latest.json)")
    parser.add_argument(
        "--db-dir",
        type=Path,
        help="where the throwaway SQLite database goes (default: the system temp directory; "
        "/dev/shm takes disk syncs out of the figures)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and logs")
    args = parser.parse_args(argv)

    quick = args.quick
    args.clients = args.clients or ([20] if quick else [100, 500, 1000])
    if 0 in args.clients:
        parser.error("--clients must be positive")
    args.messages = args.messages or (20 if quick else 200)
    args.idle = args.idle or ([200] if quick else [1000, 5000])
    args.idle = [k for k in args.idle if k > 0]  # --idle 0: no idle-memory scenario
    layers: list[str] = []
    for item in args.layer or ["inmemory,redis"]:
        for name in item.split(","):
            name = name.strip()
            if name not in LAYERS:
                parser.error(f"--layer must be one of {', '.join(LAYERS)}, got {name!r}")
            if name not in layers:
                layers.append(name)
    args.layers = layers
    args.layers_explicit = args.layer is not None
    if args.senders < 1 or args.messages < args.senders:
        parser.error("need at least one sender and at least one message per sender")
    if args.senders > min(args.clients):
        parser.error("--senders cannot exceed the smallest --clients")
    if args.profile is None:
        args.profile = not quick and profile.py_spy_binary() is not None
    if args.target_load is None:
        args.target_load = not quick and not args.rate
    if args.workers is None:
        args.workers = 4 if (os.cpu_count() or 2) >= 4 else 2
    args.output = args.output or RESULTS_DIR / "latest.json"
    return args


# --- worker processes ---------------------------------------------------------------------


class Workers:
    """Client worker processes for one scenario, each owning every W-th client."""

    def __init__(self, plans: list[Plan]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes = []
        self.processes = []
        for plan in plans:
            parent, child = context.Pipe()
            process = context.Process(target=worker_entry, args=(plan, child), daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def gather(self, kind: str, timeout: float) -> list[dict[str, Any]]:
        """One message of `kind` from every worker, in worker order."""
        replies: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(replies) < len(self.pipes):
            waiting = [p for i, p in enumerate(self.pipes) if i not in replies]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(waiting)} client worker(s) sent no {kind!r} in time")
            for pipe in wait_connections(waiting, timeout=remaining):
                index = self.pipes.index(pipe)
                try:
                    got, payload = pipe.recv()
                except EOFError:
                    raise RuntimeError(f"client worker {index} died") from None
                if got != kind:
                    raise RuntimeError(f"client worker {index} sent {got!r}, expected {kind!r}")
                replies[index] = payload
        return [replies[i] for i in range(len(self.pipes))]

    def tell(self, command: str) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):  # a worker that already exited
                pipe.send(command)

    def finish(self) -> None:
        self.tell("exit")
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
        for pipe in self.pipes:
            pipe.close()


def make_plans(
    *,
    args: argparse.Namespace,
    mode: str,
    server: Server,
    path: str,
    cookies: list[str],
    after: int | None,
    tag: str,
    sender_counts: list[int] | None = None,
    workers: int | None = None,
) -> list[Plan]:
    workers = max(1, min(workers or args.workers, len(cookies)))
    concurrency = max(1, math.ceil(args.connect_concurrency / workers))
    plans = []
    for w in range(workers):
        indices = list(range(w, len(cookies), workers))
        senders = {}
        for local, global_index in enumerate(indices):
            if sender_counts and global_index < len(sender_counts):
                senders[local] = global_index  # clients 0..S-1 send, spread over workers
        plans.append(
            Plan(
                worker=w,
                mode=mode,
                url=server.ws_url(path),
                origin=server.origin,
                cookies=[cookies[i] for i in indices],
                after=after,
                senders=senders,
                sender_counts=sender_counts or [],
                tag=tag,
                window=args.window,
                connect_concurrency=concurrency,
                open_timeout=120.0,
                stall_timeout=args.stall_timeout,
                open_deadline=args.connect_deadline,
                rate=args.rate,
                batch=args.batch,
            )
        )
    return plans


def _open_totals(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    failures: Counter[str] = Counter()
    for s in summaries:
        failures.update(dict(s["failures"]))
    frames: Counter[str] = Counter()
    for s in summaries:
        frames.update(s.get("other_frames", {}))
    return {
        # Frames other than events/acks each client got while the others connected (presence).
        "connect_frames": dict(frames),
        "connect_frame_bytes": sum(s.get("other_bytes", 0) for s in summaries),
        "connected": sum(s["connected"] for s in summaries),
        "failed": sum(s["failed"] for s in summaries),
        "failures": failures.most_common(5),
        "replayed": sum(s["replayed"] for s in summaries),
        "retries": sum(s["retries"] for s in summaries),
        "open_s": round(max(s["open_s"] for s in summaries), 2),
    }


def _percentile(sorted_values: list[int], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index] / 1e6


# --- scenarios --------------------------------------------------------------------------


def run_throughput(
    *,
    args: argparse.Namespace,
    server: Server,
    path: str,
    cookies: list[str],
    after: int | None,
    clients: int,
    redis: RedisServer | None = None,
    profiler: profile.Profiler | None = None,
) -> dict[str, Any]:
    senders = args.senders
    per, extra = divmod(args.messages, senders)
    sender_counts = [per + (1 if s < extra else 0) for s in range(senders)]
    tag = f"b{secrets.token_hex(3)}"
    plans = make_plans(
        args=args,
        mode="throughput",
        server=server,
        path=path,
        cookies=cookies[:clients],
        after=after,
        tag=tag,
        sender_counts=sender_counts,
    )
    workers = Workers(plans)
    try:
        opened = _open_totals(workers.gather("ready", timeout=300 + clients * 0.2))
        result: dict[str, Any] = {"clients": clients, **opened}
        if opened["failed"]:
            result.update(ok=False, problem=f"{opened['failed']} client(s) could not connect")
            return result
        cpu_before = server.cpu_seconds()
        redis_before = redis.cpu_seconds() if redis else 0.0
        busy_before = machine_busy_seconds()
        go_ns = time.perf_counter_ns()
        if profiler is not None:
            profiler.start()
        workers.tell("go")
        try:
            parts = workers.gather("result", timeout=3600)
        finally:
            end_ns = time.perf_counter_ns()
            if profiler is not None:
                profiler.stop()
        server_cpu = server.cpu_seconds() - cpu_before
        redis_cpu = (redis.cpu_seconds() - redis_before) if redis else 0.0
        busy = machine_busy_seconds() - busy_before
        alive = server.alive()
        server.stop()  # before the clients close: nothing to learn from 1,000 disconnects
    finally:
        workers.finish()
        server.stop()

    latencies = array("q")
    for part in parts:
        latencies.frombytes(part["latencies"])
    ordered = sorted(latencies)
    first_send = min((p["first_send"] for p in parts if p["first_send"]), default=go_ns)
    last_recv = max((p["last_recv"] for p in parts), default=0)
    last_ack = max((p["last_ack"] for p in parts), default=0)
    delivered = sum(p["received"] for p in parts)
    clients_cpu = sum(p["cpu_s"] for p in parts)
    expected = clients * args.messages
    acked = sum(p["acked"] for p in parts)
    wall = max(1e-9, (last_recv - first_send) / 1e9)
    phase = max(1e-9, (end_ns - go_ns) / 1e9)
    errors: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    frames_during: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
        closed.update(dict(p["closed"]))
        frames_during.update(p["other_frames_during"])
    problems = []
    if delivered != expected:
        problems.append(f"lost {expected - delivered} of {expected} deliveries")
    integrity = {
        k: sum(p[k] for p in parts) for k in ("duplicates", "out_of_order", "gaps", "foreign")
    }
    for key, count in integrity.items():
        if count:
            problems.append(f"{count} {key.replace('_', '-')}")
    if acked != args.messages:
        problems.append(f"{acked} of {args.messages} sends acked")
    if errors:
        problems.append(f"error frames {dict(errors)}")
    if closed:
        problems.append(f"sockets closed {dict(closed)}")
    if any(p["stalled"] for p in parts):
        problems.append(f"stalled (no frame for {args.stall_timeout:.0f} s)")
    if not alive:
        problems.append("server died")
    if opened["replayed"]:
        problems.append(f"{opened['replayed']} events replayed before ready")
    incomplete = [s for p in parts for s in p["incomplete_sample"]]
    result.update(
        ok=not problems,
        problem="; ".join(problems),
        messages=args.messages,
        senders=senders,
        expected=expected,
        delivered=delivered,
        complete_clients=sum(p["complete_clients"] for p in parts),
        incomplete_sample=incomplete[:10],
        **integrity,
        errors=dict(errors),
        closed=dict(closed),
        other_frames_during=dict(frames_during),
        acked=acked,
        wall_s=round(wall, 3),
        delivered_per_s=round(delivered / wall, 1),
        # Above 1 only where the server sent `batch` frames (ours, to clients that asked).
        events_per_frame=round(delivered / max(1, sum(p["event_frames"] for p in parts)), 2),
        sends_per_s=round(acked / max(1e-9, (last_ack - first_send) / 1e9), 1),
        latency_ms={
            "p50": round(_percentile(ordered, 50), 2),
            "p95": round(_percentile(ordered, 95), 2),
            "p99": round(_percentile(ordered, 99), 2),
            "max": round(_percentile(ordered, 100), 2),
        },
        server_cpu_pct=round(100 * server_cpu / phase, 1),
        server_cpu_us_per_delivery=round(1e6 * server_cpu / max(1, delivered), 1),
        clients_cpu_pct=round(100 * clients_cpu / phase, 1),
        redis_cpu_pct=round(100 * redis_cpu / phase, 1),
        # Everything else on the machine during the run (other people's tests...): figures
        # taken while this is high understate both servers, the slower one most.
        others_cpu_pct=round(
            100 * max(0.0, busy - server_cpu - clients_cpu - redis_cpu) / phase, 1
        ),
        load_average=[round(x, 2) for x in load_average()],
    )
    return result


def run_idle(
    *,
    args: argparse.Namespace,
    server: Server,
    path: str,
    cookies: list[str],
    after: int | None,
    count: int,
    redis: RedisServer | None = None,
) -> dict[str, Any]:
    """RSS growth of a fresh server per idle, hello'ed connection."""
    try:
        # Warm-up: the first connections load code, open the database, start thread pools.
        warm = Workers(
            make_plans(
                args=args,
                mode="idle",
                server=server,
                path=path,
                cookies=cookies[:WARMUP_CLIENTS],
                after=after,
                tag="warm",
                workers=1,
            )
        )
        try:
            warm_open = _open_totals(warm.gather("ready", timeout=120))
        finally:
            warm.finish()
        if warm_open["failed"]:
            return {"idle": count, "ok": False, "problem": f"warm-up failed: {warm_open}"}
        time.sleep(1.0)
        rss_before = server.rss_kib()
        redis_before = redis.used_memory() if redis else None
        workers = Workers(
            make_plans(
                args=args,
                mode="idle",
                server=server,
                path=path,
                cookies=cookies[:count],
                after=after,
                tag="idle",
            )
        )
        try:
            opened = _open_totals(workers.gather("ready", timeout=600 + count * 0.2))
            time.sleep(args.settle)
            alive = server.alive()
            rss_after = server.rss_kib() if alive else rss_before
            redis_after = redis.used_memory() if redis else None
            workers.tell("status")
            status = workers.gather("status", timeout=60)
            server.stop()
        finally:
            workers.finish()
    finally:
        server.stop()
    connected = opened["connected"]
    problems = []
    if opened["failed"]:
        problems.append(f"{opened['failed']} of {count} could not connect: {opened['failures']}")
    if not alive:
        problems.append("server died")
    closed: Counter[str] = Counter()
    for part in status:
        closed.update(dict(part["closed"]))
    if closed:
        problems.append(f"the server closed sockets before the reading: {dict(closed)}")
    result = {
        "idle": count,
        "closed": dict(closed),
        **opened,
        "ok": not problems,
        "problem": "; ".join(problems),
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "kib_per_connection": round((rss_after - rss_before) / max(1, connected), 2),
    }
    if redis_before is not None and redis_after is not None:
        result["redis_kib_per_connection"] = round(
            (redis_after - redis_before) / 1024 / max(1, connected), 2
        )
    return result


# --- our server's environment -----------------------------------------------------------


def layer_backend(env: dict[str, str]) -> str:
    """Which channel layer the server's settings pick with this environment."""
    code = "from django.conf import settings; print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"settings did not load:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


class LayerUnavailable(RuntimeError):
    """The settings cannot select the channel layer asked for."""


class Ours:
    """Starts fresh Daphne processes for one channel layer."""

    def __init__(
        self, layer: str, base_env: dict[str, str], log_dir: Path, redis: RedisServer | None
    ) -> None:
        self.layer = layer
        self.log_dir = log_dir
        self.redis = redis
        env = {
            **base_env,
            # The benchmark's senders post far faster than a person; the limiter must not refuse.
            "RATE_LIMIT_POSTS": "1000000000",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        if layer == "inmemory":
            env["REDIS_URL"] = ""
        else:
            env["REDIS_URL"] = redis.url
        env.pop("CHANNEL_LAYER", None)
        env.pop("CHANNEL_LAYER_BACKEND", None)
        if layer == "redis":
            env["CHANNEL_LAYER"] = "redis"
        elif layer == "redis-pubsub":
            env["CHANNEL_LAYER"] = "redis-pubsub"
        self.env = env
        self.backend = layer_backend(env)
        expected = {"redis": REDIS_BACKEND, "redis-pubsub": PUBSUB_BACKEND}.get(layer)
        if expected and self.backend != expected:
            # config/settings.py picks the layer from CHANNEL_LAYER (since ca342fa); an
            # older checkout would silently measure the wrong layer under this name.
            raise LayerUnavailable(
                f"config/settings.py chose {self.backend} for CHANNEL_LAYER={layer}, not {expected}"
            )
        self._count = 0
        self.code: dict = {}

    def start(self) -> Server:
        # Other people commit while a long run goes on: say which code each server ran.
        self.code = machine.code_stamp()
        env = dict(self.env)
        if self.redis is not None:
            self.redis.flush()
            self._count += 1
            # A prefix of its own: a shared Redis keeps no groups from an earlier server.
            env["CHANNEL_PREFIX"] = f"bench{os.getpid()}x{self._count}"
        return start_daphne(env, self.log_dir)


# --- output ------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(ours: Any, base: Any) -> float | None:
    try:
        if ours is None or base in (None, 0):
            return None
        return ours / base
    except TypeError:
        return None


def throughput_rows(ours: dict, base: dict) -> list[tuple[str, str, str, str]]:
    def both(get, digits=0, ratio_digits=2):
        o, b = get(ours), get(base)
        r = _ratio(o, b)
        return (
            _fmt(o, digits),
            _fmt(b, digits),
            (f"{r:.{ratio_digits}f}x" if r is not None else "-"),
        )

    lat = lambda key: lambda r: r.get("latency_ms", {}).get(key)  # noqa: E731
    return [
        ("delivered msg/s", *both(lambda r: r.get("delivered_per_s"), 0, 3)),
        ("events per frame", *both(lambda r: r.get("events_per_frame"), 2)),
        ("latency p50 ms", *both(lat("p50"), 1)),
        ("latency p95 ms", *both(lat("p95"), 1)),
        ("latency p99 ms", *both(lat("p99"), 1)),
        ("sends acked /s", *both(lambda r: r.get("sends_per_s"), 0)),
        ("server CPU %", *both(lambda r: r.get("server_cpu_pct"), 0)),
        ("server CPU us/msg", *both(lambda r: r.get("server_cpu_us_per_delivery"), 1)),
        ("clients CPU %", *both(lambda r: r.get("clients_cpu_pct"), 0)),
        ("others' CPU %", *both(lambda r: r.get("others_cpu_pct"), 0)),
        ("connect+ready s", *both(lambda r: r.get("open_s"), 1)),
        ("handshake retries", *both(lambda r: r.get("retries"), 0)),
        (
            "correctness",
            "ok" if ours.get("ok") else f"FAIL: {ours.get('problem')}",
            "ok" if base.get("ok") else f"FAIL: {base.get('problem')}",
            "",
        ),
    ]


def render(report: dict) -> str:
    m = report["machine"]
    out = [
        "",
        f"Convene fan-out benchmark  {report['date']}  commit {report['commit']}"
        + (" (+ uncommitted changes)" if report["dirty"] else ""),
        f"machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), "
        f"{m['ram_gib']} GiB RAM, Python {m['python']}, kernel {m['kernel']}",
        f"scenario: {report['args']['senders']} senders, {report['args']['messages']} messages, "
        f"window {report['args']['window']}, "
        + (f"offered {report['args']['rate']:g} msg/s, " if report["args"]["rate"] else "")
        + f"{report['args']['workers']} client processes, "
        + ("hello {batch: true}" if report["args"].get("batch", True) else "no batch frames")
        + (f", median of {report['args']['repeat']} runs" if report["args"]["repeat"] > 1 else ""),
        f"load average at start {report['load_average_start']}, at end "
        f"{report.get('load_average_end')} ('others' CPU %' below: what the rest of the machine "
        "used during each run)",
    ]
    for layer, section in report["layers"].items():
        out += ["", f"== layer {layer}: {section.get('backend', '')} =="]
        if section.get("skipped"):
            out.append(f"skipped: {section['skipped']}")
            continue
        stamps = {
            json.dumps(r["ours"].get("server_code"), sort_keys=True)
            for key in ("throughput", "idle")
            for r in section[key]
        }
        if len(stamps) > 1:
            out.append(
                "note: the server code changed during this layer's runs (see server_code "
                "per result in the JSON)"
            )
        if section["throughput"]:
            out.append("")
            out.append(
                f"{'clients':>7}  {'metric':<18} {'ours':>14} {'baseline':>14} {'ours/base':>10}"
            )
            for row in section["throughput"]:
                for i, (metric, o, b, r) in enumerate(
                    throughput_rows(row["ours"], row["baseline"])
                ):
                    n = str(row["clients"]) if i == 0 else ""
                    if metric == "correctness":
                        out.append(f"{n:>7}  {metric:<18} ours {o}; baseline {b}")
                    else:
                        out.append(f"{n:>7}  {metric:<18} {o:>14} {b:>14} {r:>10}")
                out.append("")
        steady = section.get("target_load")
        if steady:
            out.append(
                f"at a steady {steady['rate']} messages/s into the {steady['clients']}-client "
                f"room (a quarter of the bare server's delivered rate: "
                f"{steady['wanted_per_s']:,.0f} msg/s wanted):"
            )
            for i, (metric, o, b, r) in enumerate(
                throughput_rows(steady["ours"], steady["baseline"])
            ):
                n = str(steady["clients"]) if i == 0 else ""
                if metric == "correctness":
                    out.append(f"{n:>7}  {metric:<18} ours {o}; baseline {b}")
                else:
                    out.append(f"{n:>7}  {metric:<18} {o:>14} {b:>14} {r:>10}")
            out.append("")
        if section["idle"]:
            out.append(
                f"{'idle':>7}  {'ours KiB/conn':>14} {'baseline':>14} {'ours/base':>10}"
                f"  {'ours RSS MiB':<12} {'connect s ours/base':>20} {'retries':>8}  redis KiB/conn"
            )
            for row in section["idle"]:
                o, b = row["ours"], row["baseline"]
                r = _ratio(o.get("kib_per_connection"), b.get("kib_per_connection"))
                before, after = o.get("rss_before_kib", 0), o.get("rss_after_kib", 0)
                rss = f"{before / 1024:.0f}->{after / 1024:.0f}"
                connect = f"{_fmt(o.get('open_s'), 1)} / {_fmt(b.get('open_s'), 1)}"
                out.append(
                    f"{row['idle']:>7}  {_fmt(o.get('kib_per_connection'), 1):>14} "
                    f"{_fmt(b.get('kib_per_connection'), 1):>14} "
                    f"{(f'{r:.2f}x' if r else '-'):>10}  {rss:<12} {connect:>20} "
                    f"{_fmt(o.get('retries'), 0):>8}  {_fmt(o.get('redis_kib_per_connection'), 1)}"
                )
                for who, res in (("ours", o), ("baseline", b)):
                    if not res.get("ok", True):
                        out.append(f"         {who} FAILED: {res.get('problem')}")
        targets = section.get("targets", {})
        if targets:
            out.append("")
            out.append("DESIGN targets (Fan-out budget):")
            for line in targets.get("lines", []):
                out.append(f"  {line}")
        prof = section.get("profile")
        if prof:
            out.append("")
            if prof.get("error"):
                out.append(f"profile: {prof['error']}")
            else:
                out.append(
                    f"profile ({prof['clients']} clients, separate run): {prof['svg']}, "
                    f"{prof['summary_path']}; top self time:"
                )
                for name, pct in prof["summary"]["self"][:8]:
                    out.append(f"  {pct:5.1f}%  {name}")
    out.append("")
    return "\n".join(out)


def evaluate_targets(section: dict) -> dict:
    lines = []
    verdicts = {}
    rows = section["throughput"]
    if rows:
        at = [r for r in rows if r["clients"] == TARGET_CLIENTS] or [
            max(rows, key=lambda r: r["clients"])
        ]
        row = at[0]
        o, b = row["ours"], row["baseline"]
        ratio = _ratio(o.get("delivered_per_s"), b.get("delivered_per_s"))
        p95 = o.get("latency_ms", {}).get("p95")
        met = bool(
            ratio is not None
            and ratio >= TARGET_THROUGHPUT_RATIO
            and p95 is not None
            and p95 < TARGET_P95_MS
            and o.get("ok")
        )
        where = f"{row['clients']} clients" + (
            "" if row["clients"] == TARGET_CLIENTS else f" (target is set at {TARGET_CLIENTS})"
        )
        ratio_text = f"{ratio:.3f}x" if ratio is not None else "n/a"
        base_p95 = b.get("latency_ms", {}).get("p95")
        if section.get("target_load"):
            # The verdict is taken at the steady quarter load below; here, capacity only.
            lines.append(
                f"capacity at {where} (senders as fast as acks allow): ours/baseline "
                f"{ratio_text} (need >= {TARGET_THROUGHPUT_RATIO}); p95 there is queueing: "
                f"ours {_fmt(p95, 1)} ms, baseline {_fmt(base_p95, 1)} ms"
            )
        else:
            lines.append(
                f"throughput at {where}: ours/baseline {ratio_text} (need >= "
                f"{TARGET_THROUGHPUT_RATIO}), p95 {_fmt(p95, 1)} ms (need < "
                f"{TARGET_P95_MS:.0f}), correct: {'yes' if o.get('ok') else 'no'} -> "
                f"{'MET' if met else 'NOT MET'}"
            )
        ours_us, base_us = o.get("server_cpu_us_per_delivery"), b.get("server_cpu_us_per_delivery")
        if ours_us and base_us:
            # A single-process server's ceiling is one core / CPU per delivery: a ratio that
            # holds even when the clients or other load, not the servers, limit the run.
            lines.append(
                f"server CPU per delivery at {row['clients']} clients: ours {ours_us:,.0f} us, "
                f"baseline {base_us:,.0f} us -> ours can deliver at most "
                f"{base_us / ours_us:.2f}x the baseline's rate on equal CPU"
            )
        verdicts["throughput"] = {
            "clients": row["clients"],
            "ratio": ratio,
            "p95_ms": p95,
            "met": met,
        }
        steady = section.get("target_load")
        if steady:
            so = steady["ours"]
            steady_p95 = so.get("latency_ms", {}).get("p95")
            delivered = so.get("delivered_per_s")
            wanted = steady["wanted_per_s"]
            steady_met = bool(
                ratio is not None
                and ratio >= TARGET_THROUGHPUT_RATIO
                and delivered is not None
                and delivered >= wanted * 0.98  # the paced senders' start-up and drain
                and steady_p95 is not None
                and steady_p95 < TARGET_P95_MS
                and so.get("ok")
            )
            lines.append(
                f"a quarter of the bare server's rate at {steady['clients']} clients: ours "
                f"delivered {_fmt(delivered, 0)} msg/s (wanted {wanted:,.0f}) with p95 "
                f"{_fmt(steady_p95, 1)} ms (need < {TARGET_P95_MS:.0f}), saturated ratio "
                f"{ratio_text}, correct: {'yes' if so.get('ok') else 'no'} -> "
                f"{'MET' if steady_met else 'NOT MET'}"
            )
            verdicts["throughput_at_quarter_load"] = {
                "rate": steady["rate"],
                "delivered_per_s": delivered,
                "wanted_per_s": wanted,
                "p95_ms": steady_p95,
                "met": steady_met,
            }
    memory = []
    for row in section["idle"]:
        ratio = _ratio(
            row["ours"].get("kib_per_connection"), row["baseline"].get("kib_per_connection")
        )
        met = bool(ratio is not None and ratio <= TARGET_MEMORY_RATIO and row["ours"].get("ok"))
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "n/a"
        lines.append(
            f"memory per idle connection at {row['idle']}: ours/baseline {ratio_text} "
            f"(need <= {TARGET_MEMORY_RATIO:.0f}x) -> {'MET' if met else 'NOT MET'}"
        )
        memory.append({"idle": row["idle"], "ratio": ratio, "met": met})
    if memory:
        verdicts["memory"] = memory
    return {"lines": lines, **verdicts}


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A plain `kill` unwinds like Ctrl-C, so every server this run started is stopped.
    signal.signal(signal.SIGTERM, _terminated)
    raise_nofile()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="convene-bench-", dir=args.db_dir))
    log_dir = workdir / "logs"
    log_dir.mkdir()
    log(f"work directory {workdir}")

    base_env = {
        **os.environ,
        **fixtures.database_env(workdir / "bench.sqlite3", secrets.token_hex(32)),
    }
    fixtures.setup_django(base_env)
    log("migrating a fresh SQLite database")
    fixtures.migrate()
    members = max([*args.clients, *args.idle, WARMUP_CLIENTS])
    log(f"creating {members} members, one room, one session each")
    data = fixtures.create(members)

    commit = machine.git_commit()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit["commit"],
        "dirty": commit["dirty"],
        "machine": machine.machine(),
        "args": {
            "clients": args.clients,
            "senders": args.senders,
            "messages": args.messages,
            "idle": args.idle,
            "window": args.window,
            "rate": args.rate,
            "batch": args.batch,
            "workers": args.workers,
            "connect_concurrency": args.connect_concurrency,
            "layers": args.layers,
            "repeat": args.repeat,
            "quick": args.quick,
            "target_load": args.target_load,
            "db_dir": str(workdir.parent),
        },
        "targets": {
            "clients": TARGET_CLIENTS,
            "throughput_ratio_min": TARGET_THROUGHPUT_RATIO,
            "p95_ms_max": TARGET_P95_MS,
            "memory_ratio_max": TARGET_MEMORY_RATIO,
        },
        "load_average_start": [round(x, 2) for x in load_average()],
        "layers": {},
    }
    baseline_cache: dict[tuple[str, int], dict] = {}
    redis: RedisServer | None = None
    failed = False
    try:
        for layer in args.layers:
            section: dict[str, Any] = {"throughput": [], "idle": []}
            report["layers"][layer] = section
            if layer != "inmemory" and redis is None:
                try:
                    redis = RedisServer(log_dir, os.environ.get("REDIS_URL") or None).start()
                    log(f"redis at {redis.url}" + (" (REDIS_URL)" if redis.external else ""))
                except RuntimeError as error:
                    section["skipped"] = str(error)
                    log(f"layer {layer} skipped: {error}")
                    if args.layers_explicit:
                        failed = True
                    continue
            try:
                ours = Ours(layer, base_env, log_dir, redis if layer != "inmemory" else None)
            except LayerUnavailable as error:
                section["skipped"] = str(error)
                log(f"layer {layer} skipped: {error}")
                failed |= args.layers_explicit
                continue
            section["backend"] = ours.backend

            for clients in args.clients:
                # Baseline and ours back to back (and alternating with --repeat), so that
                # whatever else the machine is doing weighs on both alike.
                runs: dict[str, list[dict]] = {"ours": [], "baseline": []}
                for attempt in range(args.repeat):
                    label = f" (run {attempt + 1} of {args.repeat})" if args.repeat > 1 else ""
                    log(f"baseline: {clients} clients, {args.messages} messages{label}")
                    base = run_throughput(
                        args=args,
                        server=start_baseline(log_dir),
                        path="/",
                        cookies=data.cookies,
                        after=0,
                        clients=clients,
                    )
                    log(f"  -> {_summary_line(base)}")
                    runs["baseline"].append(base)
                    log(f"ours ({layer}): {clients} clients, {args.messages} messages{label}")
                    server = ours.start()
                    result = run_throughput(
                        args=args,
                        server=server,
                        path=data.ws_path,
                        cookies=data.cookies,
                        after=fixtures.stream_last_seq(data.stream_id),
                        clients=clients,
                        redis=ours.redis,
                    )
                    _attach_log(result, server)
                    result["server_code"] = ours.code
                    log(f"  -> {_summary_line(result)}")
                    runs["ours"].append(result)
                row = {"clients": clients}
                for who, results in runs.items():
                    row[who] = _median_run(results)
                    failed |= not all(r["ok"] for r in results)
                if args.repeat > 1:
                    row["runs"] = runs
                section["throughput"].append(row)
                _save(report, args.output, partial=True)

            target_row = next(
                (r for r in section["throughput"] if r["clients"] == TARGET_CLIENTS), None
            )
            if args.target_load and target_row and target_row["baseline"].get("ok"):
                section["target_load"] = run_target_load(
                    args=args, ours=ours, data=data, log_dir=log_dir, saturated=target_row
                )
                _save(report, args.output, partial=True)

            for count in args.idle:
                key = ("idle", count)
                if key not in baseline_cache:
                    log(f"baseline: {count} idle connections")
                    baseline_cache[key] = run_idle(
                        args=args,
                        server=start_baseline(log_dir),
                        path="/",
                        cookies=data.cookies,
                        after=0,
                        count=count,
                    )
                    log(f"  -> {_idle_line(baseline_cache[key])}")
                log(f"ours ({layer}): {count} idle connections")
                server = ours.start()
                result = run_idle(
                    args=args,
                    server=server,
                    path=data.ws_path,
                    cookies=data.cookies,
                    after=fixtures.stream_last_seq(data.stream_id),
                    count=count,
                    redis=redis if layer != "inmemory" and not redis.external else None,
                )
                _attach_log(result, server)
                result["server_code"] = ours.code
                log(f"  -> {_idle_line(result)}")
                section["idle"].append(
                    {"idle": count, "ours": result, "baseline": baseline_cache[key]}
                )
                _save(report, args.output, partial=True)
                failed |= not (result["ok"] and baseline_cache[key]["ok"])

            section["targets"] = evaluate_targets(section)
            if args.profile:
                section["profile"] = run_profile(args, ours, data, layer)
    finally:
        if redis is not None:
            redis.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    report["load_average_end"] = [round(x, 2) for x in load_average()]
    text = render(report)
    print(text)
    _save(report, args.output, partial=False)
    log(f"results written to {_rel(args.output)}")
    return 1 if failed else 0


def _terminated(signum, _frame) -> None:
    log(f"stopped by signal {signum}; stopping the servers this run started")
    sys.exit(128 + signum)


def run_target_load(
    *,
    args: argparse.Namespace,
    ours: Ours,
    data: fixtures.Fixtures,
    log_dir: Path,
    saturated: dict,
) -> dict:
    """Both servers at the load the throughput target names: a quarter of the bare
    server's delivered msg/s, offered at a steady rate into the 1,000-client room.

    The saturating runs measure capacity, and their latency is queueing (the bare server
    misses 500 ms there too); this run asks whether ours delivers a quarter of the bare
    server's rate with p95 under 500 ms.
    """
    clients = saturated["clients"]
    wanted = TARGET_THROUGHPUT_RATIO * saturated["baseline"]["delivered_per_s"]
    rate = math.ceil(wanted / clients)  # messages/s into the room
    steady = argparse.Namespace(**vars(args))
    steady.rate = rate
    steady.messages = max(args.messages, rate * 15)  # about 15 s of steady load
    runs = {}
    for who in ("baseline", "ours"):
        log(f"{who}: {clients} clients at {rate} messages/s (a quarter of the bare server's rate)")
        if who == "baseline":
            server, path, after, redis = start_baseline(log_dir), "/", 0, None
        else:
            server, path = ours.start(), data.ws_path
            after, redis = fixtures.stream_last_seq(data.stream_id), ours.redis
        result = run_throughput(
            args=steady,
            server=server,
            path=path,
            cookies=data.cookies,
            after=after,
            clients=clients,
            redis=redis,
        )
        if who == "ours":
            _attach_log(result, server)
            result["server_code"] = ours.code
        log(f"  -> {_summary_line(result)}")
        runs[who] = result
    return {
        "clients": clients,
        "rate": rate,
        "wanted_per_s": round(wanted, 1),
        "messages": steady.messages,
        **runs,
    }


def run_profile(args: argparse.Namespace, ours: Ours, data: fixtures.Fixtures, layer: str) -> dict:
    clients = max(args.clients)
    stem = RESULTS_DIR / f"profile-{layer}"
    log(f"ours ({layer}): {clients} clients under py-spy (not part of the table)")
    server = ours.start()
    profiler = profile.Profiler(server.pid, stem.with_suffix(".raw"), stem.with_suffix(".svg"))
    try:
        result = run_throughput(
            args=args,
            server=server,
            path=data.ws_path,
            cookies=data.cookies,
            after=fixtures.stream_last_seq(data.stream_id),
            clients=clients,
            redis=ours.redis,
            profiler=profiler,
        )
        summary = profile.summarise(profiler.raw_path, server.pid)
    except (OSError, RuntimeError) as error:
        server.stop()
        return {"error": f"profiling failed: {error}"}
    result["server_code"] = ours.code
    summary_path = stem.with_suffix(".txt")
    title = f"py-spy, ours ({layer}), {clients} clients, {args.messages} messages"
    summary_path.write_text(profile.summary_text(summary, title) + "\n")
    log(f"  -> {_summary_line(result)} (profiled); summary in {_rel(summary_path)}")
    return {
        "clients": clients,
        "run": {
            k: result.get(k)
            for k in ("ok", "delivered_per_s", "latency_ms", "problem", "server_code")
        },
        "svg": _rel(profiler.svg_path),
        "raw": _rel(profiler.raw_path),
        "summary_path": _rel(summary_path),
        "summary": summary,
    }


def _save(report: dict, path: Path, *, partial: bool) -> None:
    """Write the JSON (after every scenario too, so a long run that is cut short keeps some)."""
    report["partial"] = partial
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def _median_run(results: list[dict]) -> dict:
    """The run with the median delivered msg/s; a failed run wins, so failures show."""
    failed = [r for r in results if not r["ok"]]
    if failed:
        return failed[0]
    ordered = sorted(results, key=lambda r: r["delivered_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _attach_log(result: dict, server: Server) -> None:
    tail = server.log_tail(3000).strip()
    if tail and not result.get("ok", True):
        result["server_log_tail"] = tail


def _summary_line(r: dict) -> str:
    if "delivered_per_s" not in r:
        return f"FAILED: {r.get('problem')}"
    lat = r["latency_ms"]
    state = "ok" if r["ok"] else f"PROBLEM: {r['problem']}"
    return (
        f"{r['delivered_per_s']:,.0f} msg/s, p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
        f"p99 {lat['p99']:.1f} ms, connect {r['open_s']:.1f} s ({r['retries']} retries), "
        "server CPU "
        f"{r['server_cpu_pct']:.0f}%, clients CPU {r['clients_cpu_pct']:.0f}%; {state}"
    )


def _idle_line(r: dict) -> str:
    state = "ok" if r["ok"] else f"PROBLEM: {r['problem']}"
    if "kib_per_connection" not in r:
        return state
    return (
        f"{r['kib_per_connection']:.1f} KiB/connection (RSS {r['rss_before_kib'] / 1024:.0f} -> "
        f"{r['rss_after_kib'] / 1024:.0f} MiB), connect {r['open_s']:.1f} s, "
        f"{r['retries']} handshake retries; {state}"
    )
