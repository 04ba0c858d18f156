"""The labelled dev set: generated items + cached empirical labels, split
into train and test by group (one country, element, coding task, subject…
never on both sides)."""

from __future__ import annotations

import hashlib
from typing import Any

from .generate import generate
from .label import cached, is_correct, key

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
            found = answers.get(f"{item['id']}:{key(item)}")
            if found is None:
                continue
            # Checked again here, so a fixed checker needs no new model run.
            row["label"] = 0 if is_correct(item["check"], found["answer"]) else 1
            row["answer"] = found["answer"]
            row["label_source"] = (
                f"empirical: SmolLM2-135M answer checked ({item['check']['type']})"
            )
        row["split"] = split_of(str(item.get("group", item["id"])))
        out.append(row)
    return out
