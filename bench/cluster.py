"""Two hub processes on one PostgreSQL and one Redis: how fast changes and
answers cross from one process to the other.

    .venv/bin/python bench/cluster.py [--rounds 10]

(1) Policy: process A publishes (a rollback to the other of two versions);
the time until process B routes by it, polling B every 20 ms through the API.
Target: within a second (HYBRIDHUB_SNAPSHOT_CHECK_SECONDS is 0.25 s; the
snapshot TTL is two minutes, so only the shared version can explain it).
(2) Chat: an answer generated on A (40 tokens from the loopback vendor mock,
10 ms apart) followed from B over SSE, against the same answer followed from
A itself: time to the first token and to the end, as B sees it.
Results also go to bench/results/cluster.json. PostgreSQL and Redis are
throwaway servers from Debian's binaries (tests/support).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.cluster import browser, cluster_env, hub_process, script  # noqa: E402
from tests.support.openai_mock import MockCloud, ServerThread  # noqa: E402
from tests.support.postgres import temporary_postgres  # noqa: E402
from tests.support.redis import temporary_redis  # noqa: E402


def _route(url: str, key: str) -> str:
    reply = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    return reply.headers["x-hybridhub-route"]


def policy_rounds(a: str, b: str, seed: dict, rounds: int) -> list[float]:  # type: ignore[type-arg]
    """Alternate between the two seeded versions (to_a routes to cloud-a, the
    next one to cloud-b); each rollback publishes a copy of one of them."""
    key, to_a, seconds = seed["key"], seed["policy_to_a"], []
    with browser(a, seed["admin_session"]) as admin:
        for _ in range(rounds):
            before = _route(b, key)
            number = to_a if before == "cloud:cloud-b" else to_a + 1
            started = time.perf_counter()
            admin.post(f"/policy/versions/{number}/rollback/")
            while _route(b, key) == before:
                time.sleep(0.02)
            seconds.append(time.perf_counter() - started)
    return seconds


def follow(url: str, seed: dict, pk: int, started: float) -> tuple[float, float]:  # type: ignore[type-arg]
    first = 0.0
    with (
        browser(url, seed["member_session"]) as http,
        http.stream("GET", f"/chat/answers/{pk}/stream/") as response,
    ):
        for line in response.iter_lines():
            if line.startswith("event: token") and not first:
                first = time.perf_counter() - started
            if line.startswith("event: done"):
                break
    return first, time.perf_counter() - started


def chat_round(origin: str, reader: str, seed: dict) -> tuple[float, float]:  # type: ignore[type-arg]
    started = time.perf_counter()
    with browser(origin, seed["member_session"]) as http:
        sent = http.post(f"/chat/c/{seed['chat']}/send/", data={"text": "Tell me a story"})
    pk = int(re.findall(r'id="answer-(\d+)"', sent.text)[-1])
    return follow(reader, seed, pk, started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    mock = MockCloud(reply_tokens=40, token_delay=0.01)
    with ExitStack() as stack:
        vendor = ServerThread(mock).start()
        stack.callback(vendor.stop)
        env = cluster_env(
            stack.enter_context(temporary_postgres()), stack.enter_context(temporary_redis())
        )
        seed = json.loads(script(env, "seed", vendor.url + "/v1"))
        a, _ = stack.enter_context(hub_process(env))
        b, _ = stack.enter_context(hub_process(env))
        _route(a, seed["key"]), _route(b, seed["key"])  # warm both
        policy = policy_rounds(a, b, seed, options.rounds)
        same = [chat_round(a, a, seed) for _ in range(options.rounds)]
        other = [chat_round(a, b, seed) for _ in range(options.rounds)]
    result = {
        "policy_seconds": {"median": statistics.median(policy), "max": max(policy)},
        "chat_same_process": {
            "first_token_median": statistics.median(f for f, _ in same),
            "end_median": statistics.median(e for _, e in same),
        },
        "chat_other_process": {
            "first_token_median": statistics.median(f for f, _ in other),
            "end_median": statistics.median(e for _, e in other),
        },
        "rounds": options.rounds,
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cluster.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
