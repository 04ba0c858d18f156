"""The console's policy edits as pure functions, driven from tables."""

import pytest

from apps.policy.document import Conditions, CustomDetectorPolicy, RulePolicy, default_document
from apps.policy.edits import (
    detector_put,
    detector_remove,
    error_text,
    parsed,
    policy_warnings,
    rule_add,
    rule_delete,
    rule_move,
    rule_replace,
    rule_toggle,
    rules_shadowed,
    team_floor_set,
)

DOC = default_document()  # sensitive, complex, default


def ids(doc):
    return [rule.id for rule in doc.rules]


def rule(name="R", **when):
    return RulePolicy(id=name.lower()[:16], name=name, models=("@local",), when=Conditions(**when))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: rule_add(d, rule("new")), ["sensitive", "complex", "new", "default"]),
        (lambda d: rule_delete(d, "complex"), ["sensitive", "default"]),
        (lambda d: rule_move(d, "complex", up=True), ["complex", "sensitive", "default"]),
        (lambda d: rule_move(d, "sensitive", up=False), ["complex", "sensitive", "default"]),
        (lambda d: rule_move(d, "sensitive", up=True), ["sensitive", "complex", "default"]),
        (lambda d: rule_move(d, "complex", up=False), ["sensitive", "complex", "default"]),
        (lambda d: rule_move(d, "default", up=True), ["sensitive", "complex", "default"]),
        (lambda d: rule_replace(d, "complex", rule("Other")), ["sensitive", "complex", "default"]),
    ],
)
def test_rule_order_edits(edit, expected):
    assert ids(edit(DOC)) == expected
    assert ids(DOC) == ["sensitive", "complex", "default"]  # the input is untouched


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: rule_delete(d, "default"), "default rule cannot be deleted"),
        (lambda d: rule_toggle(d, "default"), "default rule is always on"),
        (lambda d: rule_delete(d, "gone"), "no longer exists"),
        (lambda d: rule_replace(d, "gone", rule()), "no longer exists"),
        (lambda d: team_floor_set(d, "7", 9), "Pick one of the levels"),
    ],
)
def test_refused_edits_say_why(edit, message):
    with pytest.raises(ValueError, match=message):
        edit(DOC)


def test_toggle_and_replace_keep_the_rule_id():
    assert not rule_toggle(DOC, "complex").rules[1].enabled
    replaced = rule_replace(DOC, "complex", rule("Renamed"))
    assert (replaced.rules[1].id, replaced.rules[1].name) == ("complex", "Renamed")


CODES = CustomDetectorPolicy(name="codes", kind="keywords", patterns=("falcon",), level=2)


@pytest.mark.parametrize("scope", ["org", "7"])
def test_detectors_put_replace_and_remove(scope):
    def detectors(doc):
        return doc.custom_detectors if scope == "org" else doc.teams[scope].detectors

    added = detector_put(DOC, scope, CODES)
    again = detector_put(added, scope, CODES.model_copy(update={"level": 3}))
    assert [(d.name, d.level) for d in detectors(again)] == [("codes", 3)]
    assert detectors(detector_remove(again, scope, "codes")) == ()


def test_team_floor_keeps_the_team_detectors():
    doc = team_floor_set(detector_put(DOC, "7", CODES), "7", 2)
    assert doc.teams["7"].floor == 2 and doc.teams["7"].detectors == (CODES,)


@pytest.mark.parametrize(
    ("earlier", "later", "shadowed"),
    [
        ({}, {"min_level": 2}, True),  # a catch-all hides everything after it
        ({"sources": ("chat",)}, {"sources": ("chat",), "start_hour": 18, "end_hour": 8}, True),
        ({"sources": ("chat",)}, {}, False),  # the later one also takes API calls
        ({"sources": ("chat",)}, {"sources": ("api", "chat")}, False),
        ({"min_level": 2}, {"min_level": 3}, True),
        ({"min_level": 3}, {"min_level": 2}, False),
        ({"min_level": 0}, {}, True),  # "at least public" is every request
        ({"max_complexity": 0.5}, {"max_complexity": 0.3}, True),
        ({"max_complexity": 0.3}, {"max_complexity": 0.5}, False),
        ({"max_complexity": 0.3}, {}, False),
        ({"teams": (1, 2)}, {"teams": (1,)}, True),
        ({"teams": (1,)}, {"teams": (1, 2)}, False),
        ({"start_hour": 22, "end_hour": 6}, {"start_hour": 23, "end_hour": 5}, False),  # unsure
        ({"max_tokens": 1000}, {"max_tokens": 500}, True),
        ({"max_tokens": 500}, {}, False),
        ({"min_budget_used": 0.5}, {"min_budget_used": 0.8}, True),
        ({"min_budget_used": 0.8}, {"min_budget_used": 0.5}, False),
    ],
)
def test_shadowed_rules(earlier, later, shadowed):
    doc = rule_add(
        rule_add(DOC.model_copy(update={"rules": DOC.rules[2:]}), rule("A", **earlier)),
        rule("B", **later),
    )
    assert ("b" in rules_shadowed(doc)) is shadowed


def test_a_disabled_rule_shadows_nothing_and_warnings_read_plainly():
    doc = rule_add(rule_add(DOC, rule("All")), rule("Typo"))
    doc = rule_replace(doc, "typo", rule("Typo").model_copy(update={"models": ("gpt-99",)}))
    warnings = policy_warnings(doc, ["tiny"])
    assert "Rule 'Typo' can never apply: 'All' above it" in warnings[-3]
    assert "Rule 'Typo' names 'gpt-99', which is not a known model." in warnings
    assert rules_shadowed(rule_toggle(doc, "all")).get("typo") is None


@pytest.mark.parametrize(
    ("location", "message", "expected"),
    [
        (("custom_detectors", 0, "name"), "String should match pattern '^x'",
         "Custom detector 1, name: use lowercase letters, digits, hyphens and underscores only"),
        (("rules", 2, "when"), "a minimum is above its maximum",
         "Rule 3, conditions: a minimum is above its maximum"),
        ((), "whole document", "whole document"),
    ],
)  # fmt: skip
def test_errors_name_places_in_words(location, message, expected):
    assert error_text(location, message) == expected


def test_parsed_turns_schema_errors_into_one_sentence():
    with pytest.raises(ValueError, match="needs a message") as refused:
        parsed(RulePolicy, {"name": "b", "action": "block"})
    assert "Value error" not in str(refused.value)
