"""ASGI entry point: HTTP through Django (static files included), websockets through Channels."""

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_http = get_asgi_application()  # sets Django up before consumers are imported

# Writes run on Channels' one database thread while the event loop hands frames to
# sockets. Every query releases the GIL and must win it back from the busy loop thread,
# which by default keeps it for 5 ms: a dozen queries per post then wait ~100 ms.
sys.setswitchinterval(float(os.environ.get("GIL_SWITCH_INTERVAL", "0.0005")))

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from config.security import SameOriginWebsocket, StaticFiles  # noqa: E402
from realtime.auth import websocket_auth_stack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": StaticFiles(django_http),
        # The Origin must be this site (host and port) or a CSRF-trusted origin;
        # a missing or foreign Origin is refused at the handshake.
        "websocket": SameOriginWebsocket(websocket_auth_stack(URLRouter(websocket_urlpatterns))),
    }
)
