"""A throwaway Redis server for tests (Debian's ``redis-server``; .ci/run installs it).

No persistence, loopback only, a free port, a temporary directory; stopped
and deleted after.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .processes import process_stop


def redis_server_bin() -> str | None:
    """Debian puts it in /usr/bin; PATH may not have it (a service account)."""
    if shutil.which("redis-server"):
        return shutil.which("redis-server")
    return "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def temporary_redis() -> Iterator[str]:
    """Start a server; yields its REDIS_URL."""
    binary = redis_server_bin()
    if binary is None:
        raise FileNotFoundError("no redis-server (Debian package redis-server)")
    root = tempfile.mkdtemp(prefix="hybridhub-redis-")
    port = _free_port()
    command = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", root,
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process_stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError("redis-server did not answer")
