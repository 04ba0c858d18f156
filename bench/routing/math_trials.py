"""Would repeated trials help one-step math, as they do mcq and fact? A probe,
not part of the dev set: the one-step problems in bare arithmetic forms
(sums, differences, products, doubles: 144 of 240) asked in the other
phrasings of the same arithmetic, with the same numbers.

    .venv/bin/python -m bench.routing.math_trials      # runs what is not cached, prints

Answers are cached in data/math_trials.jsonl (the item's own answer comes
from answers.jsonl). It prints, per operation and phrasing, how often the
small model is right, and how many items a majority-of-phrasings label would
change (docs/routing.md, "Repeated trials", says what was found and why math
keeps one trial).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict

from .generate import SIMPLE_MATH_COUNT, Item, generate
from .label import DATA, _model, answer, cached, is_correct, key, trial_label

PROBE = DATA / "math_trials.jsonl"
# Phrasings of one operation, with the numbers of the item's own (first
# line of each: the form the item was made from, see generate.SIMPLE_MATH).
PHRASINGS = {
    "sum": ["What is {0} + {1}?", "What is {0} plus {1}?", "Add {0} and {1}."],
    "difference": ["What is {0} - {1}?", "What is {0} minus {1}?", "Subtract {1} from {0}."],
    "product": ["What is {0} times {1}?", "What is {0} multiplied by {1}?", "Multiply {0} by {1}."],
    "double": ["What is double {0}?", "What is twice {0}?", "What is {0} + {0}?"],
}
_FORMS = {
    re.compile(r"What is (\d+) \+ (\d+)\?"): "sum",
    re.compile(r"What is (\d+) plus (\d+)\?"): "sum",
    re.compile(r"Add (\d+) and (\d+)\."): "sum",
    re.compile(r"What is (\d+) - (\d+)\?"): "difference",
    re.compile(r"What is (\d+) times (\d+)\?"): "product",
    re.compile(r"What is double (\d+)\?"): "double",
}


def trials(item: Item) -> tuple[str, list[Item]] | None:
    """(operation, the item's trials, its own first) for a bare one-step item."""
    text = item["turns"][0]
    for form, op in _FORMS.items():
        found = form.match(text)
        if found:
            ask = text[found.end() :]
            texts = [p.format(*found.groups()) + ask for p in PHRASINGS[op]]
            others = [t for t in texts if t != text]
            return op, [
                {"id": item["id"], "turns": [text], "check": item["check"]},
                *({"id": f"{item['id']}~{n}", "turns": [t], "check": item["check"]}
                  for n, t in enumerate(others, 1)),
            ]  # fmt: skip
    return None


def main() -> None:
    items = [i for i in generate() if i["id"].startswith("math-simple-")]
    assert len(items) == SIMPLE_MATH_COUNT
    probed = [(item, found) for item in items if (found := trials(item))]
    known = cached()
    if PROBE.exists():
        for line in PROBE.read_text().splitlines():
            row = json.loads(line)
            known[f"{row['id']}:{row['key']}"] = row
    todo = [t for _, (_, ts) in probed for t in ts if f"{t['id']}:{key(t)}" not in known]
    if todo:
        llm = _model()
        with PROBE.open("a") as out:
            for t in todo:
                row = {"id": t["id"], "key": key(t), "answer": answer(llm, t)}
                out.write(json.dumps(row) + "\n")
                known[f"{t['id']}:{key(t)}"] = row
    right: dict[tuple[str, int], list[bool]] = defaultdict(list)
    flips, unanimous = 0, 0
    for _, (op, ts) in probed:
        outcomes = [is_correct(t["check"], known[f"{t['id']}:{key(t)}"]["answer"]) for t in ts]
        for t, ok in zip(ts, outcomes, strict=True):
            phrasing = next(
                n
                for n, p in enumerate(PHRASINGS[op])
                if _shape(p.format(1, 1)) == _shape(t["turns"][0])
            )
            right[(op, phrasing)].append(ok)
        flips += trial_label(outcomes) != (0 if outcomes[0] else 1)
        unanimous += len(set(outcomes)) == 1
    print(f"{len(probed)} one-step items in bare forms, 3 phrasings each")
    for (op, n), oks in sorted(right.items()):
        print(f"{op:10} {PHRASINGS[op][n]:32} right {sum(oks)} of {len(oks)}")
    print(f"same outcome in all 3: {unanimous}; label changed by a majority rule: {flips}")


def _shape(text: str) -> str:
    """A phrasing without its numbers and its trailing ask."""
    return re.sub(r"\d+", "#", text.split("?")[0].split(".")[0])


if __name__ == "__main__":
    main()
