"""HTTP through the real ASGI application (the path Daphne serves), static files included."""

from __future__ import annotations

import pytest
from asgiref.testing import ApplicationCommunicator

from config.asgi import application


async def get(path: str) -> tuple[int, bytes]:
    """One GET through the ASGI app, reading every body chunk (file responses stream)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=5)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=5)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=5)
    return start["status"], body


@pytest.mark.parametrize(
    "path",
    [
        "/static/../config/settings.py",
        "/static/..%2f..%2fconfig%2fsettings.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/no-such-file.css",
    ],
)
@pytest.mark.django_db
async def test_static_path_tricks_are_404_never_500(path):
    status, body = await get(path)
    assert status == 404
    assert b"SECRET_KEY" not in body


@pytest.mark.django_db
async def test_static_files_are_served():
    status, body = await get("/static/js/room.js")
    assert status == 200 and b"RoomClient" in body
