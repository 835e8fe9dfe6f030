"""Child process for the presence tests: open a room socket, say hello, then just hold it.

    python -m tests.fault.hold_socket WS_URL ORIGIN     (session cookie in HOLD_SOCKET_COOKIE)

Prints one line, `ready`, once the server has answered the hello, then keeps reading
(its websockets thread answers the server's pings) until the test kills it (SIGKILL: the
kernel closes the TCP connection without a close frame) or freezes it (SIGSTOP: the
connection stays open but nothing answers, as with a laptop lid closed or a dead NAT).
It imports nothing from Django: it is a plain websocket client.
"""

from __future__ import annotations

import json
import os
import sys

from websockets.sync.client import connect


def main() -> int:
    url, origin = sys.argv[1], sys.argv[2]
    headers = {"Origin": origin, "Cookie": os.environ["HOLD_SOCKET_COOKIE"]}
    with connect(url, additional_headers=headers, proxy=None, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "hello", "after": None}))
        while json.loads(socket.recv(timeout=10))["type"] != "ready":
            pass
        print("ready", flush=True)
        while True:
            socket.recv()


if __name__ == "__main__":
    sys.exit(main())
