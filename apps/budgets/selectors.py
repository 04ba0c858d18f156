"""Reading budgets: which apply to a request, and their state for people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.accounts.models import Membership

from .models import Budget, Reservation
from .periods import period_end, period_start
from .sql import fetch_all


@dataclass(frozen=True)
class Who:
    """Whom a request is charged to."""

    team_id: int | None
    user_id: int | None
    api_key_id: int | None = None


def org_tz() -> ZoneInfo:
    return ZoneInfo(settings.HYBRIDHUB_ORG_TIME_ZONE)


def budgets_applicable(who: Who) -> QuerySet[Budget]:
    """Every budget a request by ``who`` falls under."""
    match = Q(scope=Budget.Scope.ORG)
    if who.team_id is not None:
        match |= Q(scope=Budget.Scope.TEAM, team_id=who.team_id)
        if who.user_id is not None:
            match |= Q(scope=Budget.Scope.USER, team_id=who.team_id, user_id=who.user_id)
    if who.api_key_id is not None:
        match |= Q(scope=Budget.Scope.KEY, api_key_id=who.api_key_id)
    return Budget.objects.filter(match)


# budgets_applicable as SQL, for the request path (services.py and below).
APPLICABLE_WHERE = (
    "scope = 'org' OR (scope = 'team' AND team_id = %s)"
    " OR (scope = 'user' AND team_id = %s AND user_id = %s)"
    " OR (scope = 'key' AND api_key_id = %s)"
)
_TABLE = Budget._meta.db_table


def applicable_params(who: Who) -> list[int | None]:
    return [who.team_id, who.team_id, who.user_id, who.api_key_id]


def budgets_applicable_list(who: Who) -> list[Budget]:
    """budgets_applicable in primary-key order (the lock order)."""
    return list(budgets_applicable(who).order_by("pk"))


def current_start(budget: Budget, now: datetime) -> datetime:
    return period_start(budget.period, now, org_tz())


def db_moment(value: datetime | str) -> Any:
    """A datetime as the database takes it. On SQLite this is what
    adapt_datetimefield_value returns (naive UTC text) without its settings
    look-ups; text is a value read back from SQLite and passed on as it is."""
    if isinstance(value, str) or connection.vendor != "sqlite":
        return value
    return str(value.astimezone(UTC).replace(tzinfo=None))


_starts: tuple[int, str, list[Any]] = (-1, "", [])


def period_current_sql(now: datetime) -> tuple[str, list[Any]]:
    """SQL that is true for a budget row still in the period containing
    ``now`` (not due to roll over), with its params. The three period starts
    are computed once a minute: every instant of one UTC minute falls on the
    same local day (time zone offsets are whole minutes)."""
    global _starts
    minute, zone = int(now.timestamp()) // 60, settings.HYBRIDHUB_ORG_TIME_ZONE
    if _starts[0] != minute or _starts[1] != zone:
        tz = org_tz()
        _starts = (minute, zone, [db_moment(period_start(p, now, tz)) for p in _PERIODS])
    return _CURRENT, list(_starts[2])


_PERIODS = ("day", "week", "month")
_CURRENT = (
    "period_start >= CASE period WHEN 'day' THEN %s WHEN 'week' THEN %s "
    "WHEN 'month' THEN %s ELSE period_start END"
)


def totals(budget: Budget, now: datetime) -> tuple[int, int, int]:
    """(spent, reserved, allowance) for the period containing ``now``."""
    if budget.period_start < current_start(budget, now):  # not rolled over yet
        return 0, budget.reserved_micros, budget.limit_micros
    return budget.spent_micros, budget.reserved_micros, budget.limit_micros + budget.extra_micros


def used_ratio(budget: Budget, now: datetime) -> float:
    spent, reserved, allowance = totals(budget, now)
    return (spent + reserved) / allowance if allowance else 1.0


@dataclass(frozen=True, slots=True)
class Applicable:
    """A budget a request falls under, as the request path reads it before
    deciding: plain values, no model instance."""

    budget_id: int
    downgrade: bool
    used: float  # (spent + reserved) / allowance, in the period containing now
    current: bool = True  # its row is in the period containing now (not due to roll over)
    allowance: int = 0  # limit + top-ups of that period
    headroom: int = 0  # allowance - spent - reserved (negative: over)
    # The most that may still be reserved with the budget below its warning
    # threshold (-1: at or past it).
    warn_room: int = -1
    period_start: Any = None  # as the database gave it


def budgets_applicable_now(who: Who, now: datetime) -> list[Applicable]:
    """The budgets ``who`` falls under and how used up each is: one SELECT
    on the request path (totals() in SQL)."""
    current, params = period_current_sql(now)
    sql = (
        f"SELECT id, on_limit, spent_micros, reserved_micros, limit_micros, extra_micros, "
        f"{current}, warn_percent, period_start FROM {_TABLE} WHERE {APPLICABLE_WHERE}"
    )
    return [_applicable(*row) for row in fetch_all(sql, [*params, *applicable_params(who)])]


def _applicable(
    budget_id: int,
    on_limit: str,
    spent: int,
    reserved: int,
    limit: int,
    extra: int,
    current: bool,
    warn_percent: int,
    period_start: Any,
) -> Applicable:
    if not current:  # the period has ended: what the next one starts from
        spent, extra = 0, 0
    allowance, total = limit + extra, spent + reserved
    used = total / allowance if allowance else 1.0
    below = warn_percent * allowance - 100 * total  # > 0: under the threshold
    warn_room = (below - 1) // 100 if below > 0 else -1
    return Applicable(
        budget_id, on_limit == Budget.OnLimit.DOWNGRADE, used, bool(current), allowance,
        allowance - total, warn_room, period_start,
    )  # fmt: skip


def budget_signal(
    who: Who, now: datetime | None = None, *, applicable: list[Applicable] | None = None
) -> float:
    """How used up the tightest *downgrade* budget of the request is (0 … 1+).

    The routing policy reads this (Facts.budget_used) so 'over 80% → @local'
    is an ordinary rule. Block budgets refuse instead of steering routes.
    ``applicable``: budgets_applicable_now(who, now), when the caller has it already.
    """
    if applicable is None:
        applicable = budgets_applicable_now(who, now or timezone.now())
    return round(max((a.used for a in applicable if a.downgrade), default=0.0), 4)


@dataclass(frozen=True)
class BudgetState:
    budget: Budget
    label: str
    spent_micros: int
    reserved_micros: int
    allowance_micros: int
    resets_at: datetime | None
    used: float
    runs_out_on: date | None  # at the last 7 days' rate; None: it lasts

    @property
    def remaining_micros(self) -> int:
        return max(0, self.allowance_micros - self.spent_micros - self.reserved_micros)

    @property
    def warning(self) -> bool:
        return self.used * 100 >= self.budget.warn_percent

    @property
    def exhausted(self) -> bool:
        return self.used >= 1


def budget_state(budget: Budget, now: datetime | None = None) -> BudgetState:
    now = now or timezone.now()
    spent, reserved, allowance = totals(budget, now)
    start = current_start(budget, now)
    resets_at = period_end(budget.period, start, org_tz())
    return BudgetState(
        budget=budget,
        label=budget.label,
        spent_micros=spent,
        reserved_micros=reserved,
        allowance_micros=allowance,
        resets_at=resets_at,
        used=(spent + reserved) / allowance if allowance else 1.0,
        runs_out_on=_runs_out_on(budget, allowance - spent - reserved, now, resets_at),
    )


def _ledger_filter(budget: Budget) -> Q:
    if budget.scope == Budget.Scope.TEAM:
        return Q(team_id=budget.team_id)
    if budget.scope == Budget.Scope.USER:
        return Q(team_id=budget.team_id, user_id=budget.user_id)
    if budget.scope == Budget.Scope.KEY:
        return Q(api_key_id=budget.api_key_id)
    return Q()


def ledger_spent(budget: Budget, since: datetime, until: datetime | None = None) -> int:
    """What the ledger says this budget's scope spent since ``since``."""
    from apps.gateway.models import UsageRecord  # the ledger; read only

    rows = UsageRecord.objects.filter(_ledger_filter(budget), created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    return int(rows.aggregate(total=Sum("cost_micros"))["total"] or 0)


def _runs_out_on(
    budget: Budget, left: int, now: datetime, resets_at: datetime | None
) -> date | None:
    per_day = ledger_spent(budget, now - timedelta(days=7)) / 7
    if per_day <= 0:
        return None
    when = now + timedelta(days=max(left, 0) / per_day)
    if resets_at is not None and when >= resets_at:
        return None
    return timezone.localtime(when, org_tz()).date()


def budget_leased(budget: Budget) -> bool:
    """Whether a server process holds a lease on the budget (decision 0011)."""
    return budget.reservations.filter(lease=True).exists()


def reservations_live(budget: Budget) -> int:
    return int(budget.reservations.aggregate(total=Sum("amount_micros"))["total"] or 0)


def reservations_stale(now: datetime | None = None) -> QuerySet[Reservation]:
    return Reservation.objects.filter(expires_at__lt=now or timezone.now())


# --- who may see and edit what ------------------------------------------------------


def admin_team_ids(user: User) -> set[int]:
    memberships = Membership.objects.filter(user=user, role=Membership.Role.ADMIN)
    return set(memberships.values_list("team_id", flat=True))


def budgets_visible(user: User) -> QuerySet[Budget]:
    """Org admins see every budget; team admins their teams'."""
    found = Budget.objects.select_related("team", "user", "api_key")
    if user.is_staff:
        return found
    return found.filter(team_id__in=admin_team_ids(user))


def budget_may_edit(user: User, *, scope: str, team_id: int | None) -> bool:
    """Org admins set org and team budgets (and any other); team admins set
    user and key budgets inside their own teams."""
    if user.is_staff:
        return True
    return scope in (Budget.Scope.USER, Budget.Scope.KEY) and team_id in admin_team_ids(user)


def budgets_for_sidebar(who: Who, now: datetime | None = None) -> list[BudgetState]:
    """The user's own and their team's budgets (and the org's), tightest first."""
    rows = budgets_applicable(who).select_related("team", "user", "api_key")
    states = [budget_state(b, now) for b in rows]
    return sorted(states, key=lambda s: -s.used)
