"""The room page in real Chromium against a real Daphne: live chat, moderation, resume.

Sync Playwright API (it cannot run inside an asyncio loop), so these tests are sync.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from community.models import Message

pytestmark = pytest.mark.browser

LIVE = '#connection[data-state="live"]'
expect.set_options(timeout=10_000)


def open_room(page: Page, server, room) -> Page:
    page.goto(f"{server.url}/rooms/{room.pk}/")
    expect(page.locator(LIVE)).to_be_attached()
    return page


def say(page: Page, text: str) -> None:
    page.locator("#composer-body").fill(text)
    page.locator("#composer-body").press("Enter")


def message(page: Page, text: str):
    return page.locator("#messages li.message", has_text=text)


def sees_once(page: Page, text: str) -> None:
    expect(message(page, text)).to_have_count(1)


def seqs(page: Page) -> list[int]:
    return [
        int(seq)
        for seq in page.locator("#messages li.message").evaluate_all(
            "items => items.map((li) => li.dataset.seq)"
        )
    ]


def times(page: Page) -> dict[str, dict[str, str]]:
    """Each shown message's <time>: its text, datetime and title, by message id."""
    return page.locator("#messages li.message").evaluate_all(
        """items => Object.fromEntries(items.map((li) => {
            const time = li.querySelector("time");
            return [li.dataset.id, {text: time.textContent.trim(), datetime: time.dateTime,
                                    title: time.title}];
        }))"""
    )


def mark_page(page: Page) -> None:
    """Tag the live document: the tag disappears if the page is ever reloaded."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def test_two_members_chat_live_and_a_room_mute_reaches_open_pages(
    signed_in, daphne_server, member, other_member, moderator, room
):
    alice = open_room(signed_in(member), daphne_server, room)
    bob = open_room(signed_in(other_member), daphne_server, room)
    mark_page(bob)

    say(alice, "Hello from Amira")
    sees_once(bob, "Hello from Amira")
    sees_once(alice, "Hello from Amira")
    expect(alice.locator("#outbox li")).to_have_count(0)
    expect(alice.locator("#composer-body")).to_have_value("")

    say(bob, "Hi Amira, Tom here")
    sees_once(alice, "Hi Amira, Tom here")
    sees_once(bob, "Hi Amira, Tom here")
    assert seqs(alice) == seqs(bob) == [1, 2]

    mod = open_room(signed_in(moderator), daphne_server, room)
    mod.locator("#mute-form input[name=reason]").fill("Cooling off")
    asked = []
    mod.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    mod.locator("#mute-room").click()  # confirmed, a form POST, then a redirect back
    expect(mod.locator("#unmute-room")).to_be_visible()
    assert asked == ["Make this room read-only for everyone but moderators?"]
    expect(mod.locator(LIVE)).to_be_attached()

    for page in (bob, alice):
        expect(page.locator("#composer-body")).to_be_disabled()
        expect(page.locator("#composer-send")).to_be_disabled()
        expect(page.locator("#room-muted-notice")).to_be_visible()
        expect(page.locator("#room-muted-reason")).to_have_text(": Cooling off")
    assert Message.objects.filter(room=room).count() == 2
    # A moderator may still post in a muted room (to explain).
    expect(mod.locator("#composer-body")).to_be_enabled()

    mod.locator("#unmute-room").click()
    expect(mod.locator("#mute-room")).to_be_visible()
    for page in (bob, alice):
        expect(page.locator("#composer-body")).to_be_enabled()
        expect(page.locator("#room-muted-notice")).to_be_hidden()
    assert not_reloaded(bob), "the mute must reach the open page without a reload"

    say(bob, "Back again")
    for page in (bob, alice, mod):
        sees_once(page, "Back again")
    assert seqs(alice) == seqs(bob)
    assert len(seqs(alice)) == 3  # the mute and unmute events are room state, not messages


def test_reconnect_resumes_exactly_once_and_times_match_a_reload(
    signed_in, daphne_server, member, other_member, room
):
    # Bob reads in his own zone (+05:30), and the browsers run in yet another
    # (Pacific/Auckland): live times must follow the member's zone, like the server's.
    other_member.timezone = "Asia/Kolkata"
    other_member.save(update_fields=["timezone"])
    alice = open_room(signed_in(member), daphne_server, room)
    bob = open_room(signed_in(other_member), daphne_server, room)
    mark_page(bob)

    say(alice, "Before the drop")
    sees_once(bob, "Before the drop")

    # Bob's network goes away (new connections fail) and his open socket closes.
    bob.context.set_offline(True)
    bob.evaluate("window.convene.ws.close()")
    expect(bob.locator("#connection")).to_have_attribute("data-state", "offline")

    missed = [f"While Tom was away {n}" for n in range(1, 4)]
    for text in missed:
        say(alice, text)
        sees_once(alice, text)
    say(bob, "Typed while offline")
    expect(bob.locator("#outbox li", has_text="Typed while offline")).to_have_count(1)
    for text in missed:
        expect(message(bob, text)).to_have_count(0)

    bob.context.set_offline(False)  # the client reconnects by itself and resumes
    expect(bob.locator(LIVE)).to_be_attached(timeout=30_000)
    for text in [*missed, "Typed while offline"]:
        sees_once(bob, text)
        sees_once(alice, text)
    expect(bob.locator("#outbox li")).to_have_count(0)
    assert not_reloaded(bob)
    assert seqs(bob) == seqs(alice) == [1, 2, 3, 4, 5]
    assert Message.objects.filter(room=room, body="Typed while offline").count() == 1

    # The times the client rendered live equal what the server renders on a reload.
    live_times = times(bob)
    bob.reload()
    expect(bob.locator(LIVE)).to_be_attached()
    reloaded_times = times(bob)
    assert live_times.keys() == reloaded_times.keys()
    zone = ZoneInfo("Asia/Kolkata")
    for message_id, live in live_times.items():
        created = Message.objects.get(pk=int(message_id)).created
        reloaded = reloaded_times[message_id]
        assert live["text"] == reloaded["text"]
        # "17:06" (today) or "3 Dec 2026, 17:06": either way in Bob's zone, not the browser's.
        assert reloaded["text"].endswith(created.astimezone(zone).strftime("%H:%M"))
        assert parse_instant(live["datetime"]) == parse_instant(reloaded["datetime"]) == created
        # Written the same way too ("...+05:30", as Django's |date:"c" writes it).
        assert live["datetime"] == reloaded["datetime"]


def parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(re.sub(r"Z$", "+00:00", value))


def test_live_time_title_matches_a_reload(signed_in, daphne_server, member, room):
    alice = open_room(signed_in(member), daphne_server, room)
    say(alice, "What time is it?")
    sees_once(alice, "What time is it?")
    live_times = times(alice)
    alice.reload()
    expect(alice.locator(LIVE)).to_be_attached()
    reloaded_times = times(alice)
    for message_id, live in live_times.items():
        assert live["title"] == reloaded_times[message_id]["title"]
        assert live["datetime"] == reloaded_times[message_id]["datetime"]  # "+00:00" in London
