"""Deciding a request: classify → score → first matching rule → privacy filter.

Pure: plain data in (the published policy, the catalogue snapshot, the
request's facts), a Decision with its reasons out. The gateway calls it for
live traffic; the simulator calls it on pasted text against a draft; replay
calls ``route`` on the signals stored in the ledger.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

from apps.core.privacy import PrivacyZone
from apps.providers.specs import Catalog, ModelSpec, unsupported_features

from .capability import capable
from .classification import (
    DEFAULT_PHONE_REGIONS,
    BuiltinSetting,
    Classifier,
    CustomDetector,
    Deadline,
    Finding,
)
from .complexity import Complexity, complexity_of, score
from .difficulty import needed_tier
from .document import (
    CAPABLE,
    CLOUD,
    LOCAL,
    REQUESTED,
    Conditions,
    LevelPolicy,
    PolicyDocument,
    RulePolicy,
)

AUTO = "auto"


@dataclass(frozen=True)
class Facts:
    """Who asks, for what, and when: everything but the text."""

    team_id: int | None
    user_id: int | None
    api_key_id: int | None
    source: str
    requested_model: str
    estimated_tokens: int
    max_tokens: int | None
    now: datetime
    raised_level: int = 0  # the caller may raise the level, never lower it
    sticky_level: int = 0  # the highest level the conversation reached before
    # How used up the tightest downgrade budget of the request is (0 … 1+),
    # filled by the gateway from apps.budgets; stored in the ledger for replay.
    budget_used: float = 0.0
    # Request fields beyond plain text (tools, response_format, seed…): a
    # model whose runtime cannot do one is unfit, like one too small.
    features: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Signals:
    """What rules look at. Stored in the ledger, so drafts can be replayed."""

    found_level: int  # from detectors alone
    floor_level: int  # team floor, caller's raise, conversation's history
    complexity: Complexity
    facts: Facts

    @property
    def level(self) -> int:
        return max(self.found_level, self.floor_level)


@dataclass(frozen=True)
class Located:
    message: int  # index of the message the finding is in
    finding: Finding


@dataclass(frozen=True)
class Decision:
    policy_version: int
    level: int
    level_name: str
    signals: Signals
    findings: tuple[Located, ...]
    rule_id: str
    rule_name: str
    skipped_rules: tuple[tuple[str, str], ...]  # (rule name, why it did not apply)
    action: str  # "route" or "block"
    candidates: tuple[ModelSpec, ...]
    redact: bool  # send placeholders instead of the findings, restore in the answer
    allowed_zones: frozenset[str]  # where data of this level may go
    reasons: tuple[str, ...]
    block_message: str = ""
    # The data as it will be sent: its level and zones drop when it is redacted.
    egress_level_name: str = ""
    egress_zones: frozenset[str] = frozenset({PrivacyZone.ON_PREM})
    # Why there are no candidates: "context_length_exceeded" or "no_model_available".
    problem: str = ""


@dataclass
class CompiledPolicy:
    """A published (or draft) document, with classifiers compiled on demand."""

    version: int
    document: PolicyDocument
    # Countries whose national phone formats count without "+" (a deployment
    # setting, HYBRIDHUB_PHONE_REGIONS, not part of the policy document).
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    _classifiers: dict[int | None, Classifier] = field(default_factory=dict)

    def classifier(self, team_id: int | None) -> Classifier:
        if team_id not in self._classifiers:
            doc = self.document
            custom = [*doc.custom_detectors, *doc.team(team_id).detectors]
            self._classifiers[team_id] = Classifier(
                {name: BuiltinSetting(d.enabled, d.level) for name, d in doc.detectors.items()},
                [CustomDetector(c.name, c.kind, c.patterns, c.level, c.label) for c in custom],
                phone_regions=self.phone_regions,
            )
        return self._classifiers[team_id]

    @cached_property
    def level_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.document.levels)


def classify(
    policy: CompiledPolicy,
    texts: Sequence[str],
    team_id: int | None,
    turns: Sequence[int] | None = None,
) -> tuple[Located, ...]:
    """Every text's findings, plus values split across two turns of the
    conversation ("my card is 4111 1111" / "1111 1111"), under one time
    budget. ``turns``: the indices of the texts that are the conversation's
    messages, in order (default: all of them)."""
    classifier = policy.classifier(team_id)
    deadline = Deadline()
    found = [
        Located(index, finding)
        for index, text in enumerate(texts)
        for finding in classifier.scan(text, deadline)
    ]
    turns = range(len(texts)) if turns is None else turns
    found += _across_boundaries(classifier, texts, turns, deadline)
    return tuple(sorted(found, key=lambda f: (f.message, f.finding.start)))


_SEAM = 80  # characters on each side of a boundary between two texts


def _across_boundaries(
    classifier: Classifier, texts: Sequence[str], turns: Sequence[int], deadline: Deadline
) -> list[Located]:
    """Findings in the end of one turn joined to the start of the next
    non-blank one (as one word, and as two) that cross the join: each part
    is a finding in the text it is in."""
    found = []
    filled = [index for index in turns if texts[index].strip()]
    for first, second in itertools.pairwise(filled):
        tail, head = texts[first][-_SEAM:], texts[second][:_SEAM]
        offset = len(texts[first]) - len(tail)
        for joint in ("", " "):
            seam = len(tail) + len(joint)
            for f in classifier.scan(tail + joint + head, deadline):
                if f.start < len(tail) and f.end > seam:
                    found.append(
                        Located(first, replace(f, start=offset + f.start, end=offset + len(tail)))
                    )
                    found.append(Located(second, replace(f, start=0, end=f.end - seam)))
    return found


def signals_of(
    policy: CompiledPolicy, texts: Sequence[str], facts: Facts, findings: Sequence[Located]
) -> Signals:
    doc = policy.document
    floor = max(doc.team(facts.team_id).floor, facts.raised_level, facts.sticky_level)
    found = max((located.finding.level for located in findings), default=0)
    complexity = complexity_of(
        texts,
        estimated_tokens=facts.estimated_tokens,
        max_tokens=facts.max_tokens,
        weights={**doc.complexity_weights, **doc.team(facts.team_id).complexity_weights},
    )
    return Signals(found_level=found, floor_level=floor, complexity=complexity, facts=facts)


def decide(
    policy: CompiledPolicy,
    catalog: Catalog,
    texts: Sequence[str],
    facts: Facts,
    *,
    turns: Sequence[int] | None = None,
) -> Decision:
    """``texts``: everything that would leave (findings point into it);
    ``turns``: which of them are the conversation's messages, in order, for
    complexity and for values split across turns (default: all)."""
    findings = classify(policy, texts, facts.team_id, turns)
    scored = texts if turns is None else [texts[index] for index in turns]
    signals = signals_of(policy, scored, facts, findings)
    return route(policy, catalog, signals, findings)


def rescore(policy: CompiledPolicy, signals: Signals) -> Signals:
    """The same signals under this policy's complexity weights (for replay)."""
    doc = policy.document
    weights = {**doc.complexity_weights, **doc.team(signals.facts.team_id).complexity_weights}
    complexity = score(signals.complexity.features, weights)
    return Signals(signals.found_level, signals.floor_level, complexity, signals.facts)


def route(
    policy: CompiledPolicy,
    catalog: Catalog,
    signals: Signals,
    findings: Sequence[Located] = (),
) -> Decision:
    doc = policy.document
    level_policy = doc.levels[signals.level]
    reasons = [_level_reason(policy, signals, findings)]
    if signals.complexity.score >= 0.01:
        top = ", ".join(signals.complexity.top())
        reasons.append(f"complexity {signals.complexity.score:.2f}" + (f" ({top})" if top else ""))
    skipped: list[tuple[str, str]] = []
    rule = _first_match(doc.rules, signals, skipped)
    reasons.append(f"rule: {rule.name}")
    zones = frozenset((PrivacyZone.ON_PREM, *level_policy.allowed_zones))
    decision = Decision(
        policy_version=policy.version,
        level=signals.level,
        level_name=level_policy.name,
        signals=signals,
        findings=tuple(findings),
        rule_id=rule.id,
        rule_name=rule.name,
        skipped_rules=tuple(skipped),
        action=rule.action,
        candidates=(),
        redact=False,
        allowed_zones=zones,
        reasons=(),
        block_message=rule.message,
        egress_level_name=level_policy.name,
        egress_zones=zones,
    )
    if rule.action == "block":
        return replace(decision, reasons=tuple(reasons))

    need = needed_tier(signals.complexity.score)
    if CAPABLE in rule.models:
        reasons.append(f"needs tier {need} or above")
    wanted = _expand(rule.models, catalog, signals.facts, need)
    candidates, kept_private = [], False
    for model in wanted:
        why_not = _unfit(model, signals, level_policy.allows(model.provider.privacy_zone))
        kept_private |= why_not is not None and "zone" in why_not
        if why_not:
            reasons.append(f"skipped {model.name}: {why_not}")
        else:
            candidates.append(model)
    if not candidates and kept_private:
        candidates, redact, extra = _when_no_model(policy, catalog, signals, wanted)
        reasons.extend(extra)
        if not candidates:
            message = level_policy.block_message or extra[-1]
            return replace(decision, action="block", reasons=tuple(reasons), block_message=message)
        if redact:
            floor = doc.levels[signals.floor_level]
            decision = replace(
                decision,
                redact=True,
                egress_level_name=f"{level_policy.name}, redacted to {floor.name}",
                egress_zones=frozenset((PrivacyZone.ON_PREM, *floor.allowed_zones)),
            )
    if candidates:
        first = candidates[0]
        where = "on-prem" if first.provider.is_local else first.provider.privacy_zone
        reasons.append(f"→ {first.name} ({where})")
        if len(candidates) > 1:
            reasons.append("fallbacks: " + ", ".join(m.name for m in candidates[1:]))
    reasons.extend(_requested_not_used(catalog, signals, level_policy, candidates))
    problem = "" if candidates else ("context_length_exceeded" if wanted else "no_model_available")
    if wanted and not candidates and all(_lacking(m, signals) for m in wanted):
        problem = "unsupported_parameter"
    return replace(decision, candidates=tuple(candidates), reasons=tuple(reasons), problem=problem)


def _level_reason(policy: CompiledPolicy, signals: Signals, findings: Sequence[Located]) -> str:
    name = policy.level_names[signals.level]
    if signals.found_level >= signals.floor_level and findings:
        labels = sorted(
            {f.finding.label.lower() for f in findings if f.finding.level == signals.found_level}
        )
        return f"contains {', '.join(labels)} → {name}"
    if signals.floor_level > 0:
        return f"level {name} (team floor, caller or conversation)"
    return f"no sensitive data found → {name}"


def _first_match(
    rules: Sequence[RulePolicy], signals: Signals, skipped: list[tuple[str, str]]
) -> RulePolicy:
    for rule in rules:
        if not rule.enabled:
            skipped.append((rule.name, "disabled"))
            continue
        mismatch = _mismatch(rule.when, signals)
        if mismatch is None:
            return rule
        skipped.append((rule.name, mismatch))
    return rules[-1]  # validated to have no conditions; only reached if disabled, which is refused


def _mismatch(when: Conditions, signals: Signals) -> str | None:
    """Why the conditions do not hold, or None if they all do: the first
    condition that fails, checked in order (the message is built only for it)."""
    facts = signals.facts
    score_ = signals.complexity.score
    if when.teams and facts.team_id not in when.teams:
        return "another team"
    if when.users and facts.user_id not in when.users:
        return "another user"
    if when.api_keys and facts.api_key_id not in when.api_keys:
        return "another application key"
    if when.sources and facts.source not in when.sources:
        return f"not from {'/'.join(when.sources)}"
    if when.min_level is not None and signals.level < when.min_level:
        return "level below its minimum"
    if when.max_level is not None and signals.level > when.max_level:
        return "level above its maximum"
    if when.min_complexity is not None and score_ < when.min_complexity:
        return f"complexity {score_:.2f} < {when.min_complexity}"
    if when.max_complexity is not None and score_ > when.max_complexity:
        return f"complexity {score_:.2f} > {when.max_complexity}"
    if when.min_tokens is not None and facts.estimated_tokens < when.min_tokens:
        return "fewer tokens"
    if when.max_tokens is not None and facts.estimated_tokens > when.max_tokens:
        return "more tokens"
    if when.requested_models and facts.requested_model not in when.requested_models:
        return "another model requested"
    if when.days and facts.now.weekday() not in when.days:
        return "another day"
    if (
        when.start_hour is not None
        and when.end_hour is not None
        and not _in_hours(facts.now.hour, when.start_hour, when.end_hour)
    ):
        return "outside its hours"
    if when.min_budget_used is not None and facts.budget_used < when.min_budget_used:
        return f"budget {facts.budget_used:.0%} used < {_percent(when.min_budget_used)}"
    return None


def _percent(share: float | None) -> str:
    return "" if share is None else f"{share:.0%}"


def _in_hours(hour: int, start: int, end: int) -> bool:
    return start <= hour < end if start < end else hour >= start or hour < end


def _expand(
    entries: Sequence[str], catalog: Catalog, facts: Facts, need: int = 1
) -> list[ModelSpec]:
    """Model names and selectors → the team's models, in order, without repeats."""
    team_models = catalog.for_team(facts.team_id)
    by_cost = sorted(
        team_models, key=lambda m: (m.input_price_per_mtok + m.output_price_per_mtok, m.name)
    )
    out: list[ModelSpec] = []
    for entry in entries:
        if entry == LOCAL:
            found = [m for m in by_cost if m.provider.is_local]
        elif entry == CLOUD:
            found = [m for m in by_cost if not m.provider.is_local]
        elif entry == CAPABLE:
            found = capable(by_cost, need)
        else:  # a named (or the requested) model, followed by its own fallbacks
            name = facts.requested_model if entry == REQUESTED else entry
            model = catalog.get(name) if name != AUTO else None
            names = (model.name, *model.fallback_names) if model else ()
            found = [m for m in map(catalog.get, names) if m is not None]
        out.extend(m for m in found if m.allowed_for(facts.team_id) and m not in out)
    return out


def _lacking(model: ModelSpec, signals: Signals) -> frozenset[str]:
    return unsupported_features(model, signals.facts.features)


def _unfit(model: ModelSpec, signals: Signals, zone_allowed: bool) -> str | None:
    if not zone_allowed:
        return f"{model.provider.privacy_zone} zone not allowed at this level"
    if lacking := _lacking(model, signals):
        return f"cannot do {', '.join(sorted(lacking))}"
    needed = signals.facts.estimated_tokens + (signals.facts.max_tokens or 0)
    if needed >= model.context_window:
        return f"about {needed} tokens exceed its {model.context_window}-token window"
    return None


def _requested_not_used(
    catalog: Catalog, signals: Signals, level_policy: LevelPolicy, chosen: Sequence[ModelSpec]
) -> list[str]:
    """Say why an explicitly requested model is not the one answering."""
    requested = catalog.get(signals.facts.requested_model)
    if requested is None or (chosen and chosen[0] == requested):
        return []
    why = _unfit(requested, signals, level_policy.allows(requested.provider.privacy_zone))
    return [f"requested {requested.name} not used: {why or 'the rule routes elsewhere'}"]


def _when_no_model(
    policy: CompiledPolicy, catalog: Catalog, signals: Signals, wanted: Sequence[ModelSpec]
) -> tuple[list[ModelSpec], bool, list[str]]:
    """The level's fallback when privacy removed every model the rule wanted."""
    level_policy = policy.document.levels[signals.level]
    name = level_policy.name
    if level_policy.when_no_model == "redact" and signals.found_level > signals.floor_level:
        # Redaction removes what the detectors found; floors stay.
        cleaned = policy.document.levels[signals.floor_level]
        fits = [
            m for m in wanted
            if cleaned.allows(m.provider.privacy_zone) and _unfit(m, signals, True) is None
        ]  # fmt: skip
        if fits:
            return fits, True, [f"{name}: findings replaced by placeholders before sending"]
    if level_policy.when_no_model in ("local", "redact"):
        local = [
            m for m in _expand((LOCAL,), catalog, signals.facts) if _unfit(m, signals, True) is None
        ]
        if local:
            return local, False, [f"{name} data may not leave: routed to an on-prem model"]
    return [], False, [f"{name} data may not go to any model this rule allows"]
