"""Edits of a policy document, as pure functions: a typed document in, a new
one out, or ValueError with a sentence an admin can act on. The console
parses a form, calls one of these through policy_draft_edit, and renders;
tests drive them from tables (tests/policy/test_edits.py).

Also the editor's warnings: rules that can never fire because an earlier
rule already catches every request they would, and rules naming models the
catalogue does not have.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from .document import (
    SELECTORS,
    Conditions,
    CustomDetectorPolicy,
    PolicyDocument,
    RulePolicy,
    TeamPolicy,
)

T = TypeVar("T", bound=BaseModel)

# --- rules ---------------------------------------------------------------------------


def _rule_index(doc: PolicyDocument, rule_id: str) -> int:
    for index, rule in enumerate(doc.rules):
        if rule.id == rule_id:
            return index
    raise ValueError("That rule no longer exists.")


def _with_rules(doc: PolicyDocument, rules: Iterable[RulePolicy]) -> PolicyDocument:
    return doc.model_copy(update={"rules": tuple(rules)})


def rule_add(doc: PolicyDocument, rule: RulePolicy) -> PolicyDocument:
    """New rules go just above the default (the last rule)."""
    rules = list(doc.rules)
    rules.insert(len(rules) - 1, rule)
    return _with_rules(doc, rules)


def rule_replace(doc: PolicyDocument, rule_id: str, rule: RulePolicy) -> PolicyDocument:
    index = _rule_index(doc, rule_id)
    rules = list(doc.rules)
    rules[index] = rule.model_copy(update={"id": rule_id})
    return _with_rules(doc, rules)


def rule_toggle(doc: PolicyDocument, rule_id: str) -> PolicyDocument:
    index = _rule_index(doc, rule_id)
    if index == len(doc.rules) - 1:
        raise ValueError("The default rule is always on.")
    rules = list(doc.rules)
    rules[index] = rules[index].model_copy(update={"enabled": not rules[index].enabled})
    return _with_rules(doc, rules)


def rule_delete(doc: PolicyDocument, rule_id: str) -> PolicyDocument:
    index = _rule_index(doc, rule_id)
    if index == len(doc.rules) - 1:
        raise ValueError("The default rule cannot be deleted.")
    return _with_rules(doc, (r for i, r in enumerate(doc.rules) if i != index))


def rule_move(doc: PolicyDocument, rule_id: str, *, up: bool) -> PolicyDocument:
    """Swap with the neighbour above or below; the default stays last."""
    index = _rule_index(doc, rule_id)
    other = index - 1 if up else index + 1
    last = len(doc.rules) - 1
    if not 0 <= other < last or index == last:
        return doc
    rules = list(doc.rules)
    rules[index], rules[other] = rules[other], rules[index]
    return _with_rules(doc, rules)


# --- detectors and team floors -----------------------------------------------------------


def _team(doc: PolicyDocument, team_id: str) -> TeamPolicy:
    return doc.teams.get(team_id, TeamPolicy())


def detector_put(doc: PolicyDocument, scope: str, detector: CustomDetectorPolicy) -> PolicyDocument:
    """Add a custom detector to the organisation ("org") or a team (its id),
    replacing one of the same name."""
    if scope == "org":
        kept = [d for d in doc.custom_detectors if d.name != detector.name]
        return doc.model_copy(update={"custom_detectors": (*kept, detector)})
    team = _team(doc, scope)
    kept = [d for d in team.detectors if d.name != detector.name]
    updated = team.model_copy(update={"detectors": (*kept, detector)})
    return doc.model_copy(update={"teams": {**doc.teams, scope: updated}})


def detector_remove(doc: PolicyDocument, scope: str, name: str) -> PolicyDocument:
    if scope == "org":
        kept = tuple(d for d in doc.custom_detectors if d.name != name)
        return doc.model_copy(update={"custom_detectors": kept})
    team = _team(doc, scope)
    kept = tuple(d for d in team.detectors if d.name != name)
    updated = team.model_copy(update={"detectors": kept})
    return doc.model_copy(update={"teams": {**doc.teams, scope: updated}})


def team_floor_set(doc: PolicyDocument, team_id: str, floor: int) -> PolicyDocument:
    if not 0 <= floor < len(doc.levels):
        raise ValueError("Pick one of the levels.")
    updated = _team(doc, team_id).model_copy(update={"floor": floor})
    return doc.model_copy(update={"teams": {**doc.teams, team_id: updated}})


# --- warnings ------------------------------------------------------------------------------

_SETS = ("teams", "users", "api_keys", "sources", "requested_models", "days")
_LOWER = {"min_level": 0, "min_complexity": 0.0, "min_tokens": 0}
_UPPER = {"max_level": 3, "max_complexity": 1.0}


def _covers(broad: Conditions, narrow: Conditions) -> bool:
    """True if every request matching ``narrow`` also matches ``broad``.

    Conservative: when unsure (hours, budgets, tokens ceilings) it says no,
    so a warning is never wrong, only sometimes missing."""
    for name in _SETS:
        wide, tight = set(getattr(broad, name)), set(getattr(narrow, name))
        if wide and not (tight and tight <= wide):
            return False
    for name, floor in _LOWER.items():
        low = getattr(broad, name)
        if low not in (None, floor) and (getattr(narrow, name) or floor) < low:
            return False
    for name, ceiling in _UPPER.items():
        high = getattr(broad, name)
        tight = getattr(narrow, name)
        if high not in (None, ceiling) and (ceiling if tight is None else tight) > high:
            return False
    if broad.max_tokens is not None and not (
        narrow.max_tokens is not None and narrow.max_tokens <= broad.max_tokens
    ):
        return False
    if broad.start_hour is not None and (broad.start_hour, broad.end_hour) != (
        narrow.start_hour,
        narrow.end_hour,
    ):
        return False
    budget, tight_budget = broad.min_budget_used, narrow.min_budget_used
    return budget is None or (tight_budget is not None and tight_budget >= budget)


def rules_shadowed(doc: PolicyDocument) -> dict[str, str]:
    """{rule id: name of the earlier rule that catches all its requests} for
    every enabled rule that can never fire."""
    shadowed: dict[str, str] = {}
    enabled = [rule for rule in doc.rules if rule.enabled]
    for position, rule in enumerate(enabled):
        for earlier in enabled[:position]:
            if _covers(earlier.when, rule.when):
                shadowed[rule.id] = earlier.name
                break
    return shadowed


def rule_unknown_models(rule: RulePolicy, known: Iterable[str]) -> list[str]:
    names = set(known)
    return [m for m in rule.models if m not in SELECTORS and m not in names]


def policy_warnings(doc: PolicyDocument, known_models: Iterable[str]) -> list[str]:
    """What an admin should fix before publishing, in rule order."""
    known = list(known_models)
    shadowed = rules_shadowed(doc)
    warnings = []
    for rule in doc.rules:
        if rule.id in shadowed:
            warnings.append(
                f"Rule {rule.name!r} can never apply: {shadowed[rule.id]!r} above it "
                "already catches every request it would."
            )
        for model in rule_unknown_models(rule, known):
            warnings.append(f"Rule {rule.name!r} names {model!r}, which is not a known model.")
    return warnings


# --- error messages -----------------------------------------------------------------------

_PLACES = {
    "levels": "Level",
    "detectors": "Built-in detector",
    "custom_detectors": "Custom detector",
    "teams": "Team",
    "rules": "Rule",
    "complexity_weights": "Complexity weights",
    "when": "conditions",
    "patterns": "patterns",
}


def error_text(location: Iterable[object], message: str) -> str:
    """A validation error in words: "Custom detector 1, name: …" rather than
    the document path "custom_detectors.0.name: …"."""
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            if parts:
                parts[-1] += f" {part + 1}"
        else:
            parts.append(_PLACES.get(str(part), str(part).replace("_", " ")))
    if message.startswith("String should match pattern"):
        message = "use lowercase letters, digits, hyphens and underscores only"
    where = ", ".join(parts)
    return f"{where}: {message}" if where else message


def parsed(model: type[T], data: object) -> T:
    """``data`` as a typed part of the document, or ValueError in words."""
    try:
        return model.model_validate(data)
    except PydanticError as exc:
        messages = [
            error_text(e["loc"], str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()
        ]
        raise ValueError("; ".join(messages)) from None
