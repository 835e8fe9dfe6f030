"""Server processes the benchmark starts and stops: Daphne (ours), the baseline, Redis."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
    except OSError:
        return False


def proc_rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/PID/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat), for others' share."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


@dataclass
class Server:
    """One running server process listening on 127.0.0.1:port."""

    name: str
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _start(name: str, argv: list[str], env: dict[str, str], log_dir: Path, port: int) -> Server:
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(name=name, process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while server.alive() and time.monotonic() < deadline:
        if port_open(port):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(
        f"{name} did not listen on port {port} within {START_TIMEOUT:.0f} s "
        f"(exit status {process.returncode}). Its output:\n{server.log_tail()}"
    )


def start_daphne(env: dict[str, str], log_dir: Path) -> Server:
    """Ours: `python -m daphne -b 127.0.0.1 -p PORT config.asgi:application`."""
    last_error: Exception | None = None
    for _attempt in range(3):  # a port found free can be taken before the server binds it
        port = free_port()
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        try:
            return _start("daphne", [*argv, "config.asgi:application"], env, log_dir, port)
        except RuntimeError as error:
            last_error = error
    raise RuntimeError(str(last_error))


def start_baseline(log_dir: Path) -> Server:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    last_error: Exception | None = None
    for _attempt in range(3):
        port = free_port()
        argv = [sys.executable, "-m", "bench.baseline_server", "--port", str(port)]
        try:
            return _start("baseline", argv, env, log_dir, port)
        except RuntimeError as error:
            last_error = error
    raise RuntimeError(str(last_error))


def redis_command(url_or_port: str | int, *args: str, timeout: float = 5.0) -> bytes:
    """One command over RESP to a Redis on this machine; returns the raw reply."""
    if isinstance(url_or_port, int):
        host, port, db = "127.0.0.1", url_or_port, 0
    else:
        from urllib.parse import urlsplit

        parts = urlsplit(url_or_port)
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
        db = int(parts.path.strip("/") or 0)
    payload = b""
    for command in ([("SELECT", str(db))] if db else []) + [args]:
        payload += f"*{len(command)}\r\n".encode()
        for arg in command:
            data = str(arg).encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = b""
        expected_replies = 2 if db else 1
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks += chunk
            if _replies_complete(chunks, expected_replies):
                break
    return chunks


def _replies_complete(data: bytes, count: int) -> bool:
    pos = 0
    for _ in range(count):
        end = data.find(b"\r\n", pos)
        if end < 0:
            return False
        kind, head = data[pos : pos + 1], data[pos + 1 : end]
        pos = end + 2
        if kind == b"$":
            length = int(head)
            if length >= 0:
                if len(data) < pos + length + 2:
                    return False
                pos += length + 2
    return True


def redis_used_memory(url_or_port: str | int) -> int | None:
    """Redis's own `used_memory` in bytes, or None if it cannot be read."""
    try:
        reply = redis_command(url_or_port, "INFO", "memory").decode(errors="replace")
    except OSError:
        return None
    for line in reply.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":", 1)[1])
    return None


class RedisServer:
    """A throwaway redis-server on a free port, or the one REDIS_URL names."""

    def __init__(self, log_dir: Path, url: str | None = None) -> None:
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.external = bool(url)
        self.url = url or ""
        self.port: int | None = None

    def start(self) -> RedisServer:
        if self.external:
            reply = redis_command(self.url, "PING")
            if b"PONG" not in reply:
                raise RuntimeError(f"REDIS_URL {self.url} does not answer PING: {reply!r}")
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed (apt-get install redis-server), "
                "and REDIS_URL is not set"
            )
        for _attempt in range(3):
            port = free_port()
            log_path = self.log_dir / f"redis-{port}.log"
            argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
            argv += ["--appendonly", "no", "--dir", str(self.log_dir), "--logfile", str(log_path)]
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + 15
            while self.process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    if b"PONG" in redis_command(port, "PING", timeout=0.5):
                        self.port = port
                        self.url = f"redis://127.0.0.1:{port}/0"
                        return self
                time.sleep(0.05)
            stop_process(self.process)
        raise RuntimeError("redis-server did not start")

    def flush(self) -> None:
        """Forget the previous server's channels and groups (only a Redis we started)."""
        if not self.external:
            redis_command(self.url, "FLUSHALL")

    def used_memory(self) -> int | None:
        return redis_used_memory(self.url)

    def cpu_seconds(self) -> float:
        """CPU time of the redis-server we started (0 for an external one)."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        return proc_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
