"""Replay: what a draft policy would have done with recent traffic.

Uses what the ledger stored for each request (levels, detector counts,
complexity features, who asked for what), never its text, so detector
changes cannot be replayed; level, zone, rule, weight and model changes can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from apps.core.privacy import ZONES, PrivacyZone
from apps.policy.complexity import score
from apps.policy.engine import CompiledPolicy, Decision, Facts, Signals, route
from apps.providers.specs import Catalog

from .models import UsageRecord

ZONE_RANK: dict[str, int] = {zone.value: rank for rank, zone in enumerate(ZONES)}
MAX_ROWS = 20_000


@dataclass(frozen=True)
class ReplayChange:
    created_at: object
    team: str
    level_name: str
    before: str
    after: str
    before_zone: str
    after_zone: str

    @property
    def less_private(self) -> bool:
        return ZONE_RANK.get(self.after_zone, 0) > ZONE_RANK.get(self.before_zone, 0)


@dataclass
class ReplayReport:
    days: int
    requests: int = 0
    local_before: int = 0
    local_after: int = 0
    cost_before: int = 0  # micro-dollars
    cost_after: int = 0
    blocked_after: int = 0
    changes: list[ReplayChange] = field(default_factory=list)
    truncated: bool = False

    @property
    def cost_before_usd(self) -> float:
        return self.cost_before / 1_000_000

    @property
    def cost_after_usd(self) -> float:
        return self.cost_after / 1_000_000

    @property
    def changed(self) -> int:
        return len(self.changes)

    @property
    def privacy_regressions(self) -> list[ReplayChange]:
        return [c for c in self.changes if c.less_private]

    def share(self, count: int) -> float:
        return count / self.requests if self.requests else 0.0


def signals_of_row(row: UsageRecord, policy: CompiledPolicy) -> Signals:
    """A recorded request's signals (never its text), scored with ``policy``'s
    complexity weights: what replay and the weekly review route again."""
    facts = Facts(
        team_id=row.team_id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
        source=row.source,
        requested_model=row.requested_model,
        estimated_tokens=row.estimated_tokens,
        max_tokens=row.max_tokens,
        now=timezone.localtime(row.created_at),
        budget_used=row.budget_used or 0.0,
    )
    doc = policy.document
    weights = {**doc.complexity_weights, **doc.team(row.team_id).complexity_weights}
    complexity = score(row.complexity_features, weights)
    return Signals(row.found_level or 0, row.floor_level or 0, complexity, facts)


def policy_replay(*, policy: CompiledPolicy, catalog: Catalog, days: int) -> ReplayReport:
    report = ReplayReport(days=days)
    since = timezone.now() - timedelta(days=days)
    rows = (
        UsageRecord.objects.filter(created_at__gte=since, policy_version__isnull=False)
        .exclude(model_name="")
        .select_related("team")
        .order_by("-created_at")[: MAX_ROWS + 1]
    )
    for index, row in enumerate(rows):
        if index == MAX_ROWS:
            report.truncated = True
            break
        _replay_one(report, row, route(policy, catalog, signals_of_row(row, policy)))
    return report


def _replay_one(report: ReplayReport, row: UsageRecord, decision: Decision) -> None:
    report.requests += 1
    report.cost_before += row.cost_micros
    report.local_before += row.privacy_zone == PrivacyZone.ON_PREM
    first = decision.candidates[0] if decision.candidates else None
    if first is None:
        report.blocked_after += 1
        after, zone = "blocked", PrivacyZone.ON_PREM.value
    else:
        after, zone = first.name, first.provider.privacy_zone
        report.cost_after += first.cost_micros(row.prompt_tokens, row.completion_tokens)
    report.local_after += zone == PrivacyZone.ON_PREM and first is not None
    if after != row.model_name:
        report.changes.append(
            ReplayChange(
                created_at=row.created_at,
                team=row.team.name if row.team else "",
                level_name=row.level_name,
                before=row.model_name,
                after=after,
                before_zone=row.privacy_zone,
                after_zone=zone,
            )
        )
