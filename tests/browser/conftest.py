"""Browser tests: Debian's Chromium driven by Playwright's sync API against a real Daphne.

Never `playwright install`: the browser is the distribution's /usr/bin/chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests import live
from tests.live import session_cookie_value

daphne_server = live.daphne_server  # the fixture, made available to this folder

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = "Debian's chromium is not installed: apt-get install chromium (CI installs it)"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(MISSING, pytrace=False)
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps its event loop marked as running in this thread, so
    # Django would refuse ORM calls from the test ("async context"). Nothing async runs
    # here while a test holds the thread, so the ORM is safe to use: say so, for this module.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()


@pytest.fixture
def signed_in(browser, daphne_server):
    """signed_in(member) -> a Playwright page whose browser context carries member's session."""
    contexts = []

    def open_page(member):
        context = browser.new_context(locale="en-GB", timezone_id="Pacific/Auckland")
        context.set_default_timeout(10_000)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": session_cookie_value(member),
                    "url": daphne_server.url,
                }
            ]
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: print(f"[{member.name}] page error: {error}"))
        page.on(
            "console",
            lambda message: print(f"[{member.name}] console.{message.type}: {message.text}"),
        )
        page.on(
            "response",
            lambda response: (
                response.status >= 400
                and print(f"[{member.name}] HTTP {response.status} {response.url}")
            ),
        )
        return page

    yield open_page
    for context in contexts:
        context.close()
