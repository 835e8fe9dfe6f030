"""Session and member for websocket scopes, without wrapping the socket's `send`.

Channels' `AuthMiddlewareStack` puts `SessionMiddleware` in front of every socket, and
that wraps `send` so that an HTTP response can save the session and set its cookie. A
websocket never does either, yet the wrapper runs on every frame sent: a lazy-object
lookup and a session check per socket per frame, about 5% of a large room's fan-out
CPU, plus a wrapper object per socket. Here the session is attached as Channels
attaches it (loaded lazily, on the database thread, by `AuthMiddleware`) and `send`
goes straight to the server.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware
from django.conf import settings


class WebsocketSessionMiddleware:
    """Attach `scope["session"]` from the session cookie; pass `send` through untouched."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("WebsocketSessionMiddleware is for websocket scopes only")
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        # The store reads nothing until first used (AuthMiddleware's get_user, off the loop).
        scope = dict(scope, session=self.session_store(session_key))
        return await self.inner(scope, receive, send)


def websocket_auth_stack(inner: Any) -> Any:
    """Cookies, session and `scope["user"]` for a websocket app (see the module docstring)."""
    return CookieMiddleware(WebsocketSessionMiddleware(AuthMiddleware(inner)))
