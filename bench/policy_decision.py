"""Decision speed: classification + complexity scoring + rule evaluation.

    .venv/bin/python bench/policy_decision.py

Runs ``apps.policy.engine.decide`` (the function the gateway calls for every
request) with the shipped local-first policy on a hand-built catalogue, for a
4 KB prompt (p50/p99 over 3000 runs) and a 200 KB prompt (median of 20).
Targets: 4 KB p50 < 1 ms and p99 < 5 ms; 200 KB < 100 ms. No Django setup or
database: the decision is pure. Each of these runs is cold: the classifier's
remembered scans are dropped first. A third row is shaped like the API
requests of ../shared/bench: a fixed system prompt and a new 600-character
message each time, with the classifier remembering scans as it does in a
running hub (the system prompt's scan is found, the message's is not).

With the ``ner`` extra installed it adds a row with the NER model switched on
(HYBRIDHUB_NER=on): the same 4 KB prompt, p50/p99 over 100 runs, one thread
(the gateway runs it off the event loop). Target: p99 < 25 ms.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.policy.detectors import ner  # noqa: E402
from apps.policy.document import default_document  # noqa: E402
from apps.policy.engine import CompiledPolicy, Facts, decide  # noqa: E402
from apps.providers.specs import Catalog, ModelSpec, ProviderSpec  # noqa: E402

LOCAL = ProviderSpec(1, "local", "local_llama_cpp", "on_prem", "", "", 60, 0, "v")
CLOUD = ProviderSpec(2, "vendor", "openai_compatible", "vendor", "http://v", "", 60, 2, "v")
CATALOG = Catalog(
    models={
        m.name: m
        for m in (
            ModelSpec(1, "fast", LOCAL, "", 8192, 0, 0, frozenset(), (), None, "v"),
            ModelSpec(2, "deep", LOCAL, "", 32768, 1, 1, frozenset(), (), None, "v"),
            ModelSpec(3, "gpt", CLOUD, "gpt", 128000, 150_000, 600_000, frozenset(), (), None, "v"),
        )
    },
    loaded_at=1,
)
SENTENCES = [
    "Please review the quarterly numbers and summarise the main changes for the team.",
    "The deployment pipeline failed twice last week because of a flaky integration test.",
    "Can you compare the two vendor proposals and recommend one, explaining the trade-offs?",
    "Our customer asked whether the export can include the audit columns as well.",
    "def handler(event):\n    return {'status': 200, 'body': event['path']}",
    "Meeting notes: migrate the billing jobs, then retire the old cron host by Friday.",
]
SENSITIVE = [
    "Contact jane.doe@example.org for the contract.",
    "The server at 10.20.30.40 keeps timing out.",
    "Call me on +44 20 7946 0958 tomorrow.",
]


def prompt_of(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    parts, length = [], 0
    while length < size:
        piece = rng.choice(SENSITIVE if rng.random() < 0.05 else SENTENCES)
        parts.append(piece)
        length += len(piece) + 1
    return " ".join(parts)[:size]


def timed(policy: CompiledPolicy, text: str) -> float:
    """One cold decision: the text's remembered scan is dropped first."""
    facts = Facts(1, 1, 1, "api", "auto", len(text) // 4, None, datetime(2026, 11, 24, 12))
    policy.classifier(facts.team_id).forget()
    started = time.perf_counter()
    decide(policy, CATALOG, [text], facts)
    return time.perf_counter() - started


API_SYSTEM = "You are a concise assistant."
API_PROMPT = (
    "Summarise the following customer note in two sentences and list any action items. "
    "The customer reports that the weekly export job finished late again, that two rows were "
    "duplicated in the report, and asks whether the retention policy changed last month. "
) * 3


def api_shaped(policy: CompiledPolicy, seq: int) -> float:
    """A request as ../shared/bench sends it: the same system prompt every
    time, a 600-character message that differs each time (remembered scans
    as in a running hub: the system prompt's is found, the message's not)."""
    texts = [API_SYSTEM, f"{API_PROMPT[:600]} [req {seq}]"]
    facts = Facts(1, 1, 1, "api", "auto", 160, None, datetime(2026, 11, 24, 12))
    started = time.perf_counter()
    decide(policy, CATALOG, texts, facts)
    return time.perf_counter() - started


def main() -> None:
    policy = CompiledPolicy(1, default_document())
    small, large = prompt_of(4 * 1024), prompt_of(200 * 1024)
    for _ in range(50):
        timed(policy, small)  # warm: compile the classifier, fill caches
    runs = sorted(timed(policy, small) for _ in range(3000))
    big = [timed(policy, large) for _ in range(20)]
    api = sorted(api_shaped(policy, seq) for seq in range(3000))
    result = {
        "4kb_p50_ms": runs[len(runs) // 2] * 1000,
        "4kb_p99_ms": runs[int(len(runs) * 0.99)] * 1000,
        "200kb_median_ms": statistics.median(big) * 1000,
        "api_p50_ms": api[len(api) // 2] * 1000,
        "api_p99_ms": api[int(len(api) * 0.99)] * 1000,
    }
    print(
        f"4 KB prompt: p50 {result['4kb_p50_ms']:.3f} ms, p99 {result['4kb_p99_ms']:.3f} ms; "
        f"200 KB prompt: median {result['200kb_median_ms']:.1f} ms\n"
        f"system prompt + new 600-character message: p50 {result['api_p50_ms']:.3f} ms, "
        f"p99 {result['api_p99_ms']:.3f} ms"
    )
    if ner.installed():
        result.update(ner_row(policy, small))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "policy_decision.json").write_text(json.dumps(result, indent=2))


def ner_row(policy: CompiledPolicy, text: str) -> dict[str, float]:
    """Wall-clock p50/p99 with the model on, and its CPU time (the cost that
    other requests on the machine feel, whatever else runs)."""
    ner.configure(enabled=True)
    try:
        for _ in range(5):
            timed(policy, text)  # warm: load the model
        runs, cpu = [], []
        for _ in range(100):
            started = time.thread_time()
            runs.append(timed(policy, text))
            cpu.append(time.thread_time() - started)
    finally:
        ner.configure(enabled=False)
    runs.sort()
    row = {
        "ner_4kb_p50_ms": runs[50] * 1000,
        "ner_4kb_p99_ms": runs[98] * 1000,
        "ner_4kb_cpu_median_ms": statistics.median(cpu) * 1000,
    }
    print(
        f"with NER on, 4 KB: p50 {row['ner_4kb_p50_ms']:.1f} ms, p99 {row['ner_4kb_p99_ms']:.1f} ms"
        f" (CPU {row['ner_4kb_cpu_median_ms']:.1f} ms)"
    )
    return row


if __name__ == "__main__":
    main()
