"""Demo data from the real inputs: sectors, challenges, replayed chat; idempotent."""

from __future__ import annotations

import re

import pytest

from community import demo
from community.models import Challenge, Member, Message, Room, Sector
from realtime.models import Event

pytestmark = pytest.mark.django_db


def test_sectors_challenges_and_chat_load_once(shared_data):
    assert demo.sectors_load(shared_data) == 21
    assert demo.challenges_load() >= 3
    replayed = demo.chat_replay(shared_data, lines=300)
    assert replayed == 300
    counts = (
        Sector.objects.count(),
        Challenge.objects.count(),
        Room.objects.count(),
        Message.objects.count(),
        Event.objects.count(),
        Member.objects.count(),
    )
    assert counts[:4] == (21, len(demo.CHALLENGES), 21 + len(demo.CHALLENGES), 300)
    # Second run: nothing duplicated, nothing fails.
    demo.sectors_load(shared_data)
    demo.challenges_load()
    assert demo.chat_replay(shared_data, lines=300) == 0  # nothing new the second time
    assert counts == (
        Sector.objects.count(),
        Challenge.objects.count(),
        Room.objects.count(),
        Message.objects.count(),
        Event.objects.count(),
        Member.objects.count(),
    )
    titles = set(Challenge.objects.values_list("title", flat=True))
    assert {
        "Skills shortages in key sectors",
        "An ageing population",
        "Keeping graduates in the county",
    } <= titles
    assert all(room.stream_id for room in Room.objects.all())


def test_replayed_chat_never_shows_a_real_nickname(shared_data):
    demo.sectors_load(shared_data)
    demo.chat_replay(shared_data, lines=300)
    path = shared_data / "chat" / "2010-08-17_18.raw.txt"
    nicks = set(demo.log_nicks(path))
    assert {"Nikie", "Kelha"} <= nicks  # a speaker, and someone only ever addressed
    room = Room.objects.get(sector__code="J")
    assert "Kummerfeld" in room.credit and "CC BY 4.0" in room.credit
    names = set(Member.objects.filter(messages__room=room).values_list("display_name", flat=True))
    assert names and not (names & nicks)
    text = " ".join(Message.objects.values_list("body", flat=True))
    leaked = [
        n for n in nicks if len(n) > 3 and re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)
    ]
    assert leaked == []
    # History keeps the log's order and its time of day (UTC).
    first = Message.objects.order_by("seq").first()
    assert first.created.year == 2010 and first.seq == 1


def test_builtin_set_without_shared_data():
    assert demo.sectors_load(None) == len(demo.BUILTIN_SECTORS)
    assert demo.chat_replay(None) == 0
    assert Room.objects.filter(kind=Room.Kind.SECTOR).count() == len(demo.BUILTIN_SECTORS)


def test_demo_accounts(shared_data):
    demo.sectors_load(shared_data)
    accounts = demo.accounts_load()
    assert len(accounts) == 3
    moderator = Member.objects.get(email=accounts[0][1])
    members = [Member.objects.get(email=email) for _, email, _ in accounts[1:]]
    assert moderator.is_moderator and moderator.check_password(demo.DEMO_PASSWORD)
    assert members[0].organisation != members[1].organisation
    assert demo.accounts_load() == accounts and Member.objects.count() == 3
