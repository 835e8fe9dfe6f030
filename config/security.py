"""ASGI wrappers: static files that never 500, and a websocket Origin check that sees ports."""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404
from django.http.request import split_domain_port, validate_host


class StaticFiles(ASGIStaticFilesHandler):
    """Django's static handler, with path tricks (`/static/../x`) answered 404, not 500."""

    def serve(self, request):
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("No such file.") from None


def origin_allowed(origin: str, host: str) -> bool:
    """Same origin as the request (scheme-less host and port), or a CSRF-trusted origin."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    if origin.rstrip("/") in {o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    domain, _ = split_domain_port(parts.netloc)
    return parts.netloc.lower() == host.lower() and validate_host(domain, settings.ALLOWED_HOSTS)


class SameOriginWebsocket:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin1")
        host = headers.get(b"host", b"").decode("latin1")
        if not origin_allowed(origin, host):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
