"""The routing dev set (bench/routing): generated deterministically, items
added later leave the labelled ones as they were, split by group, chat and
math have enough of both classes in the test split to be measured, and mcq
and fact items are labelled by the majority of their trials."""

import re
from collections import Counter

import pytest

from bench.routing import devset, generate, label


@pytest.fixture(scope="module")
def items() -> list[generate.Item]:
    return generate.generate()


def test_the_set_is_the_same_for_a_seed_and_its_ids_are_unique(items):
    assert generate.generate() == items
    assert len({i["id"] for i in items}) == len(items)


def _trials(items: list[generate.Item]) -> list[generate.Item]:
    return [t for i in items if "check" in i for t in label.trials_of(i)]


def test_every_cached_answer_still_matches_its_item(items):
    """Items added later come from their own seed: the earlier items keep
    their turns, so every answer in the cache still labels one (trial)."""
    current = {label.cache_key(t) for t in _trials(items)}
    assert set(label.cached()) <= current


def test_every_checked_item_has_an_answer_for_each_trial(items):
    answers = label.cached()
    missing = [t["id"] for t in _trials(items) if label.cache_key(t) not in answers]
    assert missing == []


@pytest.mark.parametrize(
    ("right", "hard"),
    [
        ([True, True, True, True], 0),
        ([True, False, True, True], 0),  # 3 of 4 rotations: easy
        ([True, False, True, False], 1),  # 2 of 4: no better than a lucky guesser
        ([False, False, True, False], 1),  # a model naming always C is right once
        ([True, True, False], 0),  # 2 of 3 phrasings: easy
        ([False, True, False], 1),
        ([True], 0),
        ([False], 1),
    ],
)
def test_an_item_is_easy_only_if_right_in_a_majority_of_its_trials(right, hard):
    assert label.trial_label(right) == hard


def test_trial_label_needs_a_trial():
    with pytest.raises(ValueError):
        label.trial_label([])


def test_mcq_trials_put_the_right_option_at_each_letter_with_the_same_question(items):
    mcq = [i for i in items if i["kind"] == "mcq"]
    assert mcq
    for item in mcq:
        trials = label.trials_of(item)
        assert sorted(t["check"]["answer"] for t in trials) == list("ABCD")
        right = item["check"]["options"][generate.LETTERS.index(item["check"]["answer"])]
        question = item["turns"][0].splitlines()[0]
        for t in trials:
            options = t["check"]["options"]
            assert options[generate.LETTERS.index(t["check"]["answer"])] == right
            assert sorted(options) == sorted(item["check"]["options"])
            assert t["turns"][0].splitlines()[0] == question
        # The item routing sees is one of its trials, under its own id.
        assert [t["id"] for t in trials if t["turns"] == item["turns"]] == [item["id"]]


def test_fact_trials_are_three_phrasings_and_multiturn_keeps_its_small_talk(items):
    for item in items:
        if item["kind"] == "fact":
            trials = label.trials_of(item)
            assert len(trials) == 3 and len({t["turns"][0] for t in trials}) == 3
            assert item["turns"] in [t["turns"] for t in trials]
        if item["kind"] == "multiturn" and "trials" in item:
            for t in label.trials_of(item):
                assert t["turns"][:-1] == item["turns"][:-1]


def test_a_group_is_never_on_both_sides_of_the_split():
    sides: dict[str, set[str]] = {}
    for row in devset.build():
        sides.setdefault(str(row.get("group", row["id"])), set()).add(row["split"])
    assert all(len(s) == 1 for s in sides.values())
    forms = [g for g in sides if g.startswith("chat-form:")]
    assert len(forms) == len(generate.CHAT_CONSTRAINED)


_SUM = re.compile(r"^What is (\d+) (\+|plus|-|times) (\d+)\?")


def test_simple_math_answers_are_the_arithmetic_they_ask(items):
    simple = [i for i in items if i["id"].startswith("math-simple-")]
    assert len(simple) == generate.SIMPLE_MATH_COUNT
    checked = 0
    for item in simple:
        found = _SUM.match(item["turns"][0])
        if found:
            a, op, b = int(found[1]), found[2], int(found[3])
            want = {"+": a + b, "plus": a + b, "-": a - b, "times": a * b}[op]
            assert item["check"]["answer"] == want
            checked += 1
    assert checked >= len(simple) // 4


@pytest.mark.parametrize("kind", ["chat", "math"])
def test_chat_and_math_have_both_classes_in_the_test_split(kind):
    """≥ 20 of the minority class: one item no longer moves the AUC by much."""
    counts = Counter(
        r["label"] for r in devset.build() if r["kind"] == kind and r["split"] == "test"
    )
    assert min(counts[0], counts[1]) >= 20, counts
