"""The room client under bad conditions: dead sockets, rate limits, refusals, timed mutes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from community.models import Message
from tests.browser.test_room_browser import LIVE, open_room, say, sees_once

pytestmark = pytest.mark.browser

FAST_HEARTBEAT = "window.CONVENE_TEST = {pingMs: 300, deadMs: 1000};"


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
