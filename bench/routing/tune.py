"""Feature tuning without the test split: grouped cross-validation on the
train split only, AUC per kind against length alone.

    .venv/bin/python -m bench.routing.tune

Use this while changing the estimator's features (apps/policy/difficulty.py);
the report (bench.routing.report) is for the held-out test split, read once
the features are settled.
"""

from __future__ import annotations

from .devset import build
from .report import _fmt, cross_validated, measured_auc, scores_of


def main() -> None:
    rows = [r for r in build() if r["split"] == "train"]
    cv = cross_validated(rows)
    print(f"Train split only: {len(rows)} items, grouped CV")
    print("| kind | items | hard | AUC estimator (CV) | AUC length only |")
    for kind in [*sorted({r["kind"] for r in rows}), "all"]:
        part = [r for r in rows if kind in ("all", r["kind"])]
        labels = [r["label"] for r in part]
        estimator = _fmt(measured_auc([cv[r["id"]] for r in part], labels))
        length = _fmt(measured_auc([scores_of(r)["length"] for r in part], labels))
        print(f"| {kind} | {len(part)} | {sum(labels)} | {estimator} | {length} |")


if __name__ == "__main__":
    main()
