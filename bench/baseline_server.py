"""The baseline: a bare broadcast server written with the `websockets` library (asyncio).

It speaks just enough of websocket contract v1 for the benchmark's clients, which are the
same for this server and for ours:

- `{"type":"hello",...}` is answered with `{"type":"ready","last_seq":N}`;
- `{"type":"send","client_id":...,"body":...}` takes the next value of one global counter
  and broadcasts `{"type":"event","seq":n,"kind":"message.created","data":{"client_id":...,
  "body":...}}` to every connected client (the sender too) with `websockets.broadcast`, the
  frame encoded once; the sender then gets `{"type":"ack","client_id":...,"seq":n}`;
- `{"type":"ping"}` is answered with `{"type":"pong"}`.

No database, no authentication, no channel layer: this is the ceiling the DESIGN's fan-out
budget compares Convene with. Run it as its own process:

    python -m bench.baseline_server --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

MAX_FRAME_BYTES = 64 * 1024  # the same limit as Convene's WS_MAX_FRAME_BYTES


def _dumps(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class Hub:
    def __init__(self) -> None:
        self.connections: set[ServerConnection] = set()
        self.seq = 0

    async def handler(self, connection: ServerConnection) -> None:
        self.connections.add(connection)
        try:
            async for raw in connection:
                if not isinstance(raw, str):
                    continue
                try:
                    frame = json.loads(raw)
                except ValueError:
                    continue
                kind = frame.get("type") if isinstance(frame, dict) else None
                if kind == "send":
                    self.seq += 1
                    client_id = frame.get("client_id")
                    broadcast(
                        self.connections,
                        _dumps(
                            {
                                "type": "event",
                                "seq": self.seq,
                                "kind": "message.created",
                                "data": {"client_id": client_id, "body": frame.get("body")},
                            }
                        ),
                    )
                    await connection.send(
                        _dumps({"type": "ack", "client_id": client_id, "seq": self.seq})
                    )
                elif kind == "hello":
                    await connection.send(_dumps({"type": "ready", "last_seq": self.seq}))
                elif kind == "ping":
                    await connection.send('{"type":"pong"}')
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(connection)


async def run(host: str, port: int) -> None:
    hub = Hub()
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    # compression=None: Daphne does not negotiate permessage-deflate either.
    async with serve(
        hub.handler,
        host,
        port,
        compression=None,
        max_size=MAX_FRAME_BYTES,
    ):
        print(f"baseline broadcast server on ws://{host}:{port}/", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
