"""Person-name recall on names from many cultures, without and with NER.

    .venv/bin/pip install faker   # not a project dependency: for this script only
    .venv/bin/python bench/ner_names_eval.py

Names come from Faker's locale data (27 locales, 20 names each, seeded); the
chat-like sentences around them are ten templates written here, none with a
cue word the rule tier knows ("Mr", "Dear", "my name is"). A name counts as
found when one PERSON finding covers all of it. Neither the names nor the
templates were used to tune the detectors, but the templates are few: treat
the figures as an estimate, not as a measurement on real chat text.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.policy.classification import Classifier  # noqa: E402
from apps.policy.detectors import ner  # noqa: E402

LATIN = ["en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "tr_TR",
         "nl_NL", "pt_BR", "sv_SE", "cs_CZ", "fi_FI", "da_DK", "ro_RO", "hu_HU", "yo_NG",
         "vi_VN"]  # fmt: skip
OTHER_SCRIPTS = ["ja_JP", "zh_CN", "ko_KR", "hi_IN", "fa_IR", "ar_AA", "ru_RU", "el_GR"]
TEMPLATES = [
    "can you draft a polite reminder to {} about the overdue invoice?",
    "I met {} at the conference and we talked about the migration plan.",
    "Please summarise the attached complaint from {} in two sentences.",
    "{} will cover the on-call shift this weekend, ping them if the pager fires.",
    "My manager {} wants the slides by Thursday, what should I put on slide 3?",
    "Write a short thank-you note to {} for hosting the workshop.",
    "hey, is it ok if {} joins our standup tomorrow?",
    "The contract was signed by {} on behalf of the buyer.",
    "Translate this for my neighbour {}: the parcel is at my place.",
    "Who should review the PR, {} or the platform team?",
]


def samples() -> list[tuple[str, str, str]]:
    from faker import Faker

    rng = random.Random(7)
    out = []
    for locale in LATIN + OTHER_SCRIPTS:
        fake = Faker(locale)
        fake.seed_instance(7)
        for _ in range(20):
            name = f"{fake.first_name()} {fake.last_name()}"
            out.append((locale, name, rng.choice(TEMPLATES).format(name)))
    return out


def recall(data: list[tuple[str, str, str]]) -> dict[str, float]:
    classifier = Classifier()
    found: Counter[str] = Counter()
    for locale, name, text in data:
        at = text.index(name)
        found[locale] += any(
            f.label == "PERSON" and f.start <= at and at + len(name) <= f.end
            for f in classifier.scan(text)
        )

    def share(locales: list[str]) -> float:
        return sum(found[loc] for loc in locales) / (20 * len(locales))

    return {"latin_script": share(LATIN), "other_scripts": share(OTHER_SCRIPTS)}


def main() -> None:
    data = samples()
    result = {"rules_only": recall(data)}
    if ner.installed():
        ner.student_graph(ROOT / "var" / "ner")  # the int8 graph that runs in production
        ner.configure(enabled=True, cache_dir=ROOT / "var" / "ner", student=True)
        result["with_ner"] = recall(data)
    for tier, figures in result.items():
        print(f"{tier}: " + ", ".join(f"{k} recall {v:.3f}" for k, v in figures.items()))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ner_names_eval.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
