"""What uvicorn's HTTP parsers do with huge request headers (docs/security.md).

    .venv/bin/python bench/header_limits.py

Serves a trivial ASGI app with each parser and sends one request with 10 KB,
100 KB, 1 MB and 8 MB of headers (90-byte values), printing the status line.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

SIZES = (10_000, 100_000, 1_000_000, 8_000_000)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(http: str) -> None:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=http, log_level="critical")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    for size in SIZES:
        headers = "".join(f"X-{i}: {'a' * 90}\r\n" for i in range(size // 100))
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            try:
                sock.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
                status = sock.recv(200).split(b"\r\n")[0].decode()
            except OSError as exc:
                status = f"connection error: {exc}"
        print(f"{http:9} {size:>9} bytes of headers: {status}")
    server.should_exit = True


if __name__ == "__main__":
    for parser in ("httptools", "h11"):
        probe(parser)
