"""Helpers to open authenticated room sockets with Channels' WebsocketCommunicator."""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

ORIGIN = b"http://127.0.0.1:8000"


def session_cookie(member) -> str:
    client = Client()
    client.force_login(member)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def open_socket(path: str, member=None, *, origin: bytes | None = ORIGIN, hello=True):
    from config.asgi import application

    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin))
    if member is not None:
        cookie = await sync_to_async(session_cookie)(member)
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def receive(communicator, timeout: float = 3, *, skip=("presence",)) -> dict:
    """The next frame, passing over ephemeral presence updates unless asked for them."""
    while True:
        frame = json.loads(await communicator.receive_from(timeout=timeout))
        if frame.get("type") not in skip:
            return frame


async def receive_until(communicator, frame_type: str, timeout: float = 3) -> tuple[dict, list]:
    """Frames up to and including the first of `frame_type`; returns (that frame, earlier ones)."""
    earlier = []
    while True:
        frame = await receive(
            communicator, timeout, skip=() if frame_type == "presence" else ("presence",)
        )
        if frame["type"] == frame_type:
            return frame, earlier
        earlier.append(frame)


async def send(communicator, payload) -> None:
    await communicator.send_to(text_data=json.dumps(payload))
