"""realtime.auth: websocket scopes get the session and member, and `send` is not wrapped."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from realtime.auth import websocket_auth_stack
from tests.realtime.wsutil import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """An ASGI app that keeps what it was called with."""

    async def __call__(self, scope, receive, send):
        self.scope, self.send = scope, send
        self.user = await sync_to_async(lambda: scope["user"]._wrapped)()  # resolved


def scope_with(cookie: str | None) -> dict:
    headers = [(b"cookie", cookie.encode())] if cookie else []
    return {"type": "websocket", "path": "/ws/me/", "headers": headers}


async def server_send(message):  # stands for the server's own send callable
    raise AssertionError("not called here")


async def test_a_signed_in_socket_gets_its_member_and_session(member):
    cookie = await sync_to_async(session_cookie)(member)
    app = Recorder()
    await websocket_auth_stack(app)(scope_with(cookie), None, server_send)
    assert app.user.pk == member.pk
    assert app.scope["session"].session_key == cookie.split("=", 1)[1]
    # The server's send itself: no per-frame wrapper (Channels' SessionMiddleware adds one).
    assert app.send is server_send


async def test_no_cookie_or_an_unknown_session_is_anonymous():
    for cookie in (None, f"{settings.SESSION_COOKIE_NAME}=no-such-session"):
        app = Recorder()
        await websocket_auth_stack(app)(scope_with(cookie), None, server_send)
        assert not app.user.is_authenticated
        assert app.send is server_send


async def test_http_scopes_are_refused():
    with pytest.raises(ValueError):
        await websocket_auth_stack(Recorder())({"type": "http", "headers": []}, None, server_send)
