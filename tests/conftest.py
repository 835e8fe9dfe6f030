"""Shared fixtures: members with organisations, a moderator, rooms, the shared data folder."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

_counter = itertools.count(1)

REAL_SERVICES = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))


def pytest_collection_modifyitems(items):
    # Every async test ends by stopping this loop's realtime hub, so no hub task is left
    # for the event loop's own teardown to wait on.
    for item in items:
        if item.get_closest_marker("asyncio") and "_hub_stopped" not in item.fixturenames:
            item.fixturenames.append("_hub_stopped")


@pytest.fixture
async def _hub_stopped():
    yield
    from realtime.hub import hub

    await hub.stop()


@pytest.fixture(scope="session", autouse=True)
def _database_thread_closed(django_db_setup, django_db_blocker):
    """Persistent connections (DB_CONN_MAX_AGE) opened on asgiref's one database thread
    by async tests: closed before the test database is dropped, which PostgreSQL refuses
    while a session is open."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    with django_db_blocker.unblock():
        SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate limits and slow mode live in the cache; tests must not leak them into each other.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _plain_http(settings):
    # Production settings redirect to HTTPS (the proxy terminates TLS); the test client
    # speaks plain HTTP, so CI's production-mode run would see only 301s.
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness costs ~0.3 s a member; tests need correctness, not cost.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture
def shared_data() -> Path:
    path = Path(settings.SHARED_DATA_DIR)
    if not path.is_dir():
        pytest.fail(
            f"The shared test data is missing: expected {path} (set CONVENE_SHARED_DATA to "
            "its location). Tests read real inputs from there and never copy them."
        )
    return path


@pytest.fixture
def sector(db):
    from community.models import Sector

    return Sector.objects.get_or_create(
        code="J", defaults={"name": "Information and Communication", "slug": "j-information"}
    )[0]


@pytest.fixture
def make_member(db, sector):
    from community.models import Member, Organisation

    def make(name: str | None = None, *, moderator: bool = False, organisation=None, **extra):
        n = next(_counter)
        if organisation is None:
            organisation = Organisation.objects.create(
                name=f"Org {n}", slug=f"org-{n}", sector=sector
            )
        return Member.objects.create_user(
            email=f"member{n}@example.test",
            password="a-long-test-password",
            display_name=name or f"Member {n}",
            organisation=organisation,
            is_moderator=moderator,
            **extra,
        )

    return make


@pytest.fixture
def member(make_member):
    return make_member("Amira Shah")


@pytest.fixture
def other_member(make_member):
    return make_member("Tom Baines")


@pytest.fixture
def moderator(make_member):
    return make_member("Morgan Reyes", moderator=True)


@pytest.fixture
def make_room(db, sector):
    from community import services
    from community.models import Room

    def make(name: str | None = None, **kwargs):
        return services.room_create(
            name=name or f"Room {next(_counter)}",
            kind=kwargs.pop("kind", Room.Kind.CHALLENGE),
            **kwargs,
        )

    return make


@pytest.fixture
def room(make_room):
    return make_room("Skills shortages")
