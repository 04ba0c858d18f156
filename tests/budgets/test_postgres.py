"""The concurrency scenario against a real PostgreSQL and a hub in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.budget_scenario import fire
from tests.support.postgres import postgres_bin, temporary_postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "install Debian's postgresql package, as .ci/run does"
        )
    pytest.importorskip("psycopg", reason="install the postgres extra (psycopg)")
    with temporary_postgres() as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hybridhub.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "tests-only-not-secret",
        "DEBUG": "false",
        "HYBRIDHUB_PRELOAD_LOCAL_MODELS": "false",
        "HYBRIDHUB_CATALOG_TTL_SECONDS": "0",
        "MOCKAI_API_KEY": "sk-mock-test",
        "LOG_LEVEL": "WARNING",
    }


def _scenario(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.budget_scenario", *args],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def _wait_for(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the hub at {url} did not start")


@pytest.mark.timeout(300)
def test_concurrent_requests_never_overspend_postgresql(postgres_url, cloud):
    env = _env(postgres_url)
    cloud.token_delay = 0.01
    key = _scenario(env, "setup", cloud.url, "20")
    port = _free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hybridhub.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--workers", "2"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/v1/models")
        outcomes = fire(f"http://127.0.0.1:{port}/v1", key, count=50)
        for _ in range(200):
            state = json.loads(_scenario(env, "state"))
            if state["ledger_rows"] >= 50 and state["reserved"] == 0:
                break
            time.sleep(0.1)
    finally:
        hub.terminate()
        hub.wait(timeout=20)
    assert set(outcomes) <= {"ok", "budget_exceeded"}, outcomes
    assert 1 <= outcomes.count("ok") <= 5
    assert state["reserved"] == 0
    assert state["spent"] == state["ledger_cost"] <= state["limit"]
