"""The weekly routing review: what went to the cloud but could have stayed
local, what stayed local but should have gone to the cloud (thumbs down,
asked again, or the local model unsure of its own answer), the week's
changes and the rules that fired most. Reads one week of the ledger (through
its ``created_at`` index) and the rollups; never any prompt text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from apps.accounts.models import Team
from apps.chat.models import Message
from apps.gateway.models import UsageRecord
from apps.gateway.replay import signals_of_row
from apps.policy import difficulty
from apps.policy.engine import route
from apps.policy.models import PolicyVersion
from apps.policy.services import policy_compiled, policy_published_get
from apps.providers.catalog import catalog_load
from apps.providers.models import LanguageModel

from . import charts
from . import selectors as s
from .fold import rollups_refresh
from .models import LATENCY_FIELDS, AskedAgain, StayLocalCandidate
from .selectors import Filters, Scope, Table
from .services import LOW_COMPLEXITY, REASK_WINDOW, SHORT_PROMPT_TOKENS

LIST_ROWS = 50


def week_of(value: str) -> date:
    """Monday of the week ``value`` (YYYY-MM-DD) falls in; by default last week."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = timezone.now().date() - timedelta(days=7)
    return day - timedelta(days=day.weekday())


def _week(week: date) -> Filters:
    return Filters(start=week, end=week + timedelta(days=6))


def _ledger(scope: Scope, week: date) -> QuerySet[UsageRecord]:
    since = datetime.combine(week, time.min, tzinfo=UTC)
    qs = UsageRecord.objects.filter(created_at__gte=since, created_at__lt=since + timedelta(7))
    if scope.team_ids is not None:
        qs = qs.filter(team_id__in=scope.team_ids)
    return qs


def _cheapest_local() -> LanguageModel | None:
    local = LanguageModel.objects.filter(provider__privacy_zone="on_prem", enabled=True)
    return local.order_by("input_price_per_mtok", "output_price_per_mtok", "pk").first()


def stay_local(scope: Scope, week: date) -> Table:
    """Cloud requests that could have stayed local (recorded as candidates
    when they were written; criteria in services.could_stay_local), the
    costliest first, the rest summed in one row."""
    rollups_refresh()
    since = datetime.combine(week, time.min, tzinfo=UTC)
    found = StayLocalCandidate.objects.filter(
        created_at__gte=since, created_at__lt=since + timedelta(days=7)
    )
    if scope.team_ids is not None:
        found = found.filter(team_id__in=scope.team_ids)
    local = _cheapest_local()
    table = Table(
        "stay_local",
        "Could have stayed local",
        ["When", "Team", "Model", "Level", "Complexity", "Tokens", "Spend", "Estimated saving"],
        summed=frozenset({5, 6, 7}),
        money=frozenset({6, 7}),
    )
    top = list(found.order_by("-cost_micros", "pk")[:LIST_ROWS])
    teams = s.names(Team, {c.team_id for c in top}, "name")
    for c in top:
        tokens = c.prompt_tokens + c.completion_tokens
        saving = c.cost_micros - _local_price(local, c.prompt_tokens, c.completion_tokens)
        table.rows.append(
            [f"{c.created_at:%a %H:%M}", teams.get(c.team_id, ""), c.model_name, c.level_name,
             round(c.complexity, 2), tokens, c.cost_micros, saving]
        )  # fmt: skip
        table.links.append(str(c.code))
    _rest_row(table, found, local, len(top))
    return table


def _local_price(local: LanguageModel | None, prompt: int, completion: int) -> int:
    return s.price_micros(local, prompt, completion) if local else 0


def _rest_row(table: Table, found: Any, local: LanguageModel | None, shown: int) -> None:
    """One row for everything past the listed ones, so totals stay whole."""
    everything = found.aggregate(
        n=Count("pk"), p=Sum("prompt_tokens"), c=Sum("completion_tokens"), cost=Sum("cost_micros")
    )
    if everything["n"] <= shown:
        return
    listed = [sum(row[i] for row in table.rows) for i in (5, 6, 7)]
    tokens = (everything["p"] or 0) + (everything["c"] or 0) - listed[0]
    cost = (everything["cost"] or 0) - listed[1]
    saving = cost - (
        _local_price(local, everything["p"] or 0, everything["c"] or 0) - (listed[1] - listed[2])
    )
    table.rows.append([f"(+{everything['n'] - shown} more)", "", "", "", "", tokens, cost, saving])
    table.links.append("")


def go_cloud(scope: Scope, week: date) -> Table:
    table = Table(
        "go_cloud",
        "Should have gone to the cloud",
        ["When", "Team", "Model", "Level", "Signal"],
    )
    found = _thumbs_down(scope, week) + _asked_again(scope, week) + _unsure(scope, week)
    signals = sorted(found, key=lambda r: r[0])
    teams = s.names(Team, {r[1] for r in signals}, "name")
    for at, team, model, level, signal, code in signals[: LIST_ROWS * 2]:
        table.rows.append([f"{at:%a %H:%M}", teams.get(team, ""), model, level, signal])
        table.links.append(code)
    return table


def _thumbs_down(scope: Scope, week: date) -> list[tuple[Any, ...]]:
    since = datetime.combine(week, time.min, tzinfo=UTC)
    answers = Message.objects.filter(
        role=Message.Role.ASSISTANT,
        feedback=-1,
        route__local=True,
        created_at__gte=since,
        created_at__lt=since + timedelta(days=7),
    )
    if scope.team_ids is not None:
        answers = answers.filter(conversation__team_id__in=scope.team_ids)
    rows = answers.values_list(
        "created_at", "conversation__team_id", "route__model", "route__level"
    )
    return [(at, team, model, level, "thumbs down", "") for at, team, model, level in rows]


def _unsure(scope: Scope, week: date) -> list[tuple[Any, ...]]:
    """Local answers the model itself was unsure of (answer_confidence)."""
    rows = (
        _ledger(scope, week)
        .filter(privacy_zone="on_prem", status="ok", answer_confidence__lt=difficulty.UNSURE_BELOW)
        .order_by("created_at")
        .values_list(
            "created_at", "team_id", "model_name", "level_name", "answer_confidence", "code"
        )[: LIST_ROWS * 2]
    )
    return [
        (at, team, model, level, f"model unsure ({confidence:.2f})", str(code))
        for at, team, model, level, confidence, code in rows
    ]


def _asked_again(scope: Scope, week: date) -> list[tuple[Any, ...]]:
    rollups_refresh()
    since = datetime.combine(week, time.min, tzinfo=UTC)
    found = AskedAgain.objects.filter(
        created_at__gte=since, created_at__lt=since + timedelta(days=7)
    )
    if scope.team_ids is not None:
        found = found.filter(team_id__in=scope.team_ids)
    return [
        (a.created_at, a.team_id, a.model_name, a.level_name,
         "regenerated" if a.then_local else f"asked again on {a.then_model}", str(a.code))
        for a in found.order_by("created_at")[: LIST_ROWS * 2]
    ]  # fmt: skip


def week_changes(scope: Scope, week: date) -> Table:
    now, before = _week_numbers(scope, week), _week_numbers(scope, week - timedelta(days=7))
    table = Table(
        "changes",
        "This week against the week before",
        ["Measure", "Week before", "This week", "Change"],
    )
    for label, key in (
        ("Requests", "requests"),
        ("Spend (USD)", "spend"),
        ("Cloud share (%)", "cloud_share"),
        ("Latency p95 (ms)", "p95"),
    ):
        old, new = before[key], now[key]
        change = "" if old in (None, 0) or new is None else f"{(new - old) / old * 100:+.0f}%"
        table.rows.append([label, old, new, change])
    return table


def _week_numbers(scope: Scope, week: date) -> dict[str, Any]:
    c = s.cube(scope, _week(week))
    totals = s.totals(c)
    histogram = [sum(r[name] for r in c) for name in LATENCY_FIELDS]
    requests = totals["n"]
    return {
        "requests": requests,
        "spend": round(totals["spend"] / 1_000_000, 2),
        "cloud_share": round(totals["cloud_n"] * 100 / requests, 1) if requests else None,
        "p95": s.percentile(histogram, 0.95),
    }


def review_tables(scope: Scope, week: date) -> dict[str, Table]:
    f = _week(week)
    tables = [
        stay_local(scope, week),
        go_cloud(scope, week),
        week_changes(scope, week),
        s.top_rules(scope, f),
        s.spend_by_route(s.cube(scope, f), "day"),
    ]
    return {table.name: table for table in tables}


def review_charts(t: dict[str, Table]) -> list[dict[str, Any]]:
    return [charts.series(t["spend_route"]), charts.columns(t["rules"], [1], horizontal=True)]


def review_context(week: date) -> dict[str, Any]:
    return {
        "previous": week - timedelta(days=7),
        "next": week + timedelta(days=7),
        "low_complexity": LOW_COMPLEXITY,
        "short_tokens": SHORT_PROMPT_TOKENS,
        "reask_minutes": int(REASK_WINDOW.total_seconds() // 60),
    }


# --- one request's signals through the policy -------------------------------------


def signals_simulate(scope: Scope, code: str) -> dict[str, Any] | None:
    """What the published policy and the draft decide for a recorded request,
    from its recorded signals (levels, detector counts, complexity features)."""
    qs = UsageRecord.objects.filter(code=code) if _is_uuid(code) else UsageRecord.objects.none()
    if scope.team_ids is not None:
        qs = qs.filter(team_id__in=scope.team_ids)
    row = qs.select_related("team").first()
    if row is None:
        return None
    catalog = catalog_load()
    versions = [("published", policy_published_get())]
    draft = PolicyVersion.objects.filter(status="draft").first()
    if draft is not None:
        versions.append(("draft", draft))
    outcomes = []
    for label, version in versions:
        policy = policy_compiled(version)
        decision = route(policy, catalog, signals_of_row(row, policy))
        outcomes.append({"label": label, "version": version, "decision": decision})
    return {"row": row, "outcomes": outcomes}


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
