"""Learning from the hub's own decisions: recorded signals → training
examples → a proposed draft policy change. Never publishes.

Examples are ledger rows' stored features (never text) with a label:

- 1 (too hard for where it went): "Ask a stronger model" on a chat answer
  (the chat's Escalation rows, read directly: the features of the answered
  request, never text); a local chat answer that got a thumbs down; a local
  answer regenerated or asked again on another model (inferred from timing:
  analytics' AskedAgain); an explicit request for a cloud model on a prompt
  the estimator scored easy (the person judged it needed more); a local
  answer, chat or API, the model itself was unsure of (its confidence under
  ``difficulty.UNSURE_BELOW``: about four in five of those were wrong on the
  dev set's test split; a sure answer is no label, since two in five of
  those were wrong too).
- 0 (the small model did fine): a local chat answer with a thumbs up, or
  with no complaint, not asked again and not unsure.

Per team with enough examples, the feature weights are refitted around the
shipped ones (an L2 pull toward them, so a few examples move them a
little) and the threshold is re-chosen; the result goes into the draft as
the team's ``complexity_weights`` (and the global threshold for the org)
with an audit entry, and a LearningRun row says what was learned from how
many examples. An admin replays the draft and publishes, or discards it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.policy import difficulty, difficulty_fit
from apps.policy.calibration import auc

MIN_EXAMPLES = 30
MATCH_WINDOW = timedelta(minutes=2)  # a chat answer and its ledger row
ESCALATED = "asked a stronger model"
UNSURE = "local model unsure of its answer"


@dataclass
class Example:
    team_id: int | None
    features: dict[str, float]
    label: int
    signal: str


@dataclass
class Proposal:
    team_id: int | None
    examples: int
    signals: dict[str, int]
    weights: dict[str, float]  # overrides for the policy (bias included)
    threshold: float
    auc_before: float | None
    auc_after: float | None
    changes: dict[str, tuple[float, float]] = field(default_factory=dict)


def collect(days: int = 30) -> list[Example]:
    """Examples from the last ``days`` of the ledger, chat feedback and re-asks."""
    from apps.analytics.fold import rollups_refresh
    from apps.analytics.models import AskedAgain
    from apps.chat.models import Message
    from apps.gateway.models import UsageRecord

    rollups_refresh()  # every re-ask recorded so far
    since = timezone.now() - timedelta(days=days)
    rows = UsageRecord.objects.filter(created_at__gte=since, status="ok").exclude(
        complexity_features={}
    )
    by_code = {str(r.code): r for r in rows if "lexical" in r.complexity_features}
    escalations = _escalations(since)
    labelled: dict[str, tuple[int, str]] = {code: (1, ESCALATED) for code, _ in escalations}
    for again in AskedAgain.objects.filter(created_at__gte=since):
        if str(again.code) in by_code and str(again.code) not in labelled:
            signal = "regenerated" if again.then_local else "asked again on a cloud model"
            labelled[str(again.code)] = (1, signal)
    chat = [r for r in by_code.values() if r.source == "chat" and r.user_id]
    for message in (
        Message.objects.filter(role="assistant", created_at__gte=since, route__local=True)
        .exclude(feedback=0)
        .select_related("conversation")
    ):
        match = _nearest(chat, message.conversation.user_id, message.created_at)
        if match is not None and str(match.code) not in labelled:
            labelled[str(match.code)] = (
                (1, "thumbs down on a local answer")
                if message.feedback < 0
                else (0, "thumbs up on a local answer")
            )
    threshold = difficulty.shipped().threshold
    for code, row in by_code.items():
        if code in labelled:
            continue
        local = row.privacy_zone == "on_prem"
        if not local and row.requested_model != "auto" and (row.complexity or 0) < threshold:
            labelled[code] = (1, "cloud model asked for an easy-scored prompt")
        elif local and difficulty.is_unsure(row.answer_confidence):
            labelled[code] = (1, UNSURE)
        elif local and row.source == "chat":
            labelled[code] = (0, "local answer, no complaint")
    found = {code: (e.team_id, dict(e.complexity_features)) for code, e in escalations}
    for code, row in by_code.items():
        found.setdefault(code, (row.team_id, dict(row.complexity_features)))
    return [
        Example(found[code][0], found[code][1], label, signal)
        for code, (label, signal) in labelled.items()
        if code in found
    ]


def _escalations(since: Any) -> list[tuple[str, Any]]:
    """Each "Ask a stronger model" with features, keyed by the answered
    request's ledger code (or its own id, for one without)."""
    from apps.chat.models import Escalation

    return [
        (str(e.ledger_code or f"escalation-{e.pk}"), e)
        for e in Escalation.objects.filter(created_at__gte=since).order_by("pk")
        if "lexical" in e.complexity_features
    ]


def _nearest(rows: Sequence[Any], user_id: int, at: Any) -> Any:
    near = [r for r in rows if r.user_id == user_id and abs(r.created_at - at) <= MATCH_WINDOW]
    return min(near, key=lambda r: abs(r.created_at - at)) if near else None


def propose(examples: Sequence[Example], team_id: int | None) -> Proposal | None:
    """A refit for one team (None: everyone's examples), or None if too few."""
    if len(examples) < MIN_EXAMPLES or len({e.label for e in examples}) < 2:
        return None
    labels = [e.label for e in examples]
    before = [difficulty.score(e.features).score for e in examples]
    shipped = difficulty.shipped()
    prior = {"bias": shipped.bias, **shipped.features}
    bias, weights = difficulty_fit.fit_features([e.features for e in examples], labels, prior=prior)
    overrides = {"bias": bias, **weights}
    after = [difficulty.score(e.features, overrides).score for e in examples]
    signals: dict[str, int] = {}
    for e in examples:
        signals[e.signal] = signals.get(e.signal, 0) + 1
    changes = {
        name: (round(prior.get(name, 0.0), 3), round(value, 3))
        for name, value in overrides.items()
        if abs(value - prior.get(name, 0.0)) >= 0.05
    }
    return Proposal(
        team_id=team_id,
        examples=len(examples),
        signals=signals,
        weights={k: round(v, 4) for k, v in overrides.items()},
        threshold=difficulty_fit.operating_point(after, labels),
        auc_before=auc(before, labels),
        auc_after=auc(after, labels),
        changes=changes,
    )


def run(days: int = 30) -> list[Proposal]:
    """Collect, refit per team and for the org, write the draft; never publish."""
    from apps.policy.models import LearningRun
    from apps.policy.services import policy_draft_edit

    examples = collect(days)
    proposals = []
    teams = sorted({e.team_id for e in examples if e.team_id is not None})
    for team_id in [None, *teams]:
        mine = [e for e in examples if team_id is None or e.team_id == team_id]
        proposal = propose(mine, team_id)
        if proposal is not None:
            proposals.append(proposal)
    with transaction.atomic():
        draft = None
        if proposals:
            draft = policy_draft_edit(
                actor=None,  # type: ignore[arg-type]
                summary=f"Learning job: proposal from {len(examples)} recorded examples",
                change=lambda doc: apply(doc, proposals),
            )
        for p in proposals:
            LearningRun.objects.create(
                team_id=p.team_id,
                examples=p.examples,
                signals=p.signals,
                weights=p.weights,
                changes={k: list(v) for k, v in p.changes.items()},
                threshold=p.threshold,
                auc_before=p.auc_before,
                auc_after=p.auc_after,
                draft_number=draft.number if draft else None,
            )
    return proposals


def apply(doc: dict[str, Any], proposals: Sequence[Proposal]) -> dict[str, Any]:
    """The document with the proposals in: the org's as the global weights and
    the hard-request rule's threshold, each team's as its own weights."""
    for p in proposals:
        if p.team_id is None:
            doc["complexity_weights"] = dict(p.weights)
            for rule in doc["rules"]:
                if rule["when"].get("min_complexity") is not None:
                    rule["when"]["min_complexity"] = round(p.threshold, 2)
        else:
            team = doc.setdefault("teams", {}).setdefault(str(p.team_id), {})
            team["complexity_weights"] = dict(p.weights)
    return doc
