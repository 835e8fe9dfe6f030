"""The room client under bad conditions: dead sockets, rate limits, refusals, timed mutes."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from community import services
from community.models import Message, RoomReadState
from tests import live
from tests.browser.test_room_browser import (
    LIVE,
    mark_page,
    not_reloaded,
    open_room,
    say,
    sees_once,
)

pytestmark = pytest.mark.browser

FAST_HEARTBEAT = "window.CONVENE_TEST = {pingMs: 300, deadMs: 1000};"


@pytest.fixture
def strict_server(transactional_db):
    """Daphne with a tight posting limit: 2 messages per 2-second window."""
    limits = {"RATE_LIMIT_POSTS": "2", "RATE_LIMIT_WINDOW_SECONDS": "2"}
    with live.running_daphne(limits) as server:
        yield server


def message_id_of(page: Page, text: str) -> str:
    return page.locator("#messages li.message", has_text=text).get_attribute("data-id")


def own_bodies(page: Page, member) -> list[str]:
    return page.locator(f'#messages li.message[data-author="{member.pk}"]').evaluate_all(
        "items => items.map((li) => li.dataset.body)"
    )


def test_a_socket_that_stops_answering_is_not_shown_as_live(
    signed_in, daphne_server, member, other_member, room
):
    alice = signed_in(member)
    alice.add_init_script(FAST_HEARTBEAT)
    # Every room socket goes through this proxy; while `silent`, the server still hears
    # the page but nothing it says comes back (a half-dead connection).
    silent = {"on": False}

    def proxy(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda frame: server.send(frame))
        server.on_message(lambda frame: None if silent["on"] else ws.send(frame))

    alice.route_web_socket(re.compile(r"/ws/rooms/"), proxy)
    open_room(alice, daphne_server, room)
    bob = open_room(signed_in(other_member), daphne_server, room)
    say(alice, "Before the silence")
    sees_once(bob, "Before the silence")

    silent["on"] = True
    # Sent while the page still believes it is live: stored, but the ack never arrives.
    say(alice, "Into the void")
    sees_once(bob, "Into the void")
    expect(alice.locator("#connection")).not_to_have_attribute("data-state", "live", timeout=3000)
    say(alice, "Typed while cut off")
    expect(alice.locator("#outbox li", has_text="Typed while cut off")).to_have_count(1)

    silent["on"] = False
    expect(alice.locator(LIVE)).to_be_attached(timeout=30_000)
    for text in ["Before the silence", "Into the void", "Typed while cut off"]:
        sees_once(alice, text)
        sees_once(bob, text)
    expect(alice.locator("#outbox li")).to_have_count(0)
    for text in ["Into the void", "Typed while cut off"]:
        assert Message.objects.filter(room=room, body=text).count() == 1


def test_offline_and_online_events_drive_the_connection(signed_in, daphne_server, member, room):
    # Default (25 s) heartbeat: only the browser's offline/online events can explain
    # a quick change here.
    alice = open_room(signed_in(member), daphne_server, room)
    alice.context.set_offline(True)
    expect(alice.locator("#connection")).to_have_attribute("data-state", "offline", timeout=2000)
    expect(alice.locator("#connection")).to_contain_text("Offline")
    say(alice, "Written on the train")
    expect(alice.locator("#outbox li", has_text="Written on the train")).to_have_count(1)
    # Let the backoff grow, so that a prompt reconnect can only come from `online`.
    alice.evaluate("window.convene.attempt = 10; Math.random = () => 0.99")
    alice.wait_for_timeout(1500)
    alice.context.set_offline(False)
    expect(alice.locator(LIVE)).to_be_attached(timeout=3000)
    sees_once(alice, "Written on the train")
    expect(alice.locator("#outbox li")).to_have_count(0)
    assert Message.objects.filter(room=room, body="Written on the train").count() == 1


def test_own_messages_keep_typing_order_under_the_rate_limit(
    signed_in, strict_server, member, room
):
    alice = open_room(signed_in(member), strict_server, room)
    typed = [f"point {n}" for n in range(1, 6)]
    for text in typed:  # five at once: at least one is refused (two per window)
        say(alice, text)
    waiting = alice.locator('#outbox li[data-state="waiting"]')
    expect(waiting.locator(".status")).to_contain_text("retrying in")
    expect(alice.locator("#composer-error")).to_be_hidden()  # nothing for the member to do
    # A fresh window has begun but the refused message has not been retried yet: a
    # message typed now must still wait behind it.
    alice.wait_for_timeout(2200)
    say(alice, "point 6")
    typed.append("point 6")
    for text in typed:
        expect(alice.locator("#messages li.message", has_text=text)).to_have_count(
            1, timeout=30_000
        )
    expect(alice.locator("#outbox li")).to_have_count(0)
    assert own_bodies(alice, member) == typed
    stored = Message.objects.filter(room=room).order_by("seq").values_list("body", flat=True)
    assert list(stored) == typed


def test_timed_mutes_lift_on_the_open_page(signed_in, daphne_server, member, moderator, room):
    now = timezone.now()
    services.room_mute(
        moderator=moderator, room_id=room.pk, reason="AGM", until=now + timedelta(seconds=3)
    )
    you_until = now + timedelta(seconds=6)
    services.member_mute(
        moderator=moderator, member_id=member.pk, room_id=room.pk, until=you_until, reason="Spam"
    )
    alice = open_room(signed_in(member), daphne_server, room)
    mark_page(alice)
    composer = alice.locator("#composer-body")
    expect(composer).to_be_disabled()
    expect(alice.locator("#room-muted-notice")).to_be_visible()
    expect(alice.locator("#room-muted-reason")).to_have_text(": AGM")
    notice = alice.locator("#you-muted-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Reason: Spam")
    # The end of the mute reads like the page's other times, in the member's zone.
    local = you_until.astimezone(ZoneInfo(member.timezone))
    until = notice.locator("#you-muted-until time")
    expect(until).to_have_attribute("title", f"{local.day} {local:%b %Y, %H:%M}")
    expect(until).to_have_text(re.compile(rf"{local:%H:%M}$"))

    # The room's mute ends first; the member's own still holds.
    expect(alice.locator("#room-muted-notice")).to_be_hidden(timeout=6000)
    expect(composer).to_be_disabled()
    expect(notice).to_be_hidden(timeout=6000)
    expect(composer).to_be_enabled()
    expect(alice.locator("#composer-send")).to_be_enabled()
    say(alice, "Free to speak again")
    sees_once(alice, "Free to speak again")
    assert not_reloaded(alice)


def test_a_refused_edit_stays_in_its_editor(signed_in, daphne_server, member, moderator, room):
    alice = open_room(signed_in(member), daphne_server, room)
    say(alice, "Meeting at 10")
    sees_once(alice, "Meeting at 10")
    message_id = message_id_of(alice, "Meeting at 10")
    mine = alice.locator(f"#message-{message_id}")
    # The page does not hear of this mute (the test process has its own channel layer),
    # so it lets the member edit; the server refuses.
    services.member_mute(moderator=moderator, member_id=member.pk, room_id=room.pk)
    mine.locator(".actions button", has_text="Edit").click()
    editor = mine.locator("form.edit textarea")
    editor.fill("Meeting at 11")
    editor.press("Enter")
    expect(mine.locator("form.edit .error")).to_contain_text("muted you")
    expect(editor).to_have_value("Meeting at 11")
    expect(alice.locator("#composer-body")).to_have_value("")
    expect(alice.locator("#composer-error")).to_be_hidden()
    assert alice.evaluate("window.convene.edits.size") == 0

    services.member_unmute(moderator=moderator, member_id=member.pk, room_id=room.pk)
    editor.press("Enter")
    expect(mine.locator("form.edit")).to_have_count(0)  # closed by the ack
    expect(mine.locator(".body")).to_have_text("Meeting at 11")
    expect(mine.locator(".edited")).to_have_count(1)
    assert alice.evaluate("window.convene.edits.size") == 0
    assert Message.objects.get(room=room).body == "Meeting at 11"


def list_layout(page: Page) -> list[int | str]:
    """The message list top to bottom: seqs, and "new" where the unread divider is."""
    return page.locator("#messages > li").evaluate_all(
        "items => items.map((li) => li.id === 'unread-divider' ? 'new' : Number(li.dataset.seq))"
    )


def test_the_unread_divider_with_more_than_a_page_unread(
    signed_in, daphne_server, member, other_member, room, settings
):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1000}
    for n in range(1, 71):
        services.message_post(
            member=other_member, room=room, body=f"note {n}", client_id=str(uuid.uuid4())
        )
    RoomReadState.objects.create(member=member, room=room, last_read_seq=10)  # 60 unread
    alice = open_room(signed_in(member), daphne_server, room)
    # The latest page is all unread: the divider heads it.
    assert list_layout(alice) == ["new", *range(21, 71)]
    alice.locator("#load-older").click()
    expect(alice.locator("#messages li.message")).to_have_count(70)
    # Older messages go above everything shown; the divider moves to the first unread.
    assert list_layout(alice) == [*range(1, 11), "new", *range(11, 71)]
    expect(alice.locator("#unread-divider")).to_have_count(1)


def meta_layout(page: Page, message_id: str) -> list[str]:
    """The classes (or tag) of a message's meta line, in order: author, org, time, ..."""
    return page.locator(f"#message-{message_id} .meta > *").evaluate_all(
        "items => items.map((el) => el.className || el.tagName.toLowerCase())"
    )


def test_live_edits_and_the_outbox_look_like_the_server_renders_them(
    signed_in, daphne_server, member, room
):
    alice = open_room(signed_in(member), daphne_server, room)
    say(alice, "First draft")
    sees_once(alice, "First draft")
    message_id = message_id_of(alice, "First draft")
    mine = alice.locator(f"#message-{message_id}")
    mine.locator(".actions button", has_text="Edit").click()
    mine.locator("form.edit textarea").fill("Second draft")
    mine.locator("form.edit textarea").press("Enter")
    expect(mine.locator(".edited")).to_have_count(1)
    live_layout = meta_layout(alice, message_id)
    alice.reload()
    expect(alice.locator(LIVE)).to_be_attached()
    assert (
        live_layout
        == meta_layout(alice, message_id)
        == [
            "author",
            "org",
            "time",
            "edited",
            "actions",
        ]
    )

    # A message waiting in the outbox: its text, then its status, visibly apart.
    alice.context.set_offline(True)
    expect(alice.locator("#connection")).to_have_attribute("data-state", "offline")
    say(alice, "Queued words")
    pending = alice.locator("#outbox li", has_text="Queued words")
    expect(pending.locator(".text")).to_have_text("Queued words")
    expect(pending.locator(".status")).to_have_text("Waiting for connection…")
    expect(pending).to_have_text("Queued words — Waiting for connection…")
    alice.context.set_offline(False)
    sees_once(alice, "Queued words")
