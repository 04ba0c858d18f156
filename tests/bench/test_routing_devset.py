"""The routing dev set (bench/routing): generated deterministically, items
added later leave the labelled ones as they were, split by group, and chat
and math have enough of both classes in the test split to be measured."""

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


def test_every_cached_answer_still_matches_its_item(items):
    """Items added later come from their own seed: the earlier items keep
    their turns, so every answer in the cache still labels one."""
    current = {f"{i['id']}:{label.key(i)}" for i in items}
    assert set(label.cached()) <= current


def test_every_checked_item_has_an_answer(items):
    answers = label.cached()
    missing = [
        i["id"] for i in items if "check" in i and f"{i['id']}:{label.key(i)}" not in answers
    ]
    assert missing == []


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
