"""How much of one-step math's difficulty is in the phrasing at all.

    .venv/bin/python -m bench.routing.ceiling

The 240 one-step problems come in 10 forms ("What is 9 + 6?", "Add 3 and
9.", "What is double 5?"…) with or without "Answer with the number." The
phrasing is what routing can read; which small numbers are asked is not a
difficulty any general feature knows (a carry made the model slightly *more*
often right: docs/routing.md). So an oracle that knows each item's phrasing
and predicts the train split's failure rate for it bounds what reading the
phrasing can do. Printed: its ROC AUC on the test split's one-step items
and over all test math (the multi-step items ranked above every one-step
one), beside the estimator's and length's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .devset import build
from .generate import SIMPLE_MATH
from .report import _fmt, measured_auc, scores_of

ONE_STEP = "math-simple-"


def _form(row: dict[str, Any]) -> int:
    return int(row["id"].removeprefix(ONE_STEP)) % len(SIMPLE_MATH)


def _phrasing(row: dict[str, Any]) -> tuple[int, bool]:
    return _form(row), "Answer with the number." in row["turns"][0]


def main() -> None:
    math = [r for r in build() if r["kind"] == "math"]
    one_step = [r for r in math if r["id"].startswith(ONE_STEP)]
    test = [r for r in math if r["split"] == "test"]
    test_one = [r for r in test if r["id"].startswith(ONE_STEP)]
    scores = {r["id"]: scores_of(r) for r in test}
    print(f"Test split: {len(test_one)} one-step items of {len(test)} math items")
    print("| scorer | one-step | all math |")
    print("| --- | ---: | ---: |")
    oracles: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("oracle: the form's train failure rate", _form),
        ("oracle: the form's and suffix's", _phrasing),
    ]
    for name, key in oracles:
        seen: dict[Any, list[int]] = defaultdict(list)
        for row in one_step:
            if row["split"] == "train":
                seen[key(row)].append(row["label"])
        rate = {k: sum(v) / len(v) for k, v in seen.items()}
        # Multi-step problems rank above every one-step one (the model fails
        # nearly all of them); among themselves, by length.
        oracle = {
            r["id"]: rate[key(r)] if r["id"].startswith(ONE_STEP) else 2 + scores[r["id"]]["length"]
            for r in test
        }
        print(f"| {name} | {_cells(oracle, test_one, test)} |")
    for scorer in ("estimator", "length"):
        values = {r["id"]: scores[r["id"]][scorer] for r in test}
        print(f"| {scorer} | {_cells(values, test_one, test)} |")


def _cells(values: dict[str, float], *parts: list[dict[str, Any]]) -> str:
    return " | ".join(
        _fmt(measured_auc([values[r["id"]] for r in part], [r["label"] for r in part]))
        for part in parts
    )


if __name__ == "__main__":
    main()
