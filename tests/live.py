"""Real servers for end-to-end and browser tests.

`daphne_server` starts a real Daphne process (``python -m daphne ... config.asgi:application``)
on a free port, pointed at the very database pytest-django created for this run: the
SQLite test file (``SQLITE_PATH``) or the PostgreSQL test database (``DATABASE_URL``).
It needs ``transactional_db`` so that what a test writes is committed and visible to the
server, and it inherits ``REDIS_URL`` so both processes share the channel layer and cache.

Register the fixtures in a conftest with ``from tests.live import daphne_server``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOG_TAIL_CHARS = 20_000


@dataclass
class LiveServer:
    """A running Daphne process: `url` for HTTP, `ws_url` for websockets (no trailing slash)."""

    url: str
    ws_url: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def origin(self) -> str:
        return self.url

    def log(self) -> str:
        """What the server has written to stdout and stderr so far (the tail of it)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_env(settings_dict: Mapping) -> dict[str, str]:
    """Environment that points config/settings.py at the database described by settings_dict.

    Call it after pytest-django has set up the test database, so NAME is the test name.
    """
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine == "django.db.backends.sqlite3":
        if name == ":memory:" or name.startswith("file:") or "mode=memory" in name:
            raise RuntimeError(
                f"The SQLite test database is in memory ({name!r}); a server process cannot "
                "share it. settings.DATABASES['default']['TEST']['NAME'] must be a file."
            )
        # An empty DATABASE_URL means embedded mode (SQLite at SQLITE_PATH).
        return {"SQLITE_PATH": name, "DATABASE_URL": ""}
    if engine in {"django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"}:
        user = quote(str(settings_dict.get("USER") or ""), safe="")
        password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
        host = str(settings_dict.get("HOST") or "")
        # A socket directory goes in percent-encoded (dj-database-url decodes it).
        host = quote(host, safe="") if host.startswith("/") else host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # IPv6 literal
        port = settings_dict.get("PORT")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        netloc = f"{credentials}{host}{f':{port}' if port else ''}"
        url = f"postgres://{netloc}/{quote(name, safe='')}"
        sslmode = (settings_dict.get("OPTIONS") or {}).get("sslmode")
        if sslmode:
            url += f"?sslmode={quote(str(sslmode), safe='')}"
        return {"DATABASE_URL": url}
    raise RuntimeError(f"tests.live does not know how to share a {engine} database")


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment plus what makes the server use the same database."""
    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    env.update(database_env(connection.settings_dict))
    env.update(
        {
            # The settings module pytest-django configured (config.settings unless --ds).
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
            # Session cookies made in the test process must be valid in the server.
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # With DATABASE_URL set, settings default to production (HTTPS redirect, secure
            # cookies); the tests speak plain http, so DEBUG is asked for explicitly.
            "DEBUG": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if extra:
        env.update(extra)
    return env


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running_daphne(extra_env: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    """Start Daphne on a free port, wait until it accepts connections, stop it afterwards.

    The caller must already hold committed test data (``transactional_db``).
    """
    env = server_env(extra_env)
    with tempfile.TemporaryDirectory(prefix="convene-daphne-") as tmp:
        log_path = Path(tmp) / "daphne.log"
        # A port found free can be taken before Daphne binds it; retry a few times.
        for attempt in range(3):
            port = free_port()
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "daphne",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "config.asgi:application",
                    ],
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            server = LiveServer(
                url=f"http://127.0.0.1:{port}",
                ws_url=f"ws://127.0.0.1:{port}",
                port=port,
                process=process,
                log_path=log_path,
            )
            deadline = time.monotonic() + START_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if _port_open(port):
                    break
                time.sleep(0.05)
            if process.poll() is None and _port_open(port):
                break
            _stop(process)
            log = server.log()
            if "Address already in use" in log and attempt < 2:
                continue
            pytest.fail(
                f"Daphne did not accept connections on port {port} within {START_TIMEOUT:.0f} s "
                f"(exit status {process.returncode}). Its output:\n{log}",
                pytrace=False,
            )
        try:
            yield server
        finally:
            _stop(server.process)
            # Captured by pytest: shown only when the test fails.
            print(f"----- daphne on port {server.port} (exit {server.process.returncode}) -----")
            print(server.log())


@pytest.fixture
def daphne_server(transactional_db) -> Iterator[LiveServer]:
    """A real Daphne process serving config.asgi:application on the test database."""
    with running_daphne() as server:
        yield server


def session_cookie_value(member) -> str:
    """A session for `member` stored in the test database (which the server reads too)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(member)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def cookie_header(member) -> str:
    from django.conf import settings

    return f"{settings.SESSION_COOKIE_NAME}={session_cookie_value(member)}"
