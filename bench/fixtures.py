"""A throwaway SQLite database for the benchmark: members, one room, one session each.

Runs in the harness process with DJANGO_SETTINGS_MODULE=config.settings and the same
SQLITE_PATH and SECRET_KEY as the Daphne process it starts, so the session cookies made
here are valid there. Only the ORM and Django's own session machinery are used; the
server itself is reached over websockets only.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path


@dataclass
class Fixtures:
    room_id: int
    stream_id: int
    cookies: list[str]  # "sessionid=..." per member, member i for client i

    @property
    def ws_path(self) -> str:
        return f"/ws/rooms/{self.room_id}/"


def database_env(sqlite_path: Path, secret_key: str) -> dict[str, str]:
    """What points config/settings.py at the benchmark's database, for harness and server."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "",  # empty: embedded mode, SQLite at SQLITE_PATH
        "SQLITE_PATH": str(sqlite_path),
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "0",  # production-like: no query log growing in the server
    }


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)  # the harness needs no cache or channel layer
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def create(members: int) -> Fixtures:
    """`members` members (no organisation, unusable passwords), one room, a session each."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import connection, transaction
    from django.utils import timezone

    from community.models import Member, Room
    from community.services import room_create

    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        raise RuntimeError(
            f"bench makes database sessions; SESSION_ENGINE is {settings.SESSION_ENGINE}"
        )
    with transaction.atomic():
        room = room_create(name="Benchmark room", kind=Room.Kind.ROUNDTABLE)
        Member.objects.bulk_create(
            [
                Member(
                    email=f"bench{i:05d}@bench.invalid",
                    display_name=f"Bench member {i}",
                    password=make_password(None),
                )
                for i in range(members)
            ],
            batch_size=500,
        )
        found = list(
            Member.objects.filter(email__endswith="@bench.invalid")
            .order_by("email")
            .only("password")
        )
        backend = settings.AUTHENTICATION_BACKENDS[0]
        store = SessionStore()
        expires = timezone.now() + timedelta(days=2)
        sessions = []
        for member in found:
            data = {
                SESSION_KEY: str(member.pk),
                BACKEND_SESSION_KEY: backend,
                HASH_SESSION_KEY: member.get_session_auth_hash(),
            }
            key = secrets.token_hex(16)
            sessions.append(
                Session(session_key=key, session_data=store.encode(data), expire_date=expires)
            )
        Session.objects.bulk_create(sessions, batch_size=500)
    name = settings.SESSION_COOKIE_NAME
    fixtures = Fixtures(
        room_id=room.pk,
        stream_id=room.stream_id,
        cookies=[f"{name}={s.session_key}" for s in sessions],
    )
    connection.close()
    return fixtures


def stream_last_seq(stream_id: int) -> int:
    """The room's current last seq: every client's hello asks for events after it."""
    from django.db import connection

    from realtime.models import Stream

    try:
        return Stream.objects.values_list("last_seq", flat=True).get(pk=stream_id)
    finally:
        connection.close()  # hold no SQLite handle while the server writes
