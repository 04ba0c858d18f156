"""What the NER model tier costs per decision, by kind of prompt.

    .venv/bin/python bench/ner_cost.py                    # needs the ner extra
    .venv/bin/python bench/ner_cost.py --graph derived    # six layers, not the student
    .venv/bin/python bench/ner_cost.py --graph shipped    # the 4-bit graph as shipped
    .venv/bin/python bench/ner_cost.py --one-core         # every scan on its own thread only
    .venv/bin/python bench/ner_cost.py --graph shipped --context-words 10 --context-chars 80
                                                          # the gate's windows before

The model reads only windows around candidate words (apps/policy/detectors/
ner_gate.py), so its cost depends on the prompt: nothing on prose and code
without capitalised names, a sentence per name in chat, nearly everything in
a table of people. For each kind this runs ``apps.policy.engine.decide`` with
NER on over 4 KB prompts, the per-text cache emptied before every run (each
prompt is new), and prints wall-clock and CPU p50/p99, the candidate
words and the word pieces the model read. Then two chat requests at once
(two threads of one process), and a chat that re-sends its
history: the cost of the eighth request with and without the cache.

By default the model runs what production runs: the int8 graph of the
three-layer student (apps/policy/detectors/ner_graph.py, decision 0005, sixth
round), derived into var/ner first if it is not there; ``--graph derived``
the six layers' int8 graph derived from the shipped one, ``--graph
shipped`` the 4-bit graph the wheel ships. Wall-clock
figures on a busy machine include waiting for a core; the CPU time is
what the decision itself used, on both cores (the process's CPU time: a scan
with enough to read runs half of it on a second thread while no other scan
runs, ner._Lane). Target (issue #7): wall-clock p99 < 25 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.policy.detectors import ner, ner_gate  # noqa: E402
from apps.policy.document import default_document  # noqa: E402
from apps.policy.engine import CompiledPolicy, Facts, decide  # noqa: E402
from bench.policy_decision import CATALOG, prompt_of  # noqa: E402
from bench.privacy_eval.common import read_records  # noqa: E402

SIZE = 4096
# Written for this bench; the names are not from the privacy set's generator.
NAMES = ["Aisha Bello", "Wei Zhang", "Santiago Herrera", "Olga Ivanova", "Lars Eriksson",
         "Arjun Patel", "Kwame Mensah", "Sophie Martin", "Giulia Romano", "Thandiwe Nkosi",
         "Jonas Becker", "Fatemeh Hosseini", "Mateo Silva", "Hannah Kowalski",
         "Nkechi Obi"]  # fmt: skip
CHAT = [
    "Can you tighten the wording of the release notes below and keep the tone neutral?",
    "The nightly job still fails on the second retry, so the backlog keeps growing.",
    "Please list the steps to rotate the staging certificates without downtime.",
    "I think the dashboard double-counts refunds when an order is split in two.",
    "What would be a sensible default timeout for the export endpoint?",
    "Here is the stack trace from the worker; the queue was almost empty at the time.",
    "We agreed to move the planning session to next week after the audit.",
]
NAMED = [
    "{name} asked whether the export can include the audit columns as well.",
    "I had a call with {name} this morning about the migration plan.",
    "Could you draft a short reply to {name} thanking them for the review?",
]


def chat_prompt(seed: int, named_share: float = 0.2) -> str:
    """Chat-like prose in which about one sentence in five names a person."""
    rng = random.Random(seed)
    parts, length = [], 0
    while length < SIZE:
        if rng.random() < named_share:
            piece = rng.choice(NAMED).format(name=rng.choice(NAMES))
        else:
            piece = rng.choice(CHAT)
        parts.append(piece)
        length += len(piece) + 1
    return " ".join(parts)[:SIZE]


def records_prompts(count: int) -> list[str]:
    """The privacy set's tune texts joined into 4 KB: tickets, CSV rows, logs
    and forms full of names, addresses and identifiers (a worst case)."""
    texts = [r.text for r in read_records() if r.split == "tune" and not r.negative]
    random.Random(0).shuffle(texts)
    prompts, current = [], ""
    for text in texts:
        current += text + "\n\n"
        if len(current) >= SIZE:
            prompts.append(current[:SIZE])
            current = ""
        if len(prompts) == count:
            break
    return prompts


def facts(text: str) -> Facts:
    return Facts(1, 1, 1, "api", "auto", len(text) // 4, None, datetime(2026, 12, 2, 12))


def measure(policy: CompiledPolicy, prompts: Sequence[str], rounds: int) -> dict[str, float]:
    wall, cpu = [], []
    # Once untimed: the first prompt of a kind pays one-off costs of its
    # code path (lazily built tables), which a running server paid long ago.
    decide(policy, CATALOG, [prompts[0] + " "], facts(prompts[0]))
    for _ in range(rounds):
        for prompt in prompts:
            ner._by_text.clear()  # every prompt new to the model
            policy.classifier(1).forget()  # and to the classifier
            started, started_cpu = time.perf_counter(), time.process_time()
            decide(policy, CATALOG, [prompt], facts(prompt))
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
    model = ner.load_model()
    assert model is not None
    windows = [ner_gate.Gate(p[: ner.MAX_MODEL_CHARS]).windows for p in prompts]
    pieces = [
        sum(len(model.tokenizer.encode(p[a:b], add_special_tokens=False).ids) for a, b in w)
        for p, w in zip(prompts, windows, strict=True)
    ]
    return {
        "prompts": len(prompts),
        "runs": len(wall),
        "wall_p50_ms": _pct(wall, 50),
        "wall_p99_ms": _pct(wall, 99),
        "cpu_p50_ms": _pct(cpu, 50),
        "cpu_p99_ms": _pct(cpu, 99),
        "candidates": statistics.mean(len(ner_gate.Gate(p).candidates) for p in prompts),
        "pieces_read": statistics.mean(pieces),
    }


def two_at_once(prompts: Sequence[str], rounds: int = 6) -> dict[str, float]:
    """Two threads of one process deciding chat prompts back to back (two
    requests at once): wall-clock for all, and each decision's latency."""
    policies = [CompiledPolicy(1, default_document()) for _ in range(2)]
    latencies: list[float] = []

    def work(lane: int) -> None:
        policy = policies[lane]
        for turn, prompt in enumerate(list(prompts[lane::2]) * rounds):
            ner._by_text.clear()
            policy.classifier(1).forget()
            text = f"{prompt} {lane}.{turn}"  # never the other thread's text
            started = time.perf_counter()
            decide(policy, CATALOG, [text], facts(text))
            latencies.append(time.perf_counter() - started)

    for policy in policies:  # untimed, as in measure
        decide(policy, CATALOG, [prompts[0] + " "], facts(prompts[0]))
    threads = [threading.Thread(target=work, args=(lane,)) for lane in range(2)]
    started, started_cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "decisions": len(latencies),
        "wall_s": time.perf_counter() - started,
        "cpu_ms_each": (time.process_time() - started_cpu) / len(latencies) * 1000,
        "latency_p50_ms": _pct(latencies, 50),
        "latency_p99_ms": _pct(latencies, 99),
    }


def history(policy: CompiledPolicy, turns: int = 8) -> dict[str, float]:
    """CPU of the last request of a chat whose every request re-sends the
    earlier turns (one named person per turn), with and without the cache."""
    messages = [chat_prompt(100 + turn)[:600] for turn in range(turns)]

    def last_request(clear: Callable[[], None]) -> float:
        ner._by_text.clear()
        policy.classifier(1).forget()
        for turn in range(1, turns):
            decide(policy, CATALOG, messages[:turn], facts(""))
        clear()
        started = time.process_time()
        decide(policy, CATALOG, messages, facts(""))
        return time.process_time() - started

    cached = statistics.median(last_request(lambda: None) for _ in range(5))

    def forget_all() -> None:  # what the model and the classifier remember
        ner._by_text.clear()
        policy.classifier(1).forget()

    uncached = statistics.median(last_request(forget_all) for _ in range(5))
    return {"turns": turns, "cached_cpu_ms": cached * 1000, "uncached_cpu_ms": uncached * 1000}


def _pct(samples: Sequence[float], percent: int) -> float:
    return statistics.quantiles(samples, n=100)[percent - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--graph",
        default="student",
        help="student (what runs in production), derived (the six layers' int8 graph), "
        "shipped, or the path of an experiment's graph",
    )
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "ner")
    parser.add_argument("--context-words", type=int, default=ner_gate.CONTEXT_WORDS)
    parser.add_argument("--context-chars", type=int, default=ner_gate.MAX_CONTEXT_CHARS)
    parser.add_argument(
        "--one-core", action="store_true", help="never run half a scan on a second thread"
    )
    args = parser.parse_args()
    if not ner.installed():
        sys.exit("the ner extra is not installed: pip install -e '.[ner]'")
    ner_gate.CONTEXT_WORDS, ner_gate.MAX_CONTEXT_CHARS = args.context_words, args.context_chars
    derived = args.graph in ("student", "derived")
    if args.graph == "student":  # derived before timing, if it is not there
        ner.student_graph(args.cache_dir)
    elif derived:
        ner.derived_graph(args.cache_dir)
    ner.configure(
        enabled=True,
        cache_dir=args.cache_dir if derived else None,
        second_core=not args.one_core,
        student=args.graph == "student",
    )
    policy = CompiledPolicy(1, default_document())
    decide(policy, CATALOG, [chat_prompt(0)], facts(""))  # load the model
    model = ner.load_model()
    assert model is not None and model.derived == derived
    assert model.student == (args.graph == "student")
    if args.graph not in ("student", "derived", "shipped"):
        model._use(Path(args.graph))  # an experiment's graph (bench/ner_student.py)
        assert model.graph == Path(args.graph), "the graph did not load"
    print(f"graph {model.graph.name}; windows: {args.context_words} words, "
          f"{args.context_chars} characters either side; second core: {ner._parallel}")  # fmt: skip
    kinds = {
        "prose and code, no names (bench/policy_decision.py's prompt)": (
            [prompt_of(SIZE, seed) for seed in range(1, 21)],
            5,
        ),
        "chat, one sentence in five names someone": ([chat_prompt(s) for s in range(40)], 2),
        "privacy-set records: tables, logs, forms full of names": (records_prompts(40), 1),
    }
    result: dict[str, object] = {
        "load_average": os.getloadavg()[0],
        "graph": model.graph.name,
        "context_words": args.context_words,
        "context_chars": args.context_chars,
        "second_core": ner._parallel,
    }
    for name, (prompts, rounds) in kinds.items():
        row = measure(policy, prompts, rounds)
        result[name] = row
        print(
            f"{name}: wall p50 {row['wall_p50_ms']:.1f} ms, p99 {row['wall_p99_ms']:.1f} ms; "
            f"CPU p50 {row['cpu_p50_ms']:.1f} ms, p99 {row['cpu_p99_ms']:.1f} ms; "
            f"{row['candidates']:.1f} candidate words, {row['pieces_read']:.0f} word pieces read"
        )
    both = two_at_once([chat_prompt(s) for s in range(40)])
    result["two at once"] = both
    print(
        f"two chat requests at once, {both['decisions']} decisions: {both['wall_s']:.2f} s, "
        f"CPU {both['cpu_ms_each']:.1f} ms each; latency p50 {both['latency_p50_ms']:.1f} ms, "
        f"p99 {both['latency_p99_ms']:.1f} ms"
    )
    chat = history(policy)
    result["chat history"] = chat
    print(
        f"chat of {chat['turns']} turns, last request: CPU {chat['cached_cpu_ms']:.1f} ms with the "
        f"cache, {chat['uncached_cpu_ms']:.1f} ms without"
    )
    print(f"(load average {result['load_average']:.1f} on {os.cpu_count()} cores)")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ner_cost.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
