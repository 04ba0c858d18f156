"""A throwaway PostgreSQL server for tests and benchmarks.

Runs Debian's binaries (/usr/lib/postgresql/<version>/bin, package
``postgresql``; .ci/run installs it) on a free loopback port in a temporary
directory, as the ``postgres`` user when we are root (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Start a server; yields its DATABASE_URL; stops and deletes it after."""
    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL in /usr/lib/postgresql/*/bin")
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="hybridhub-pg-"))
    data = root / "data"
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run(_as_owner(list(command), owner), check=True, capture_output=True)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "hybridhub", "--auth=trust", "-E", "UTF8")
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=300 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
        "start")  # fmt: skip
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hybridhub",
            "hybridhub")  # fmt: skip
        yield f"postgres://hybridhub@127.0.0.1:{port}/hybridhub"
    finally:
        subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
