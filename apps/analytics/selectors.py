"""Analytics reads. Everything a page, a CSV export or the API shows comes
from one ``Table`` built here, so their totals cannot disagree.

Charts and tables read the rollups (a few rows per day and dimension), never
the ledger, except the weekly review's lists of individual requests, which
read one week of the ledger through its ``created_at`` index. Every read of
the rollups first folds the ledger rows not yet in them (``rollups_refresh``,
one indexed query when there are none), so no table misses a request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import BigIntegerField, Count, Max, Q, QuerySet, Sum
from django.db.models.functions import Cast

from apps.accounts.models import Membership, Team
from apps.chat.models import Message
from apps.gateway.models import UsageRecord
from apps.providers.models import LanguageModel

from .fold import rollups_refresh
from .models import (
    COUNT_FIELDS,
    LATENCY_BOUNDS_MS,
    LATENCY_FIELDS,
    MODEL_DIMENSIONS,
    TTFT_FIELDS,
    BreakdownRollup,
    ModelRollup,
    Route,
    TeamBreakdownRollup,
    TeamRollup,
    UsageRollup,
)

BUCKETS = ("day", "week", "month")
SOURCES = (UsageRecord.Source.API, UsageRecord.Source.CHAT)

# --- who may see what -----------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose numbers a viewer may see: ``team_ids`` None means every team;
    ``user_id`` pins the view to one user's own requests."""

    team_ids: frozenset[int] | None
    user_id: int | None = None

    @property
    def is_org(self) -> bool:
        return self.team_ids is None and self.user_id is None


def admin_team_ids(user: User) -> frozenset[int]:
    memberships = Membership.objects.filter(user=user, role=Membership.Role.ADMIN)
    return frozenset(memberships.values_list("team_id", flat=True))


def scope_for(user: User) -> Scope | None:
    """Org admins see all, team admins their teams; None: neither."""
    if user.is_staff:
        return Scope(team_ids=None)
    team_ids = admin_team_ids(user)
    return Scope(team_ids=team_ids) if team_ids else None


def scope_own(user: User) -> Scope:
    return Scope(team_ids=None, user_id=user.pk)


# --- filters --------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    bucket: str = "day"
    team_id: int | None = None
    user_id: int | None = None
    model: str = ""
    provider: str = ""
    level: str = ""
    source: str = ""

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)


def _per_user(scope: Scope, f: Filters) -> bool:
    return scope.user_id is not None or f.user_id is not None


def _rollups(model: type[Any], scope: Scope, f: Filters) -> QuerySet[Any]:
    rollups_refresh()
    qs = model.objects.filter(day__gte=f.start, day__lte=f.end)
    if scope.team_ids is not None:
        qs = qs.filter(team_id__in=scope.team_ids)
    if scope.user_id is not None:
        qs = qs.filter(user_id=scope.user_id)
    exact = {
        "team_id": f.team_id, "user_id": f.user_id, "model_name": f.model,
        "provider_name": f.provider, "level_name": f.level, "source": f.source,
    }  # fmt: skip
    return qs.filter(**{k: v for k, v in exact.items() if v not in (None, "")}).order_by()


def usage(scope: Scope, f: Filters) -> QuerySet[Any]:
    """Team rollups, or user rollups when the view is about users."""
    return _rollups(UsageRollup if _per_user(scope, f) else TeamRollup, scope, f)


def breakdowns(scope: Scope, f: Filters, kind: str) -> QuerySet[Any]:
    model = BreakdownRollup if _per_user(scope, f) else TeamBreakdownRollup
    return _rollups(model, scope, f).filter(kind=kind)


# Aggregate aliases must not shadow the columns they sum.
SUMS = {f"sum_{name}": Sum(name) for name in COUNT_FIELDS}


Cube = list[dict[str, Any]]


# Cast: PostgreSQL's SUM of a bigint is a numeric, read as Decimal.
CUBE_SUMS = {f"sum_{name}": Cast(Sum(name), BigIntegerField()) for name in COUNT_FIELDS}


def _cube_rows(scope: Scope, f: Filters) -> QuerySet[Any]:
    """The model rollup when no filter needs a dimension it leaves out, else
    the team or user rollup (provider_name rides along there so the GROUP BY
    follows their unique key instead of sorting the rows)."""
    if _per_user(scope, f) or f.provider or f.level or f.source:
        keys = ("day", "team_id", "model_name", "provider_name", "route")
        return usage(scope, f).values(*keys).annotate(**CUBE_SUMS)
    return _rollups(ModelRollup, scope, f).values(*MODEL_DIMENSIONS).annotate(**CUBE_SUMS)


def cube(scope: Scope, f: Filters) -> Cube:
    """Every counter summed per day, team, model and route: one query from
    which the spend, request, routing, latency, speed and savings tables are
    all computed.

    The query is the ORM's, but its rows are read through the cursor: at
    90 days that is a few thousand rows of ~50 sums, and Django's per-value
    converters cost more than the query itself."""
    qs = _cube_rows(scope, f)
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0].removeprefix("sum_") for column in cursor.description]
        found = cursor.fetchall()
    rows = [dict(zip(names, row, strict=True)) for row in found]
    days: dict[Any, date] = {}
    for row in rows:
        row["day"] = days.get(row["day"]) or days.setdefault(row["day"], _day(row["day"]))
    return rows


def _day(value: date | str) -> date:
    """SQLite hands a DateField back as text."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def period_of(day: date, bucket: str) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


# --- tables -----------------------------------------------------------------------


@dataclass
class Table:
    """Rows of cells; ``money`` columns hold micro-dollars. The totals row
    sums the ``summed`` columns, and is what charts and CSV exports show."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    money: frozenset[int] = frozenset()
    summed: frozenset[int] = frozenset()
    links: list[str] = field(default_factory=list)  # an optional drill-down URL per row

    @property
    def linked_rows(self) -> list[tuple[list[Any], str]]:
        links = self.links or [""] * len(self.rows)
        return list(zip(self.rows, links, strict=True))

    @property
    def totals(self) -> list[Any]:
        out: list[Any] = ["Total"] + [""] * (len(self.columns) - 1)
        for i in self.summed:
            out[i] = sum(row[i] for row in self.rows)
        return out


def usd(micros: int) -> str:
    """Exact dollars from micro-dollars, as CSV writes them."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def _pivot(
    name: str, title: str, rows: Iterable[dict[str, Any]], bucket: str, series: str, value: str
) -> Table:
    """period x series: one row per period, one column per series, a total;
    the values are money."""
    cells: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    labels: set[str] = set()
    for row in rows:
        label = row[series] or "(none)"
        labels.add(label)
        cells[period_of(row["day"], bucket)][label] += row[value]
    ordered = sorted(labels)
    table = Table(name, title, ["Period", *ordered, "Total"])
    for period in sorted(cells):
        values = [cells[period].get(n, 0) for n in ordered]
        table.rows.append([period.isoformat(), *values, sum(values)])
    table.summed = table.money = frozenset(range(1, len(ordered) + 2))
    return table


def spend_by_route(c: Cube, bucket: str) -> Table:
    routed = (r for r in c if r["route"] != Route.NONE)
    return _pivot("spend_route", "Spend: local vs cloud", routed, bucket, "route", "cost_micros")


def spend_by_model(c: Cube, bucket: str) -> Table:
    routed = (r for r in c if r["route"] != Route.NONE)
    return _pivot("spend_model", "Spend by model", routed, bucket, "model_name", "cost_micros")


def requests_tokens(c: Cube, bucket: str) -> Table:
    columns = ("requests", "prompt_tokens", "completion_tokens", "cost_micros")
    sums: dict[date, list[int]] = defaultdict(lambda: [0] * len(columns))
    for r in c:
        into = sums[period_of(r["day"], bucket)]
        for i, column in enumerate(columns):
            into[i] += r[column]
    table = Table(
        "requests",
        "Requests and tokens",
        ["Period", "Requests", "Prompt tokens", "Completion tokens", "Spend"],
        summed=frozenset({1, 2, 3, 4}),
        money=frozenset({4}),
    )
    table.rows = [[period.isoformat(), *sums[period]] for period in sorted(sums)]
    return table


def routing_mix(c: Cube) -> Table:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in c:
        sums[r["route"]][0] += r["requests"]
        sums[r["route"]][1] += r["cost_micros"]
    table = Table(
        "routing",
        "Routing mix",
        ["Route", "Requests", "Spend"],
        summed=frozenset({1, 2}),
        money=frozenset({2}),
    )
    table.rows = [[Route(route).label, *sums[route]] for route in sorted(sums)]
    return table


def requests_by_model(c: Cube) -> Table:
    """Requests, tokens and spend per model (rejected requests, which reached
    none, under "(none)"), so the requests total is everyone's."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in c:
        into = sums[(r["model_name"] or "(none)", Route(r["route"]).label)]
        into[0] += r["requests"]
        into[1] += r["prompt_tokens"] + r["completion_tokens"]
        into[2] += r["cost_micros"]
    table = Table(
        "models",
        "Requests by model",
        ["Model", "Route", "Requests", "Tokens", "Spend"],
        summed=frozenset({2, 3, 4}),
        money=frozenset({4}),
    )
    table.rows = [[*key, *values] for key, values in sorted(sums.items())]
    return table


def top_rules(scope: Scope, f: Filters, limit: int = 10) -> Table:
    rows = (
        breakdowns(scope, f, BreakdownRollup.Kind.RULE)
        .values("name")
        .annotate(n=Sum("requests"), cost=Sum("cost_micros"))
        .order_by("-n", "name")
    )
    table = Table(
        "rules",
        "Rules that decided",
        ["Rule", "Requests", "Spend"],
        summed=frozenset({1, 2}),
        money=frozenset({2}),
    )
    table.rows = _top(([r["name"], r["n"], r["cost"]] for r in rows), limit)
    return table


def _top(rows: Iterable[list[Any]], limit: int) -> list[list[Any]]:
    """The first ``limit`` rows and one "(others)" row summing the rest, so
    the table's total stays the total of everything."""
    rows = list(rows)
    if len(rows) <= limit:
        return rows
    rest = rows[limit:]
    others = ["(others)"] + [sum(r[i] for r in rest) for i in range(1, len(rows[0]))]
    return [*rows[:limit], others]


# Error codes grouped into the kinds an admin reads.
ERROR_KINDS = {
    "blocked_by_policy": "policy block",
    "egress_refused": "egress refusal",
    "model_busy": "queue full",
    "client_disconnected": "client gone",
}


def error_kind(code: str) -> str:
    if code.startswith("budget"):
        return "budget"
    if code in ERROR_KINDS:
        return ERROR_KINDS[code]
    return "provider error" if code.startswith(("upstream", "model_")) else "other"


def errors_by_type(scope: Scope, f: Filters) -> Table:
    rows = (
        breakdowns(scope, f, BreakdownRollup.Kind.ERROR)
        .values("name")
        .annotate(n=Sum("requests"))
        .order_by("-n", "name")
    )
    table = Table(
        "errors", "Errors and rejections", ["Type", "Kind", "Requests"], summed=frozenset({2})
    )
    table.rows = [[r["name"], error_kind(r["name"]), r["n"]] for r in rows]
    return table


# --- latency ----------------------------------------------------------------------


def percentile(counts: Sequence[int], q: float) -> int | None:
    """The q-quantile (0..1) of a histogram over LATENCY_BOUNDS_MS, linearly
    interpolated inside its bucket; the overflow bucket reads as the last bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(LATENCY_BOUNDS_MS):
                return LATENCY_BOUNDS_MS[-1]
            low = LATENCY_BOUNDS_MS[index - 1] if index else 0
            return round(low + (LATENCY_BOUNDS_MS[index] - low) * (rank - seen) / count)
        seen += count
    return LATENCY_BOUNDS_MS[-1]


HISTOGRAM = LATENCY_FIELDS + TTFT_FIELDS


def latency(c: Cube, bucket: str) -> Table:
    groups: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0] * (1 + len(HISTOGRAM)))
    for r in c:
        if r["route"] == Route.NONE:
            continue
        into = groups[(period_of(r["day"], bucket), r["model_name"])]
        into[0] += r["requests"]
        for i, column in enumerate(HISTOGRAM, start=1):
            into[i] += r[column]
    table = Table(
        "latency",
        "Latency (ms)",
        ["Period", "Model", "Requests", "p50", "p95", "p99", "TTFT p50", "TTFT p95", "TTFT p99"],
        summed=frozenset({2}),
    )
    half = len(LATENCY_FIELDS)
    for (period, model), sums in sorted(groups.items()):
        lat, ttft = sums[1 : 1 + half], sums[1 + half :]
        table.rows.append(
            [period.isoformat(), model, sums[0]]
            + [percentile(lat, q) for q in (0.5, 0.95, 0.99)]
            + [percentile(ttft, q) for q in (0.5, 0.95, 0.99)]
        )
    return table


def local_speed(c: Cube) -> Table:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in c:
        if r["route"] == Route.LOCAL:
            into = sums[r["model_name"]]
            into[0], into[1], into[2] = (
                into[0] + r["ok"],
                into[1] + r["gen_tokens"],
                into[2] + r["gen_ms"],
            )
    table = Table(
        "speed",
        "Local models: tokens per second",
        ["Model", "Answers", "Tokens", "Seconds", "Tokens/s"],
        summed=frozenset({1, 2}),
    )
    for model, (answers, tokens, ms) in sorted(sums.items()):
        rate = round(tokens * 1000 / ms, 1) if ms else None
        table.rows.append([model, answers, tokens, round(ms / 1000, 1), rate])
    return table


# --- people -----------------------------------------------------------------------


def names(model: type[Any], ids: Iterable[int], attr: str) -> dict[int, str]:
    """``attr`` of the rows with these ids, in one query (none for no ids)."""
    wanted = {i for i in ids if i}
    return dict(model.objects.filter(pk__in=wanted).values_list("pk", attr)) if wanted else {}


UserTotals = list[dict[str, int]]


def user_totals(scope: Scope, f: Filters) -> UserTotals:
    """Requests and spend per user and team: one query for both top-user
    tables (read through a covering index on the user rollup)."""
    return list(
        _rollups(UsageRollup, scope, f)
        .values("user_id", "team_id")
        .annotate(n=Sum("requests"), cost=Sum("cost_micros"))
        .order_by("user_id", "team_id")
    )


def top_users(
    scope: Scope,
    f: Filters,
    order: str = "cost",
    limit: int = 10,
    totals: UserTotals | None = None,
) -> Table:
    found = user_totals(scope, f) if totals is None else totals
    rows = sorted(found, key=lambda r: (-int(r[order] or 0), r["user_id"]))
    users = names(User, (r["user_id"] for r in rows[:limit]), "username")
    teams = names(Team, (r["team_id"] for r in rows[:limit]), "name")
    by = "spend" if order == "cost" else "requests"
    table = Table(
        f"users_{by}",
        f"Top users by {by}",
        ["User", "Team", "Requests", "Spend"],
        summed=frozenset({2, 3}),
        money=frozenset({3}),
    )
    for r in rows[:limit]:
        name = users.get(r["user_id"], "(API, no user)" if not r["user_id"] else "(deleted)")
        table.rows.append([name, teams.get(r["team_id"], ""), r["n"], r["cost"]])
        table.links.append(f"user={r['user_id']}&team={r['team_id']}" if r["user_id"] else "")
    if len(rows) > limit:
        rest = rows[limit:]
        table.rows.append(["(others)", "", sum(r["n"] for r in rest), sum(r["cost"] for r in rest)])
        table.links.append("")
    return table


# --- savings ----------------------------------------------------------------------


def reference_models() -> list[LanguageModel]:
    """Cloud models an admin can price the traffic against."""
    return list(
        LanguageModel.objects.filter(provider__privacy_zone__in=["vendor", "vendor_zero_retention"])
        .select_related("provider")
        .order_by("name")
    )


def price_micros(model: LanguageModel, prompt_tokens: int, completion_tokens: int) -> int:
    """What ``model`` charges for these tokens, rounded up as the gateway does."""
    total = prompt_tokens * model.input_price_per_mtok
    total += completion_tokens * model.output_price_per_mtok
    return -(-total // 1_000_000)


def savings(c: Cube, reference: LanguageModel | None) -> Table:
    table = Table(
        "savings",
        f"Savings against {reference.name if reference else '(pick a reference model)'}",
        ["Team", "Month", "Requests", "Spend", "At reference price", "Saved"],
        summed=frozenset({2, 3, 4, 5}),
        money=frozenset({3, 4, 5}),
    )
    if reference is None:
        return table
    sums: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in c:
        if r["route"] != Route.NONE:
            into = sums[(period_of(r["day"], "month"), r["team_id"])]
            for i, column in enumerate(
                ("requests", "prompt_tokens", "completion_tokens", "cost_micros")
            ):
                into[i] += r[column]
    teams = names(Team, (team for _, team in sums), "name")
    for (month, team), (n, prompt, completion, cost) in sorted(sums.items()):
        at_reference = price_micros(reference, prompt, completion)
        table.rows.append(
            [teams.get(team, "(no team)"), month.strftime("%Y-%m"), n, cost, at_reference,
             at_reference - cost]
        )  # fmt: skip
    return table


# --- feedback ---------------------------------------------------------------------


def _answers(scope: Scope, f: Filters) -> QuerySet[Message]:
    qs = Message.objects.filter(
        role=Message.Role.ASSISTANT, created_at__gte=f.since, created_at__lt=f.until
    )
    if scope.team_ids is not None:
        qs = qs.filter(conversation__team_id__in=scope.team_ids)
    if scope.user_id is not None:
        qs = qs.filter(conversation__user_id=scope.user_id)
    if f.team_id:
        qs = qs.filter(conversation__team_id=f.team_id)
    if f.user_id:
        qs = qs.filter(conversation__user_id=f.user_id)
    if f.model:
        qs = qs.filter(route__model=f.model)
    if f.level:
        qs = qs.filter(route__level=f.level)
    return qs


def feedback(scope: Scope, f: Filters) -> Table:
    table = Table(
        "feedback",
        "Feedback on chat answers",
        ["Route", "Model", "Thumbs up", "Thumbs down"],
        summed=frozenset({2, 3}),
    )
    if f.source == UsageRecord.Source.API or f.provider:
        return table  # feedback exists on chat answers only, and knows no provider
    rows = (
        _answers(scope, f)
        .exclude(feedback=0)
        .values("route__local", "route__model")
        .annotate(up=Count("pk", filter=Q(feedback=1)), down=Count("pk", filter=Q(feedback=-1)))
        .order_by("route__model")
    )
    table.rows = [
        ["local" if r["route__local"] else "cloud", r["route__model"] or "", r["up"], r["down"]]
        for r in rows
    ]
    return table


# --- freshness --------------------------------------------------------------------


def freshness() -> datetime | None:
    """When the rollups last took a ledger row in."""
    rollups_refresh()
    value: datetime | None = TeamRollup.objects.aggregate(at=Max("updated_at"))["at"]
    return value


def totals(c: Cube) -> dict[str, int]:
    return {
        "n": sum(r["requests"] for r in c),
        "spend": sum(r["cost_micros"] for r in c),
        "cloud_n": sum(r["requests"] for r in c if r["route"] == Route.CLOUD),
        "failed": sum(r["errors"] + r["rejected"] for r in c),
    }
