"""CPU per non-streamed cloud call: the SDK's typed ``create(**kwargs)`` (how
the adapter used to call) against ``client.post`` with a plain dict body (how
it calls now), both against the loopback mock vendor, in one process.

    .venv/bin/python bench/cloud_request_cpu.py [--calls 300]

Process CPU time (client and mock together, the mock's share identical in
both), so a busy machine skews it less than wall time would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2
import openai

from tests.support.openai_mock import MockCloud, ServerThread

BODY: dict[str, Any] = {
    "model": "mock-1",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi " * 50},
    ],
    "max_tokens": 16,
    "temperature": 0.2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "none",
}


async def typed(client: openai.AsyncOpenAI) -> None:
    async with client.chat.completions.with_streaming_response.create(**BODY) as response:
        json.loads(await response.read())


async def plain(client: openai.AsyncOpenAI) -> None:
    # cast_to=httpx2.Response: the SDK hands back the raw response, unparsed
    # (its stubs type the call by stream_cls).
    response = cast(httpx2.Response, await client.post(
        "/chat/completions", body=BODY, cast_to=httpx2.Response, stream=True,
        stream_cls=openai.AsyncStream,
    ))  # fmt: skip
    try:
        json.loads(await response.aread())
    finally:
        await response.aclose()


async def measure(url: str, calls: int) -> dict[str, float]:
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    results = {}
    for name, call in (("typed create()", typed), ("plain post()", plain)) * 2:
        for _ in range(20):
            await call(client)  # warm
        started = time.process_time()
        for _ in range(calls):
            await call(client)
        results[name] = (time.process_time() - started) / calls * 1000
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    server = ServerThread(MockCloud()).start()
    try:
        results = asyncio.run(measure(server.url + "/v1", args.calls))
    finally:
        server.stop()
    for name, ms in results.items():
        print(f"{name:16} {ms:.3f} ms CPU per call")


if __name__ == "__main__":
    main()
