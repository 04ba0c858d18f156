"""The framework's share of a non-streamed completion: Django and ninja alone.

    .venv/bin/python bench/api_path.py [--rounds 7] [--requests 2000] [--profile]

Serves ``POST /v1/chat/completions`` through ``APIHandler`` in this process
(ASGI messages in memory, no socket, no uvicorn), with the gateway replaced
by a canned completion and the key already in the process's key cache: what
is left is the handler, the middleware, URL resolution, ninja's operation
(auth, body parsing and validation), the view's request and response
building and ``send_response``. Prints the process CPU per request, min and
median over the rounds (docs/decisions/0008). ``--profile`` adds a cProfile
of one more round, by cumulative time.

The body is gateway_overhead's harness request: a system message and a
600-character prompt, 64 tokens asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup(set_prefix=False)

import apps.api.openai_router as openai_router  # noqa: E402
from apps.accounts.key_cache import api_key_remember  # noqa: E402
from apps.accounts.models import ApiKey  # noqa: E402
from apps.core.chat_types import TextDelta  # noqa: E402
from apps.core.handlers import APIHandler  # noqa: E402

KEY = "hh_bench_api-path-only-0123456789"
BODY = json.dumps(
    {
        "model": "mock-gpt",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "x " * 300},
        ],
        "max_tokens": 64,
    }
).encode()


class CannedCompletion:
    """What ``completion_start`` returns, as far as the view reads it."""

    id = "chatcmpl-bench"
    created = 0
    route = "cloud:mock-gpt"
    reasons = ["level public: any zone", "rule: default"]
    model = SimpleNamespace(
        name="mock-gpt", provider=SimpleNamespace(name="mock", privacy_zone="vendor")
    )
    decision = SimpleNamespace(
        level_name="public", policy_version=1, rule_name="default", rule_id="default"
    )
    tally = SimpleNamespace(prompt_tokens=150, completion_tokens=64, finish_reason="stop")
    attempts = SimpleNamespace(spend=SimpleNamespace(warnings=[]))

    async def pieces(self) -> Any:
        yield TextDelta("word " * 64)


async def canned_start(*, caller: Any, request: Any) -> CannedCompletion:
    return CannedCompletion()


SCOPE = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
    "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
    "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
    "headers": [
        (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + KEY.encode()),
        (b"content-length", str(len(BODY)).encode()),
    ],
}  # fmt: skip


async def one_request(app: APIHandler) -> int:
    """One request through the handler; returns the status it answered."""
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)  # the disconnect listener waits; cancelled at the end
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(SCOPE, receive, send)
    return statuses[0]


async def serve(app: APIHandler, count: int) -> None:
    for _ in range(count):
        if (status := await one_request(app)) != 200:
            raise SystemExit(f"the API answered {status}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    openai_router.completion_start = canned_start  # type: ignore[assignment]
    api_key_remember(secret=KEY, api_key=ApiKey(id=1, user_id=1, team_id=1))
    app = APIHandler()
    await serve(app, 200)  # warm: imports, caches
    per_request = []
    for _ in range(args.rounds):
        started = time.process_time()
        await serve(app, args.requests)
        per_request.append((time.process_time() - started) / args.requests * 1e6)
    print(
        f"framework path CPU per request: min {min(per_request):.1f} µs, "
        f"median {statistics.median(per_request):.1f} µs ({args.rounds} rounds of {args.requests})"
    )
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        await serve(app, args.requests)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    asyncio.run(main())
