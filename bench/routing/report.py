"""The dev-set report: ROC AUC per prompt kind, estimator vs length alone
(and vs the legacy scorer), and the confusion at the shipped operating point.

    .venv/bin/python -m bench.routing.report            # prints, and updates docs/routing.md
    .venv/bin/python -m bench.routing.report --label    # first labels what is missing (slow)

Reads the shipped weights (apps/policy/data/difficulty.json); retrain them
with ``python manage.py retrain_difficulty``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from apps.policy import difficulty  # noqa: E402
from apps.policy.calibration import auc  # noqa: E402
from apps.policy.complexity import LEGACY_WEIGHTS, legacy_features_of, legacy_score  # noqa: E402

from .devset import build  # noqa: E402

DOC = ROOT / "docs" / "routing.md"
START, END = "<!-- report:start -->", "<!-- report:end -->"


def tokens(turns: Sequence[str]) -> int:
    return sum(len(t) for t in turns) // 4 + 1


def scores_of(item: dict[str, Any]) -> dict[str, float]:
    turns = item["turns"]
    est = difficulty.estimate(turns, estimated_tokens=tokens(turns), max_tokens=None)
    legacy = legacy_score(
        legacy_features_of(turns, estimated_tokens=tokens(turns), max_tokens=None),
        LEGACY_WEIGHTS,
    )
    return {
        "estimator": est.score,
        "length": float(sum(len(t) for t in turns)),
        "legacy": legacy.score,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# An AUC over fewer easy (or hard) items than this is shown as "-": mcq has
# 2 easy items of 120 (the small model is at chance on it), and an AUC over
# 2 easy items says nothing.
MIN_CLASS = 3


def measured_auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    if min(sum(labels), len(labels) - sum(labels)) < MIN_CLASS:
        return None
    return auc(scores, labels)


FOLDS = 5


def cross_validated(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each item's score from a model fitted without its group (5 folds by
    group over the whole set): steadier per-kind numbers on a small set."""
    from apps.policy import difficulty_fit

    def fold(row: dict[str, Any]) -> int:
        group = str(row.get("group", row["id"]))
        return int(hashlib.sha256(group.encode()).hexdigest(), 16) % FOLDS

    out: dict[str, float] = {}
    for k in range(FOLDS):
        train = [r for r in rows if fold(r) != k]
        model = difficulty_fit.fit_texts([r["turns"] for r in train], [r["label"] for r in train])
        weights = difficulty.Weights(
            model["bias"], model["features"], model["ngrams"], 0.5, (0.5, 0.75)
        )
        for r in rows:
            if fold(r) == k:
                features, _ = difficulty.features_of(
                    r["turns"], estimated_tokens=tokens(r["turns"]), max_tokens=None,
                    ngrams=weights.ngrams,
                )  # fmt: skip
                out[r["id"]] = difficulty.score(features, weights=weights).score
    return out


def _against_length(versus: dict[str, tuple[float | None, float | None]], where: str) -> str:
    """One line, regenerated with the numbers: where the estimator beats length."""
    ahead: list[str] = []
    level: list[str] = []
    behind: list[str] = []
    unmeasured: list[str] = []
    for kind, (estimator, length) in versus.items():
        if kind == "all":
            continue
        if estimator is None or length is None:
            unmeasured.append(kind)
            continue
        gap = round(estimator - length, 2)
        (ahead if gap > 0 else level if gap == 0 else behind).append(kind)
    parts = [
        f"above it on {', '.join(ahead)}" if ahead else "",
        f"level on {', '.join(level)}" if level else "",
        f"below it on {', '.join(behind)}" if behind else "",
        f"not measured on {', '.join(unmeasured)} (fewer than {MIN_CLASS} easy or hard items)"
        if unmeasured
        else "",
    ]
    said = "; ".join(p for p in parts if p)
    return f"Against length alone on {where}, the estimator's AUC is {said or 'not measurable'}."


def _cv_table(rows: list[dict[str, Any]]) -> list[str]:
    cv = cross_validated(rows)
    lines = [
        "",
        f"Grouped {FOLDS}-fold cross-validation over the whole set (each item scored by a model "
        "fitted without its group):",
        "",
        "| kind | items | hard | AUC estimator (CV) | AUC length only | AUC legacy scorer |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    kinds = sorted({r["kind"] for r in rows})
    versus: dict[str, tuple[float | None, float | None]] = {}
    for kind in [*kinds, "all"]:
        part = [r for r in rows if kind in ("all", r["kind"])]
        labels = [r["label"] for r in part]
        base = [scores_of(r) for r in part]
        found = [
            measured_auc([cv[r["id"]] for r in part], labels),
            measured_auc([b["length"] for b in base], labels),
            measured_auc([b["legacy"] for b in base], labels),
        ]
        versus[kind] = (found[0], found[1])
        cells = [_fmt(v) for v in found]
        lines.append(f"| {kind} | {len(part)} | {sum(labels)} | " + " | ".join(cells) + " |")
    return [*lines, "", _against_length(versus, "cross-validation")]


def _per_kind_confusion(
    scored: list[tuple[dict[str, Any], dict[str, float]]], threshold: float, kinds: list[str]
) -> list[str]:
    """At the operating point, per kind: what an AUC cannot say for a kind
    with one class only (mcq: the small model is at chance on it)."""
    lines = [
        "Per kind, at the same operating point (test split):",
        "",
        "| kind | hard caught | easy sent up |",
        "| --- | ---: | ---: |",
    ]
    for kind in kinds:
        part = [(r["label"], s["estimator"] >= threshold) for r, s in scored if r["kind"] == kind]
        hard = [up for label, up in part if label]
        easy = [up for label, up in part if not label]
        cells = [f"{sum(c)} of {len(c)}" if c else "-" for c in (hard, easy)]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


def report() -> str:
    rows = build()
    test = [r for r in rows if r["split"] == "test"]
    scored = [(r, scores_of(r)) for r in test]
    kinds = sorted({r["kind"] for r in rows})
    lines = [
        f"Dev set: {len(rows)} labelled items ({sum(r['split'] == 'train' for r in rows)} train, "
        f"{len(test)} test); {sum(r['label'] for r in rows)} hard (the small model fails).",
        "",
        "| kind | test items | hard | AUC estimator | AUC length only | AUC legacy scorer |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    versus: dict[str, tuple[float | None, float | None]] = {}
    for kind in [*kinds, "all"]:
        part = [(r, s) for r, s in scored if kind in ("all", r["kind"])]
        labels = [r["label"] for r, _ in part]
        found = {
            m: measured_auc([s[m] for _, s in part], labels)
            for m in ("estimator", "length", "legacy")
        }
        versus[kind] = (found["estimator"], found["length"])
        cells = [_fmt(v) for v in found.values()]
        lines.append(f"| {kind} | {len(part)} | {sum(labels)} | " + " | ".join(cells) + " |")
    lines += ["", _against_length(versus, "the test split")]
    threshold = difficulty.shipped().threshold
    tp = sum(1 for r, s in scored if r["label"] and s["estimator"] >= threshold)
    fn = sum(1 for r, s in scored if r["label"] and s["estimator"] < threshold)
    fp = sum(1 for r, s in scored if not r["label"] and s["estimator"] >= threshold)
    tn = sum(1 for r, s in scored if not r["label"] and s["estimator"] < threshold)
    lines += [
        "",
        f"Confusion on the test split at the shipped operating point (score ≥ {threshold:.2f} "
        "→ needs more than the small model):",
        "",
        "| | routed up | kept on the small model |",
        "| --- | ---: | ---: |",
        f"| hard (small model fails) | {tp} | {fn} |",
        f"| easy (small model succeeds) | {fp} | {tn} |",
        "",
        f"Routed up: {(tp + fp) / max(1, len(scored)):.0%} of test prompts; "
        f"hard prompts caught: {tp / max(1, tp + fn):.0%}; "
        f"easy prompts sent up needlessly: {fp / max(1, fp + tn):.0%}.",
        "",
        *_per_kind_confusion(scored, threshold, kinds),
        "",
        *_cv_table(rows),
        "",
        "Label sources: "
        + "; ".join(
            f"{src} ({n})" for src, n in sorted(_count(r["label_source"] for r in rows).items())
        )
        + ".",
    ]
    return "\n".join(lines)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", action="store_true", help="run the labeller first (slow)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.label:
        from .label import main as label

        label()
    text = report()
    print(text)
    if not args.no_write and DOC.exists():
        doc = DOC.read_text()
        if START in doc and END in doc:
            head, rest = doc.split(START, 1)
            _, tail = rest.split(END, 1)
            DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    main()
