"""The outbox survives reloads: the client's own on `resume_too_old`, and the member's."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from community import services
from community.models import Message
from tests import live
from tests.browser.test_client_browser import own_bodies
from tests.browser.test_room_browser import LIVE, mark_page, not_reloaded, open_room, say, sees_once

pytestmark = pytest.mark.browser

REPLAY_LIMIT = 5


@pytest.fixture
def small_replay_server(transactional_db):
    """Daphne that replays at most REPLAY_LIMIT events; further behind is resume_too_old."""
    with live.running_daphne({"DJANGO_SETTINGS_MODULE": "tests.browser.small_replay_settings"}) as (
        server
    ):
        yield server


def stored_outbox(page) -> list[str]:
    """The bodies the page keeps in localStorage for its member and room, in order."""
    return page.evaluate(
        """() => JSON.parse(localStorage.getItem(window.convene.storeKey) || "[]")
                  .map((item) => item.body)"""
    )


def test_queued_messages_survive_the_reload_after_resume_too_old(
    signed_in, small_replay_server, member, other_member, room, settings
):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1000}
    alice = open_room(signed_in(member), small_replay_server, room)
    mark_page(alice)
    alice.context.set_offline(True)
    expect(alice.locator("#connection")).to_have_attribute("data-state", "offline")
    queued = ["Queued on the train", "And a second thought"]
    for text in queued:
        say(alice, text)
    expect(alice.locator("#outbox li")).to_have_count(2)
    assert stored_outbox(alice) == queued
    # More happens meanwhile than the server will replay.
    others = [f"while you were away {n}" for n in range(REPLAY_LIMIT + 3)]
    for text in others:
        services.message_post(
            member=other_member, room=room, body=text, client_id=str(uuid.uuid4())
        )

    alice.context.set_offline(False)  # hello -> resume_too_old -> the page reloads
    expect(alice.locator(LIVE)).to_be_attached(timeout=15_000)
    assert not not_reloaded(alice)
    for text in [*others, *queued]:
        sees_once(alice, text)
    expect(alice.locator("#outbox li")).to_have_count(0)
    assert own_bodies(alice, member) == queued
    for text in queued:
        assert Message.objects.filter(room=room, body=text).count() == 1
    stored = Message.objects.filter(room=room).order_by("seq").values_list("body", flat=True)
    assert list(stored) == [*others, *queued]
    assert stored_outbox(alice) == []


def test_a_queued_message_survives_the_member_reloading_the_page(
    signed_in, daphne_server, member, room
):
    alice = signed_in(member)
    # The room's socket can be cut off while HTTP still works (the page can reload).
    cut = {"on": False}

    def gate(ws):
        if cut["on"]:
            ws.close()
        else:
            ws.connect_to_server()

    alice.route_web_socket(re.compile(r"/ws/rooms/"), gate)
    open_room(alice, daphne_server, room)
    cut["on"] = True
    alice.context.set_offline(True)  # drops the open socket; reconnecting fails at the gate
    expect(alice.locator("#connection")).to_have_attribute("data-state", "offline")
    alice.context.set_offline(False)
    say(alice, "Typed before the reload")
    expect(alice.locator("#outbox li", has_text="Typed before the reload")).to_have_count(1)

    dialogs = []

    def leave(dialog):
        dialogs.append(dialog.type)
        dialog.accept()

    alice.on("dialog", leave)
    alice.reload()
    assert dialogs == ["beforeunload"]  # asked before leaving unsent text
    pending = alice.locator("#outbox li", has_text="Typed before the reload")
    expect(pending).to_have_count(1)
    expect(pending.locator(".status")).to_have_text("Waiting for connection…")
    assert Message.objects.filter(room=room).count() == 0

    cut["on"] = False
    alice.context.set_offline(True)  # the network comes back: reconnect now, not after backoff
    alice.context.set_offline(False)
    expect(alice.locator(LIVE)).to_be_attached()
    sees_once(alice, "Typed before the reload")
    expect(alice.locator("#outbox li")).to_have_count(0)
    assert Message.objects.filter(room=room, body="Typed before the reload").count() == 1
    assert stored_outbox(alice) == []
    # Settled for good: a further reload neither shows nor sends it again.
    alice.reload()
    expect(alice.locator(LIVE)).to_be_attached()
    sees_once(alice, "Typed before the reload")
    expect(alice.locator("#outbox li")).to_have_count(0)
    assert dialogs == ["beforeunload"]
    assert Message.objects.filter(room=room, body="Typed before the reload").count() == 1


def test_the_outbox_works_in_memory_when_storage_refuses(signed_in, daphne_server, member, room):
    alice = signed_in(member)
    alice.add_init_script(
        "Storage.prototype.setItem = function () {"
        " throw new DOMException('full', 'QuotaExceededError'); };"
    )
    open_room(alice, daphne_server, room)
    alice.context.set_offline(True)
    expect(alice.locator("#connection")).to_have_attribute("data-state", "offline")
    say(alice, "Kept in memory")
    expect(alice.locator("#outbox li", has_text="Kept in memory")).to_have_count(1)
    alice.context.set_offline(False)
    expect(alice.locator(LIVE)).to_be_attached()
    sees_once(alice, "Kept in memory")
    expect(alice.locator("#outbox li")).to_have_count(0)
    assert Message.objects.filter(room=room, body="Kept in memory").count() == 1


def test_a_refused_message_survives_a_reload_and_is_not_sent_again(
    signed_in, daphne_server, member, moderator, room
):
    alice = open_room(signed_in(member), daphne_server, room)
    alice.context.set_offline(True)
    expect(alice.locator("#connection")).to_have_attribute("data-state", "offline")
    say(alice, "Said while a mute was on its way")
    services.member_mute(moderator=moderator, member_id=member.pk, reason="Cool off")
    alice.context.set_offline(False)  # sent after ready, refused for good: muted
    refused = alice.locator("#outbox li", has_text="Said while a mute was on its way")
    expect(refused).to_have_attribute("data-state", "failed")
    assert stored_outbox(alice) == ["Said while a mute was on its way"]

    alice.on("dialog", lambda dialog: dialog.accept())
    services.member_unmute(moderator=moderator, member_id=member.pk)
    alice.reload()  # back, still marked refused with the reason, and not re-sent
    expect(alice.locator(LIVE)).to_be_attached()
    refused = alice.locator("#outbox li", has_text="Said while a mute was on its way")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.locator(".status")).to_contain_text("muted you")
    alice.wait_for_timeout(500)
    assert Message.objects.filter(room=room).count() == 0

    refused.get_by_role("button", name="Edit and retry").click()
    expect(alice.locator("#composer-body")).to_have_value("Said while a mute was on its way")
    assert stored_outbox(alice) == []
    alice.locator("#composer-body").press("Enter")
    sees_once(alice, "Said while a mute was on its way")
    assert Message.objects.filter(room=room).count() == 1


def test_two_tabs_offline_and_one_closed_lose_nothing_and_keep_typing_order(
    signed_in, daphne_server, member, room
):
    first = open_room(signed_in(member), daphne_server, room)
    second = open_room(first.context.new_page(), daphne_server, room)  # same storage
    first.context.set_offline(True)
    for page in (first, second):
        expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    typed = []
    for n in range(3):
        for name, page in (("first", first), ("second", second)):
            text = f"{name} tab, thought {n}"
            say(page, text)
            expect(page.locator("#outbox li", has_text=text)).to_have_count(1)
            typed.append(text)
    first.on("dialog", lambda dialog: dialog.accept())
    first.close(run_before_unload=True)  # unsent text in it: asks, then goes
    first.context.set_offline(False)
    expect(second.locator(LIVE)).to_be_attached()
    for text in typed:  # the closed tab's messages go out from the open one
        sees_once(second, text)
    expect(second.locator("#outbox li")).to_have_count(0)
    stored = Message.objects.filter(room=room).order_by("seq").values_list("body", flat=True)
    assert list(stored) == typed
    assert stored_outbox(second) == []


def test_a_damaged_stored_entry_is_repaired_not_dropped(signed_in, daphne_server, member, room):
    alice = open_room(signed_in(member), daphne_server, room)
    client_id = str(uuid.uuid4())
    alice.evaluate(
        """(clientId) => localStorage.setItem(window.convene.storeKey, JSON.stringify([
             {clientId, body: "Saved by an older page", created: "yesterday", failed: {}},
             {clientId: "not-a-uuid", body: "no id"}, 42, null]))""",
        client_id,
    )
    alice.reload()
    kept = alice.locator("#outbox li", has_text="Saved by an older page")
    expect(kept).to_have_attribute("data-state", "failed")  # shown, not sent blindly
    kept.get_by_role("button", name="Edit and retry").click()
    expect(alice.locator("#composer-body")).to_have_value("Saved by an older page")
