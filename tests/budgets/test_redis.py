"""Per-key rate limits on Redis (REDIS_URL): a real redis-server from
Debian's package, and several server processes counting against it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.budgets import ratelimit
from apps.budgets.errors import RateLimited
from apps.budgets.ratelimit import rate_admit, rate_tokens_add
from tests.support.redis import redis_server_bin, temporary_redis

pytestmark = pytest.mark.skipif(
    redis_server_bin() is None, reason="redis-server is not installed (Debian: redis-server)"
)
ROOT = Path(__file__).resolve().parents[2]
MINUTE = datetime(2026, 12, 2, 9, 30, 5, tzinfo=UTC)

# One server process: admit ATTEMPTS requests of TOKENS prompt tokens each
# for key 7 in the same minute, starting at START (so the processes overlap).
WORKER = """
import sys, time
from datetime import datetime
import django
django.setup()
from apps.budgets.errors import RateLimited
from apps.budgets.ratelimit import rate_admit
start, attempts, rpm, tpm, tokens, now = sys.argv[1:]
while time.time() < float(start):
    time.sleep(0.001)
admitted = 0
for _ in range(int(attempts)):
    try:
        rate_admit(api_key_id=7, rpm=int(rpm) or None, tpm=int(tpm) or None, tokens=int(tokens),
                   now=datetime.fromisoformat(now))
        admitted += 1
    except RateLimited:
        pass
print(admitted)
"""


@pytest.fixture(scope="module")
def redis_url():
    with temporary_redis() as url:
        yield url


@pytest.fixture
def on_redis(redis_url, settings):
    settings.REDIS_URL = redis_url
    ratelimit._client = None
    ratelimit._redis().flushdb()
    yield redis_url
    ratelimit._client = None


def _processes(redis_url: str, n: int, attempts: int, rpm: int, tpm: int, tokens: int) -> list[int]:
    env = dict(os.environ, REDIS_URL=redis_url, SECRET_KEY="test-only",
               DJANGO_SETTINGS_MODULE="hybridhub.settings")  # fmt: skip
    start = time.time() + 3  # each process imports Django first
    args = [str(start), str(attempts), str(rpm), str(tpm), str(tokens), MINUTE.isoformat()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    out = [proc.communicate(timeout=120)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    return [int(text.strip().splitlines()[-1]) for text in out]


def test_requests_per_minute_hold_across_processes(on_redis):
    admitted = _processes(on_redis, n=3, attempts=40, rpm=50, tpm=0, tokens=1)
    assert sum(admitted) == 50  # 120 attempts, exactly the limit admitted
    with pytest.raises(RateLimited) as refused:
        rate_admit(api_key_id=7, rpm=50, tpm=None, tokens=1, now=MINUTE)
    assert refused.value.retry_after == 55


def test_tokens_per_minute_hold_across_processes(on_redis):
    admitted = _processes(on_redis, n=2, attempts=30, rpm=0, tpm=1000, tokens=100)
    assert sum(admitted) == 10


def test_a_refusal_counts_nothing_and_the_next_minute_starts_fresh(on_redis):
    for _ in range(2):
        rate_admit(api_key_id=8, rpm=2, tpm=None, tokens=5, now=MINUTE)
    with pytest.raises(RateLimited, match="2 requests per minute"):
        rate_admit(api_key_id=8, rpm=2, tpm=None, tokens=5, now=MINUTE)
    client = ratelimit._redis()
    assert int(client.get("hybridhub:rate:8:202612020930:req")) == 2
    assert 0 < client.ttl("hybridhub:rate:8:202612020930:req") <= 120
    rate_admit(api_key_id=8, rpm=2, tpm=None, tokens=5, now=MINUTE.replace(minute=31))


def test_tokens_produced_count_towards_the_minute(on_redis):
    ticket = rate_admit(api_key_id=9, rpm=None, tpm=500, tokens=100, now=MINUTE)
    assert ticket is not None
    rate_tokens_add(ticket=ticket, tokens=400)
    with pytest.raises(RateLimited, match="500 tokens per minute"):
        rate_admit(api_key_id=9, rpm=None, tpm=500, tokens=1, now=MINUTE)
