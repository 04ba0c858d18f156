"""What the text cannot say: how sure the small model is of its own answer.

    .venv/bin/python -m bench.routing.confidence          # answers what is not cached, then reports

The estimator reads the request; which facts a 135M model knows is not in
it (docs/routing.md). The model's own answer says more: this asks
SmolLM2-135M each checked item of the fact, math and multi-turn kinds again
(the item's own turns, as the labeller does: greedy, the same system message
and token budget) with logprobs, and keeps the answer's confidence as the
hub computes it for every local answer (``Usage.confidence``: the geometric
mean, over the answer's steps, of the probability of the model's likeliest
next token). Cached in
data/confidence.jsonl (numbers only), keyed like the labeller's answers.

It prints, per kind, the ROC AUC of (1 - confidence) against the item's
label, beside the estimator's and length's on the same items, on the test
split; and the threshold under which an answer counts as unsure
(``difficulty.UNSURE_BELOW``), chosen on the train split (the largest gap
between hard answers caught and easy answers flagged), with what it catches
on the test split. mcq is left out: the model fails 118 of 120.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

from apps.policy import difficulty

from .devset import build
from .label import DATA, MAX_TOKENS, _model, is_correct, key, messages_of
from .report import _fmt, measured_auc, scores_of

CACHE = DATA / "confidence.jsonl"
KINDS = ("fact", "math", "multiturn")
# How the answer is drawn: greedy (as the labeller's answers), and as the hub
# samples when a request names no temperature (local_ctransformers.sampling:
# temperature 0.8, top-k 40; repeat penalty 1.1), which is what the chat does.
MODES: dict[str, dict[str, Any]] = {
    "greedy": {"temperature": 0.0},
    "sampled": {"temperature": 0.8, "top_k": 40, "top_p": 1.0, "repeat_penalty": 1.1},
}


Answer = tuple[float, bool]  # (confidence, the answer passed its check)


def cached() -> dict[str, Answer]:
    if not CACHE.exists():
        return {}
    out = {}
    for line in CACHE.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # cut off by an interrupted run: asked again
        out[f"{row['mode']}:{row['id']}:{row['key']}"] = (float(row["confidence"]), row["right"])
    return out


def answer_of(llm: Any, item: dict[str, Any], mode: str) -> Answer:
    """The answer's confidence, and whether the answer passed the item's check."""
    out = llm.create_chat_completion(
        messages=messages_of(item), max_tokens=MAX_TOKENS[item["check"]["type"]], seed=12,
        logprobs=True, top_logprobs=1, **MODES[mode],
    )  # fmt: skip
    choice = out["choices"][0]
    right = is_correct(item["check"], str(choice["message"]["content"] or ""))
    entries = (choice["logprobs"] or {}).get("content") or []
    if not entries:
        return 1.0, right  # an empty answer: nothing the model was unsure of
    # The likeliest token's log-probability at each step, as the hub's
    # top_logprob: greedy, the token it wrote; sampled, whichever it drew.
    tops = [float(e["top_logprobs"][0]["logprob"]) for e in entries]
    return round(math.exp(sum(tops) / len(tops)), 4), right


def answered(rows: list[dict[str, Any]], mode: str, share: str = "0/1") -> dict[str, Answer]:
    """Each row's answer in ``mode``, asking the model what is not cached
    (``share`` "k/n": this worker's part, for n workers in parallel)."""
    known = cached()
    part, parts = map(int, share.split("/"))
    todo = [r for r in rows if f"{mode}:{r['id']}:{key(r)}" not in known][part::parts]
    if todo:
        print(f"{len(todo)} items to ask ({mode})", flush=True)
        llm = _model(logits_all=True)
        started = time.monotonic()
        with CACHE.open("a") as out:
            for done, row in enumerate(todo, 1):
                confidence, right = answer_of(llm, row, mode)
                entry = {"mode": mode, "id": row["id"], "key": key(row)}
                out.write(json.dumps({**entry, "confidence": confidence, "right": right}) + "\n")
                out.flush()
                known[f"{mode}:{row['id']}:{key(row)}"] = (confidence, right)
                if done % 50 == 0:
                    print(f"{done}/{len(todo)} in {time.monotonic() - started:.0f} s", flush=True)
    keys = {r["id"]: f"{mode}:{r['id']}:{key(r)}" for r in rows}
    return {i: known[k] for i, k in keys.items() if k in known}


def threshold(values: list[float], wrong: list[int]) -> float:
    """The cut that maximises wrong answers caught minus right ones flagged (shares)."""
    bad, good = sum(wrong), len(wrong) - sum(wrong)
    best, cut = -1.0, 0.5
    for c in sorted(set(values)):
        caught = sum(1 for v, y in zip(values, wrong, strict=True) if v < c and y) / bad
        flagged = sum(1 for v, y in zip(values, wrong, strict=True) if v < c and not y) / good
        if caught - flagged > best:
            best, cut = caught - flagged, c
    return cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default=",".join(MODES), help="greedy,sampled")
    parser.add_argument("--share", default="0/1", help="k/n: ask only this worker's part")
    args = parser.parse_args()
    rows = [r for r in build() if r["kind"] in KINDS]
    scores = {r["id"]: scores_of(r)["estimator"] for r in rows}
    local = difficulty.shipped().threshold
    shipped = difficulty.UNSURE_BELOW
    for mode in args.modes.split(","):
        answers = answered(rows, mode, args.share)
        if len(answers) < len(rows):
            print(f"{mode}: {len(answers)} of {len(rows)} items answered so far")
            continue
        wrong = {i: int(not right) for i, (_, right) in answers.items()}
        unsure = {i: 1 - confidence for i, (confidence, _) in answers.items()}
        print(f"\n{mode}: does the answer's confidence say it is wrong? ROC AUC, test split")
        print("| kind | answers | wrong | all answers | those the estimator keeps local |")
        print("| --- | ---: | ---: | ---: | ---: |")
        test = [r for r in rows if r["split"] == "test"]
        for kind in [*KINDS, "all"]:
            part = [r for r in test if kind in ("all", r["kind"])]
            kept = [r for r in part if scores[r["id"]] < local]
            cells = [
                _fmt(measured_auc([unsure[r["id"]] for r in p], [wrong[r["id"]] for r in p]))
                for p in (part, kept)
            ]
            bad = sum(wrong[r["id"]] for r in part)
            print(f"| {kind} | {len(part)} | {bad} | {' | '.join(cells)} |")
        train = [r for r in rows if r["split"] == "train" and scores[r["id"]] < local]
        cut = threshold([1 - unsure[r["id"]] for r in train], [wrong[r["id"]] for r in train])
        print(f"Best cut on the train split's locally kept answers: {cut:.2f}")
        kept = [r for r in test if scores[r["id"]] < local]
        flagged = [r for r in kept if 1 - unsure[r["id"]] < shipped]
        caught = sum(wrong[r["id"]] for r in flagged)
        print(
            f"Cascade at UNSURE_BELOW {shipped}, test split: of {len(kept)} answers the "
            f"estimator keeps local ({sum(wrong[r['id']] for r in kept)} wrong), {len(flagged)} "
            f"are unsure: {caught} wrong ones replaced, {len(flagged) - caught} right ones "
            "asked again needlessly"
        )


if __name__ == "__main__":
    main()
