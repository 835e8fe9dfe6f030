"""Presence, mentions, older history and the unread marker in real Chromium."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from community import services
from community.models import Message, RoomReadState
from tests.browser.test_client_browser import list_layout
from tests.browser.test_room_browser import open_room, say, sees_once, seqs

pytestmark = pytest.mark.browser


def test_presence_and_a_mention_toast(signed_in, daphne_server, member, other_member, room):
    alice = open_room(signed_in(member), daphne_server, room)
    expect(alice.locator("#presence")).to_have_text("Nobody else is here right now.")
    bob_page = signed_in(other_member)
    bob_page.goto(f"{daphne_server.url}/questions/")  # anywhere on the site
    bob = open_room(signed_in(other_member), daphne_server, room)
    expect(alice.locator("#presence")).to_contain_text("Tom Baines")
    say(alice, "@**Tom Baines** can you look at the skills survey?")
    toast = bob_page.locator("#toasts .toast a")
    expect(toast).to_contain_text("Amira Shah mentioned you in Skills shortages")
    expect(bob_page.locator("#notification-count")).to_have_text("1")
    bob.close()
    expect(alice.locator("#presence")).to_have_text("Nobody else is here right now.")
    # The toast's target is the message itself.
    toast.click()
    mention = Message.objects.get(body__startswith="@**Tom Baines**")
    expect(bob_page).to_have_url(f"{daphne_server.url}/rooms/{room.pk}/#message-{mention.pk}")


def test_older_history_loads_on_scroll_without_gaps_and_read_marker_moves(
    signed_in, daphne_server, member, other_member, room, settings
):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1000}
    for n in range(120):
        services.message_post(
            member=other_member, room=room, body=f"history {n}", client_id=str(uuid.uuid4())
        )
    alice = open_room(signed_in(member), daphne_server, room)
    assert seqs(alice) == list(range(71, 121))  # the latest page
    expect(alice.locator("#load-older")).to_be_visible()
    for _ in range(2):
        alice.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
        alice.wait_for_timeout(300)
        alice.locator("#messages").evaluate("el => el.dispatchEvent(new Event('scroll'))")
    expect(alice.locator("#messages li.message")).to_have_count(120)
    assert seqs(alice) == list(range(1, 121))
    expect(alice.locator("#load-older")).to_be_hidden()
    sees_once(alice, "history 0")
    # Scrolled up, a new message shows the jump button; jumping marks the room read.
    bob = open_room(signed_in(other_member), daphne_server, room)
    say(bob, "newest")
    sees_once(alice, "newest")
    expect(alice.locator("#jump-latest")).to_be_visible()
    alice.locator("#jump-latest").click()
    expect(alice.locator("#jump-latest")).to_be_hidden()
    alice.wait_for_function("() => window.convene.lastReadSent === 121")
    for _ in range(50):
        state = RoomReadState.objects.filter(member=member, room=room).first()
        if state and state.last_read_seq == 121:
            break
        alice.wait_for_timeout(100)
    assert state.last_read_seq == 121


def post_many(member, room, count: int) -> None:
    for n in range(1, count + 1):
        services.message_post(
            member=member, room=room, body=f"note {n}", client_id=str(uuid.uuid4())
        )


def older_requests(page) -> list[str]:
    """Every request the page makes for older history, in order."""
    urls = []
    page.on("request", lambda r: "before=" in r.url and urls.append(r.url))
    return urls


def test_scrolling_up_at_the_top_loads_older_with_more_than_a_page_unread(
    signed_in, daphne_server, member, other_member, room, settings
):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1000}
    post_many(other_member, room, 360)
    RoomReadState.objects.create(member=member, room=room, last_read_seq=300)  # 60 unread
    alice = open_room(signed_in(member), daphne_server, room)
    messages = alice.locator("#messages")
    # The latest page is all unread: the divider heads it, so the page opens at the top
    # and no scrolling up can move it.
    assert list_layout(alice) == ["new", *range(311, 361)]
    assert messages.evaluate("el => el.scrollTop") == 0
    messages.hover()
    alice.mouse.wheel(0, -600)
    expect(alice.locator("#messages li.message")).to_have_count(100)
    assert list_layout(alice) == [*range(261, 301), "new", *range(301, 361)]
    # The reader keeps their place: what was at the top is still in view.
    assert messages.evaluate("el => el.scrollTop") > 0
    expect(alice.locator("#messages li.message", has_text="note 311")).to_be_in_viewport()


def test_a_list_too_short_to_scroll_still_loads_older(
    signed_in, daphne_server, member, other_member, room, settings
):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1000}
    post_many(other_member, room, 170)
    alice = signed_in(member)
    alice.set_viewport_size({"width": 1280, "height": 12000})  # a page of history fits
    requests = older_requests(alice)
    open_room(alice, daphne_server, room)
    # The latest page fits without scrolling, so the page fetches one more by itself...
    expect(alice.locator("#messages li.message")).to_have_count(100)
    messages = alice.locator("#messages")
    assert messages.evaluate("el => el.scrollHeight <= el.clientHeight")  # still short
    alice.wait_for_timeout(1000)
    assert len(requests) == 1  # ...once, not in a loop
    assert seqs(alice) == list(range(71, 171))
    # Keys that scroll up, on the list at the top, ask for more.
    alice.locator("#messages li.message a.author").first.focus()
    alice.keyboard.press("PageUp")
    # A page loaded by the member's own action that leaves the list scrollable is the last.
    expect(alice.locator("#messages li.message")).to_have_count(150)
    assert seqs(alice) == list(range(21, 171))
    assert messages.evaluate("el => el.scrollHeight > el.clientHeight")
    alice.wait_for_timeout(500)
    assert len(requests) == 2


def test_edit_and_delete_own_message_from_the_page(
    signed_in, daphne_server, member, other_member, room
):
    alice = open_room(signed_in(member), daphne_server, room)
    bob = open_room(signed_in(other_member), daphne_server, room)
    say(alice, "Meeting at 10")
    sees_once(bob, "Meeting at 10")
    message_id = alice.locator("#messages li.message", has_text="Meeting at 10").get_attribute(
        "data-id"
    )
    mine = alice.locator(f"#message-{message_id}")
    expect(
        bob.locator("#messages li.message", has_text="Meeting at 10").locator(".actions")
    ).to_have_count(0)
    mine.locator(".actions button", has_text="Edit").click()
    editor = mine.locator("form.edit textarea")
    expect(editor).to_have_value("Meeting at 10")
    editor.fill("Meeting at **11**")
    editor.press("Enter")
    expect(bob.locator("#messages li.message strong", has_text="11")).to_have_count(1)
    expect(bob.locator("#messages li.message", has_text="Meeting at")).to_contain_text("(edited)")
    alice.once("dialog", lambda dialog: dialog.accept())
    mine.locator(".actions button", has_text="Delete").click()
    expect(bob.locator("#messages li.message", has_text="Meeting at")).to_have_count(0)
    expect(alice.locator("#messages li.message", has_text="Meeting at")).to_have_count(0)


def test_text_refused_for_good_stays_recoverable(signed_in, daphne_server, member, moderator, room):
    alice = open_room(signed_in(member), daphne_server, room)
    services.room_mute(moderator=moderator, room_id=room.pk, reason="AGM")
    # The page has not heard of the mute yet (no shared channel layer with this process),
    # so it still sends; the server refuses and the text must not vanish.
    alice.evaluate("window.convene.canPost = true")
    say(alice, "my carefully written point")
    failed = alice.locator('#outbox li[data-state="failed"]')
    expect(failed).to_contain_text("my carefully written point")
    expect(alice.locator("#composer-error")).to_contain_text("read-only")
    alice.locator("#composer-body").evaluate("el => { el.disabled = false; }")
    alice.locator("#composer-body").fill("another draft")
    failed.locator("button", has_text="Edit and retry").click()
    expect(alice.locator("#composer-body")).to_have_value(
        "another draft\nmy carefully written point"
    )
    expect(failed).to_have_count(0)
