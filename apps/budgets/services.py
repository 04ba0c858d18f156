"""Budgets: reserve → call → settle, and the admin actions. Keyword-only.

Before a request is dispatched the gateway reserves its worst-case cost
(prompt tokens plus max_tokens at the chosen model's prices) against every
budget it falls under, in one short transaction: each budget takes the
amount with a single conditional UPDATE ("only if spent + reserved + amount
fits"), so two processes can never both take the last dollar — on SQLite the
transaction holds the write lock from its first statement (IMMEDIATE), on
PostgreSQL the row lock re-checks the condition. When the request ends, the
reservation is settled to the ledger row's real cost and the rest released;
errors and disconnects settle to the tokens already produced. Reservations
whose request died with its process expire and are released.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.accounts.models import ApiKey, Team

from .errors import BudgetExceeded
from .leases import (
    LEASE_IDLE_SECONDS,
    Lease,
    lease_eligible,
    lease_forget,
    lease_give_back,
    lease_grow,
    lease_install,
    lease_key,
    lease_leave,
    lease_returns_pending,
    lease_settle,
    lease_slice,
    lease_take,
    leases_due,
    leases_enabled,
)
from .models import Budget, BudgetEvent, Reservation
from .periods import period_end
from .ratelimit import rate_windows_prune
from .selectors import (
    APPLICABLE_WHERE,
    Applicable,
    Who,
    applicable_params,
    budget_leased,
    budget_state,
    budgets_applicable_list,
    current_start,
    db_moment,
    ledger_spent,
    org_tz,
    period_current_sql,
    reservations_live,
    totals,
    used_ratio,
)
from .sql import fetch_all, write_transaction

logger = logging.getLogger(__name__)


def dollars(micros: int) -> str:
    """$12.34, or to the micro-dollar below a cent so small amounts still read."""
    if 0 < abs(micros) < 10_000:
        return f"${micros / 1_000_000:.6f}"
    return f"${micros / 1_000_000:,.2f}"


@dataclass
class Hold:
    """One request's reservation against its budgets."""

    code: uuid.UUID
    amount_micros: int
    # budget id → the period it was reserved in, as the database gave it
    # (on SQLite the stored text, passed back as it is when settling)
    periods: dict[int, datetime | str]
    warnings: list[str] = field(default_factory=list)
    settled: bool = False
    # Taken from this process's lease (leases.py), in memory: it has no
    # reservation rows of its own.
    lease: Lease | None = None

    @property
    def empty(self) -> bool:
        return not self.periods


# --- reserve, re-check, settle ------------------------------------------------------
#
# The hot path (every request reserves and settles) is plain SQL on tuples:
# one statement per step, no model instance built, no datetime parsed.


def budget_reserve(
    *,
    who: Who,
    amount_micros: int,
    local: bool,
    now: datetime | None = None,
    applicable: list[Applicable] | None = None,
) -> Hold:
    """Hold ``amount_micros`` on every budget ``who`` falls under, or raise
    BudgetExceeded naming the first that cannot take it (holding nothing).

    ``applicable``: those budgets as the caller read them just before
    (budgets_applicable_now); on PostgreSQL the hold may then come from
    this process's lease on them, in memory (leases.py)."""
    now = now or timezone.now()
    _sweep_maybe(now)
    if applicable is not None and leases_enabled():
        leased = _reserve_leased(who, amount_micros, applicable, now)
        if leased is not None:
            return leased
    hold = Hold(code=uuid.uuid4(), amount_micros=amount_micros, periods={})
    warn = _reserve_fast(who, hold, local, now)
    if warn is None:  # refused, or a period to roll over: the careful path
        budgets = _reserve_slow(who, hold, local, now)
        hold.warnings = _warnings(budgets, now)
    elif warn:  # at their warning threshold: {budget id: not yet logged this period}
        budgets = list(_with_labels().filter(pk__in=warn))
        hold.warnings = _warnings(budgets, now, unlogged={i for i, new in warn.items() if new})
    return hold


def _reserve_leased(
    who: Who, amount: int, applicable: list[Applicable], now: datetime
) -> Hold | None:
    """A hold from this process's lease on these budgets, taking a new lease
    (one reservation statement, as for a request) when it has none or it ran
    short; None when the budgets may not lease (the exact path then)."""
    if not lease_eligible(applicable, amount):
        return None
    key = lease_key(applicable)
    lease = lease_take(key, applicable, amount)
    if lease is None:
        size = lease_slice(applicable, amount)
        if size is None:
            return None
        taken = Hold(code=uuid.uuid4(), amount_micros=size, periods={})
        warn = _reserve_fast(who, taken, False, now, lease=True)
        if warn is None:  # refused, or a period to roll over: the exact path
            return None
        new = Lease(
            taken.code, dict(taken.periods), size,
            seen={a.budget_id: a.period_start for a in applicable},
        )  # fmt: skip
        if warn or tuple(sorted(taken.periods)) != key:  # moved since the admit read
            lease_give_back(new)  # this request's exact reservation logs the warning
            return None
        lease_install(key, new)
        lease = lease_take(key, applicable, amount)
        if lease is None:
            return None
    return Hold(uuid.uuid4(), amount, dict(lease.periods), lease=lease)


class _Undo(Exception):
    """Roll the fast path's transaction back."""


def _reserve_fast(
    who: Who, hold: Hold, local: bool, now: datetime, *, lease: bool = False
) -> dict[int, bool] | None:
    """Take the amount from every applicable budget, holds inserted, or
    change nothing and return None (a budget could not take it, or its
    period has ended). Returns the budgets at their warning threshold, each
    with whether its warning is still to be logged this period. ``lease``:
    the holds are a lease's (leases.py)."""
    if connection.vendor == "postgresql":
        return _reserve_one_statement(who, hold, local, now, lease=lease)
    try:
        with write_transaction():
            return _reserve_sqlite(who, hold, local, now, lease=lease)
    except _Undo:
        hold.periods = {}
        return None


def _reserve_sqlite(
    who: Who, hold: Hold, local: bool, now: datetime, *, lease: bool = False
) -> dict[int, bool]:
    """SQLite, inside a transaction that holds the write lock from its first
    statement: one UPDATE … RETURNING over every applicable budget (no
    SELECT first) that says, from the row as updated, whether it had room;
    if one had not, the caller's transaction is rolled back (_Undo)."""
    fits, fits_params = _fits(hold.amount_micros, local, now, taken=True)
    current, current_params = period_current_sql(now)
    sql = (
        f"UPDATE {_TABLE} SET reserved_micros = reserved_micros + %s WHERE {APPLICABLE_WHERE} "
        f"RETURNING id, period_start || '', {fits} AND {current}, {_AT_WARNING}"
    )
    params = [hold.amount_micros, *applicable_params(who), *fits_params, *current_params]
    rows = fetch_all(sql, params)
    if not all(row[2] for row in rows):
        raise _Undo
    hold.periods = {row[0]: row[1] for row in rows}
    if rows:
        _reservations_insert(hold, now, lease=lease)
    return {row[0]: row[3] == _WARN_NEW for row in rows if row[3]}


def _reserve_one_statement(
    who: Who, hold: Hold, local: bool, now: datetime, *, lease: bool = False
) -> dict[int, bool] | None:
    """PostgreSQL: lock the applicable budgets in id order, check them all,
    and take the amount from all or none, holds included, in one statement
    (atomic by itself: one round trip, no BEGIN/COMMIT). FOR UPDATE reads
    each row's latest version once it holds the lock, so the check cannot
    race another request's. Outside a transaction it commits without
    waiting for the WAL flush (docs/decisions/0009-budget-hot-path.md)."""
    fits, fits_params = _fits(hold.amount_micros, local, now, taken=False)
    current, current_params = period_current_sql(now)
    expires = now + timedelta(seconds=settings.HYBRIDHUB_BUDGET_RESERVATION_TTL_SECONDS)
    sql = (
        f"WITH {_ASYNC_COMMIT if not connection.in_atomic_block else _SYNC_COMMIT}, "
        f"locked AS (SELECT id, ({fits} AND {current}) AS ok FROM {_TABLE} "
        f"WHERE {APPLICABLE_WHERE} ORDER BY id FOR UPDATE), "
        "verdict AS (SELECT COALESCE(BOOL_AND(ok), TRUE) AS all_ok FROM locked), "
        f"taken AS (UPDATE {_TABLE} SET reserved_micros = reserved_micros + %s FROM verdict "
        f"WHERE verdict.all_ok AND {_TABLE}.id IN (SELECT id FROM locked) "
        f"RETURNING {_TABLE}.id, {_TABLE}.period_start, {_AT_WARNING} AS warn), "
        f"held AS (INSERT INTO {_RESERVATIONS} (hold, budget_id, amount_micros, period_start, "
        "created_at, expires_at, lease) SELECT %s, id, %s, period_start, %s, %s, %s FROM taken) "
        "SELECT verdict.all_ok, taken.id, taken.period_start, taken.warn "
        "FROM commit_mode, verdict LEFT JOIN taken ON TRUE"
    )
    params = [*fits_params, *current_params, *applicable_params(who), hold.amount_micros,
              hold.code, hold.amount_micros, now, expires, lease]  # fmt: skip
    found = fetch_all(sql, params)
    if not found[0][0]:
        return None
    taken = [row for row in found if row[1] is not None]
    hold.periods = {row[1]: row[2] for row in taken}
    return {row[1]: row[3] == _WARN_NEW for row in taken if row[3]}


# PostgreSQL's commit modes for the one-statement transactions: a reservation
# lost in a crash only gives back headroom; a settlement waits for its WAL
# flush unless the ledger row's commit right after flushes it (decision 0009).
_ASYNC_COMMIT = "commit_mode AS (SELECT set_config('synchronous_commit', 'off', true))"
_SYNC_COMMIT = "commit_mode AS (SELECT 1)"

# From the row as updated: 0 below its warning threshold (a budget with no
# allowance is 100% used), 1 at it and already logged this period, 2 at it
# for the first time this period.
_AT_WARNING = (
    "CASE WHEN (spent_micros + reserved_micros) * 100 < warn_percent * (limit_micros + "
    "extra_micros) THEN 0 WHEN warned_period = period_start THEN 1 ELSE 2 END"
)
_WARN_NEW = 2


def _reserve_slow(who: Who, hold: Hold, local: bool, now: datetime) -> list[Budget]:
    amount_micros = hold.amount_micros
    with transaction.atomic():
        budgets = budgets_applicable_list(who)
        if not budgets:
            return []
        for budget in budgets:
            _roll_over(budget, now)
            hold.periods[budget.pk] = budget.period_start
        if not _take(budgets, amount_micros, local=local, now=now):
            hold.periods = {}
            raise _exceeded(_first_short(budgets, amount_micros, local, now), amount_micros, now)
        _reservations_insert(hold, now)
    return budgets


def budget_rereserve(
    *, hold: Hold, amount_micros: int, local: bool, now: datetime | None = None
) -> None:
    """Re-check a held request against its budgets at a new worst case (a
    fallback to another model); raises BudgetExceeded, leaving the hold as it was."""
    delta = amount_micros - hold.amount_micros
    if hold.empty or delta == 0:
        hold.amount_micros = amount_micros
        return
    now = now or timezone.now()
    if hold.lease is not None:
        _rereserve_leased(hold, amount_micros, local, now)
        return
    with transaction.atomic():
        budgets = list(Budget.objects.filter(pk__in=hold.periods).order_by("pk"))
        if not _take(budgets, delta, local=local, now=now):
            raise _exceeded(_first_short(budgets, delta, local, now), amount_micros, now)
        Reservation.objects.filter(hold=hold.code).update(amount_micros=amount_micros)
    hold.amount_micros = amount_micros


def _rereserve_leased(hold: Hold, amount: int, local: bool, now: datetime) -> None:
    """From the lease if it has room; otherwise the new worst case is
    reserved exactly (the hold leaves the lease only once that succeeded)."""
    assert hold.lease is not None
    if lease_grow(hold.lease, amount - hold.amount_micros):
        hold.amount_micros = amount
        return
    exact = Hold(code=uuid.uuid4(), amount_micros=amount, periods=dict(hold.periods))
    with transaction.atomic():
        budgets = list(Budget.objects.filter(pk__in=hold.periods).order_by("pk"))
        if not _take(budgets, amount, local=local, now=now):
            raise _exceeded(_first_short(budgets, amount, local, now), amount, now)
        _reservations_insert(exact, now)
    lease_leave(hold.lease, hold.amount_micros)
    hold.code, hold.amount_micros, hold.lease = exact.code, amount, None


def budget_settle(*, hold: Hold, cost_micros: int, flushed_by_next: bool = False) -> None:
    """Charge the request's real cost and release the rest of its hold.

    Each budget is charged where its period is still the one reserved in,
    and released by what its reservation row still held (an expiry sweep may
    have released some already; those are not released twice).

    ``flushed_by_next``: the caller commits a transaction of its own right
    after this on the same connection (the ledger row), so on PostgreSQL the
    settlement need not wait for its own WAL flush: the next commit's flush
    makes it durable too (decision 0009)."""
    if hold.settled or hold.empty:
        hold.settled = True
        return
    if hold.lease is not None:
        budget_settle_many(settlements=[(hold, cost_micros)], flushed_by_next=flushed_by_next)
        return
    hold.settled = True
    ids = sorted(hold.periods)
    if connection.vendor == "postgresql":  # one round trip, atomic by itself
        starts = [hold.periods[i] for i in ids]
        fast = flushed_by_next and not connection.in_atomic_block
        fetch_all(
            _SETTLE_PG_ASYNC if fast else _SETTLE_PG, [hold.code, ids, starts, ids, cost_micros]
        )
        return
    charge_params: list[Any] = []
    for budget_id in ids:
        charge_params += [budget_id, db_moment(hold.periods[budget_id])]
    code = Reservation._meta.get_field("hold").get_db_prep_value(hold.code, connection)
    with write_transaction():
        held = dict(fetch_all(_SETTLE_DELETE, [code]))
        release = [value for i in ids for value in (i, held.get(i, 0))]
        fetch_all(_settle_sqlite(len(ids)), [*release, *charge_params, cost_micros, *ids])


def budget_settle_many(
    *, settlements: list[tuple[Hold, int]], flushed_by_next: bool = False
) -> None:
    """``budget_settle`` for several requests at once (the ledger's batch).

    On PostgreSQL one statement for all of them instead of one round trip
    each, and none for requests on a lease that is still in use: their
    costs stay in the lease (still reserved, so every limit still counts
    them) until it goes back, idle, in such a statement, charged as spent.
    If the statement fails it raises; exact holds stay unsettled (the caller
    may settle them one by one), the leases involved are used no more and
    count as spent when they expire (decision 0011)."""
    due = [(hold, cost) for hold, cost in settlements if not (hold.settled or hold.empty)]
    leased = [(h.lease, h.amount_micros, cost) for h, cost in due if h.lease is not None]
    exact = [(hold, cost) for hold, cost in due if hold.lease is None]
    if not leased and len(exact) < 2 and not lease_returns_pending():
        for hold, cost in exact:
            budget_settle(hold=hold, cost_micros=cost, flushed_by_next=flushed_by_next)
        return
    returned = lease_settle(leased)
    for hold, _ in due:
        hold.settled = hold.settled or hold.lease is not None
    _settle_exact_and_leases(exact, returned, flushed_by_next=flushed_by_next)


def budget_leases_return(*, idle_seconds: float = LEASE_IDLE_SECONDS) -> int:
    """Give back this process's leases that are idle (no request in flight
    for ``idle_seconds``), past their use, or retired: their rows released,
    their pending costs charged as spent. Returns how many went back. Run
    off the request path (the ledger writer's timer) and by ``budget_reconcile``
    callers that want a process's headroom back now."""
    returned = leases_due(idle_seconds)
    if returned:
        _settle_exact_and_leases([], returned, flushed_by_next=False)
    return len(returned)


def _settle_exact_and_leases(
    exact: list[tuple[Hold, int]], returned: list[Lease], *, flushed_by_next: bool
) -> None:
    """Settle exact holds and give back leases (their pending costs
    charged): on PostgreSQL in one statement, on SQLite a transaction each
    (no round trip to save). If it fails, the leases are used no more and
    count as spent when their rows expire (decision 0011)."""
    if not exact and not returned:
        return
    if connection.vendor != "postgresql":
        for hold, cost in exact:
            budget_settle(hold=hold, cost_micros=cost, flushed_by_next=flushed_by_next)
        for lease in returned:  # already retired: a failure leaves its rows to expire
            back = Hold(code=lease.code, amount_micros=lease.granted, periods=dict(lease.periods))
            try:
                budget_settle(hold=back, cost_micros=lease.pending)
            except Exception:
                logger.exception("Could not give a budget lease back; it counts as spent on expiry")
        return
    ids, starts, costs = [], [], []
    for periods, cost in [*((h.periods, c) for h, c in exact),
                          *((lease.periods, lease.pending) for lease in returned)]:  # fmt: skip
        for budget_id, start in periods.items():
            ids.append(budget_id)
            starts.append(start)
            costs.append(cost)
    codes = [*(hold.code for hold, _ in exact), *(lease.code for lease in returned)]
    fast = flushed_by_next and not connection.in_atomic_block
    try:
        fetch_all(
            _SETTLE_MANY_PG_ASYNC if fast else _SETTLE_MANY_PG,
            [codes, ids, starts, costs, sorted(set(ids))],
        )
    except Exception:
        lease_forget(returned)
        raise
    for hold, _ in exact:
        hold.settled = True


def budget_release(*, hold: Hold) -> None:
    """Give the hold back without charging (the request never reached a model)."""
    budget_settle(hold=hold, cost_micros=0)


_TABLE = Budget._meta.db_table
_RESERVATIONS = Reservation._meta.db_table
_SETTLE_DELETE = f"DELETE FROM {_RESERVATIONS} WHERE hold = %s RETURNING budget_id, amount_micros"
# PostgreSQL: the same in one statement whose text does not depend on the
# budgets (arrays), so it is prepared once per connection. The rows are
# locked in id order first, as a reservation locks them: the UPDATE only
# touches rows this statement already holds, so concurrent reserves and
# settles cannot deadlock.
_SETTLE_PG = (
    f"WITH {_SYNC_COMMIT}, released AS ({_SETTLE_DELETE}), "
    "charged AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) AS c(id, period_start)), "
    f"locked AS (SELECT id FROM {_TABLE} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE) "
    f"UPDATE {_TABLE} SET reserved_micros = reserved_micros - COALESCE((SELECT "
    f"SUM(amount_micros) FROM released WHERE released.budget_id = {_TABLE}.id), 0), "
    "spent_micros = spent_micros + CASE WHEN EXISTS (SELECT 1 FROM charged WHERE "
    f"charged.id = {_TABLE}.id AND charged.period_start = {_TABLE}.period_start) "
    "THEN %s ELSE 0 END FROM commit_mode WHERE id IN (SELECT id FROM locked)"
)
_SETTLE_PG_ASYNC = _SETTLE_PG.replace(_SYNC_COMMIT, _ASYNC_COMMIT)
# Several holds (requests' and returned leases'): released by what their
# rows still held, each budget charged the costs of the holds reserved in its
# current period (one row per hold and budget in ``charged``), locked in id
# order like every other path.
_SETTLE_MANY_PG = (
    f"WITH {_SYNC_COMMIT}, released AS (DELETE FROM {_RESERVATIONS} WHERE hold = ANY(%s::uuid[]) "
    "RETURNING budget_id, amount_micros), charged AS (SELECT * FROM "
    "unnest(%s::bigint[], %s::timestamptz[], %s::bigint[]) AS c(id, period_start, cost)), "
    f"locked AS (SELECT id FROM {_TABLE} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE) "
    f"UPDATE {_TABLE} SET reserved_micros = reserved_micros - COALESCE((SELECT "
    f"SUM(amount_micros) FROM released WHERE released.budget_id = {_TABLE}.id), 0), "
    "spent_micros = spent_micros + COALESCE((SELECT SUM(cost) FROM charged WHERE "
    f"charged.id = {_TABLE}.id AND charged.period_start = {_TABLE}.period_start), 0) "
    "FROM commit_mode WHERE id IN (SELECT id FROM locked)"
)
_SETTLE_MANY_PG_ASYNC = _SETTLE_MANY_PG.replace(_SYNC_COMMIT, _ASYNC_COMMIT)


@cache
def _settle_sqlite(budgets: int) -> str:
    """The settling UPDATE for this many budgets: its text depends on nothing
    else, so sqlite3's statement cache keeps it compiled."""
    release = " ".join(["WHEN %s THEN %s"] * budgets)
    charge = " OR ".join(["(id = %s AND period_start = %s)"] * budgets)
    return (
        f"UPDATE {_TABLE} SET reserved_micros = reserved_micros - CASE id {release} ELSE 0 END, "
        f"spent_micros = spent_micros + CASE WHEN {charge} THEN %s ELSE 0 END "
        f"WHERE id IN ({', '.join(['%s'] * budgets)})"
    )


def _reservations_insert(hold: Hold, now: datetime, *, lease: bool = False) -> None:
    """One row per budget held (SQLite, and the slow path everywhere)."""
    expires = now + timedelta(seconds=settings.HYBRIDHUB_BUDGET_RESERVATION_TTL_SECONDS)
    code = Reservation._meta.get_field("hold").get_db_prep_value(hold.code, connection)
    created, expiry = db_moment(now), db_moment(expires)
    params: list[Any] = []
    for budget_id, start in hold.periods.items():
        params += [code, budget_id, hold.amount_micros, db_moment(start), created, expiry, lease]
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(hold.periods))
    fetch_all(
        f"INSERT INTO {_RESERVATIONS} (hold, budget_id, amount_micros, "
        f"period_start, created_at, expires_at, lease) VALUES {rows}",
        params,
    )


def _fits(amount: int, local: bool, now: datetime, *, taken: bool) -> tuple[str, list[Any]]:
    """The SQL condition "this budget can take ``amount`` now", with its
    params; ``taken``: on the row as updated, the amount already added."""
    if amount <= 0:
        return "1 = 1", []
    room = "spent_micros + reserved_micros" + ("" if taken else " + %s")
    return (
        f"({room} <= limit_micros + extra_micros OR {'local_open' if local else '1 = 0'}"
        " OR (override_until IS NOT NULL AND override_until > %s))"
    ), ([] if taken else [amount]) + [db_moment(now)]


def _with_labels() -> QuerySet[Budget]:
    return Budget.objects.select_related("team", "user", "api_key")


def _ids(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)


def _roll_over(budget: Budget, now: datetime) -> None:
    """Start a new period if the budget's has ended (in-flight holds stay held)."""
    start = current_start(budget, now)
    if budget.period_start >= start:
        return
    Budget.objects.filter(pk=budget.pk, period_start__lt=start).update(
        period_start=start, spent_micros=0, extra_micros=0
    )
    budget.refresh_from_db()


def _take(budgets: list[Budget], amount: int, *, local: bool, now: datetime) -> bool:
    """Add ``amount`` to every budget's reserved total in one conditional
    UPDATE; True only if every one had room (or is open to this request)."""
    fits, fits_params = _fits(amount, local, now, taken=False)
    ids = _ids([b.pk for b in budgets])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the lock order of every other path
            cursor.execute(f"SELECT id FROM {_TABLE} WHERE id IN ({ids}) ORDER BY id FOR UPDATE")
        cursor.execute(
            f"UPDATE {_TABLE} SET reserved_micros = reserved_micros + %s "
            f"WHERE id IN ({ids}) AND {fits}",
            [amount, *fits_params],
        )
        taken = cursor.rowcount == len(budgets)
    if taken:
        for budget in budgets:
            budget.reserved_micros += amount
    return taken


def _first_short(budgets: list[Budget], amount: int, local: bool, now: datetime) -> Budget:
    """The budget that could not take ``amount`` (to name it in the refusal)."""
    for budget in budgets:
        budget.refresh_from_db()
        spent, reserved, allowance = totals(budget, now)
        open_anyway = (local and budget.local_open) or (
            budget.override_until is not None and budget.override_until > now
        )
        if not open_anyway and spent + reserved + amount > allowance:
            return budget
    return budgets[0]


def _resets(budget: Budget) -> datetime | None:
    return period_end(budget.period, budget.period_start, org_tz())


def _exceeded(budget: Budget, amount: int, now: datetime) -> BudgetExceeded:
    return BudgetExceeded(_exceeded_message(budget, amount, now), resets_at=_resets(budget))


def _exceeded_message(budget: Budget, amount: int, now: datetime) -> str:
    budget.refresh_from_db()
    spent, reserved, allowance = totals(budget, now)
    resets = _resets(budget)
    when = (
        f"it resets at {timezone.localtime(resets, org_tz()):%Y-%m-%d %H:%M %Z}"
        if resets
        else "it does not reset; ask an admin for a top-up"
    )
    held = f" (plus {dollars(reserved)} held by requests in flight)" if reserved else ""
    return (
        f"The {budget.label} cannot cover this request (up to {dollars(amount)}): "
        f"{dollars(spent)} spent{held} of {dollars(allowance)}; {when}."
    )


def _warnings(budgets: list[Budget], now: datetime, unlogged: set[int] | None = None) -> list[str]:
    """Budgets at or past their warning threshold; the first time in a period
    each crosses it, an audit event is written. ``unlogged``: the budgets the
    reservation saw not yet logged this period (None: look at every one)."""
    out = []
    for budget in budgets:
        used = used_ratio(budget, now)
        if used * 100 < budget.warn_percent:
            continue
        out.append(f"{budget.label} {min(used, 9.99):.0%} used")
        if unlogged is not None and budget.pk not in unlogged:
            continue
        first = (
            Budget.objects.filter(pk=budget.pk)
            .exclude(warned_period=budget.period_start)
            .update(warned_period=budget.period_start)
        )
        if first:
            _event(budget, BudgetEvent.Kind.WARNING, detail={"used": round(used, 4)})
    return out


# --- stale reservations and reconciliation ------------------------------------------

_last_sweep = 0.0


def budget_sweep_maybe(*, now: datetime) -> None:
    """Expire stale holds and prune rate windows, at most every
    HYBRIDHUB_BUDGET_SWEEP_SECONDS (the gateway calls this even when a
    request falls under no budget and so never reaches budget_reserve)."""
    _sweep_maybe(now)


def _sweep_maybe(now: datetime) -> None:
    global _last_sweep
    if time.monotonic() - _last_sweep < settings.HYBRIDHUB_BUDGET_SWEEP_SECONDS:
        return
    _last_sweep = time.monotonic()
    try:
        budget_reservations_expire(now=now)
        rate_windows_prune(now=now)
    except Exception:  # the sweep must never fail a request
        logger.exception("Could not expire stale budget reservations")


def budget_reservations_expire(*, now: datetime | None = None) -> int:
    """Release holds whose request outlived its TTL (a crash, kill -9). An
    expired lease holds costs its process had not moved to spent yet, and
    which are unknown now: all of it counts as spent, so a crash never
    lets a budget be overspent (``budget_reconcile`` re-derives the
    truth from the ledger)."""
    now = now or timezone.now()
    released = 0
    for row in list(Reservation.objects.filter(expires_at__lt=now).select_related("budget")):
        with transaction.atomic():
            if not Reservation.objects.filter(pk=row.pk).delete()[0]:
                continue
            Budget.objects.filter(pk=row.budget_id).update(
                reserved_micros=F("reserved_micros") - row.amount_micros
            )
            if row.lease:
                Budget.objects.filter(pk=row.budget_id, period_start=row.period_start).update(
                    spent_micros=F("spent_micros") + row.amount_micros
                )
        released += 1
        _event(
            row.budget, BudgetEvent.Kind.EXPIRED, amount=row.amount_micros,
            detail={"hold": str(row.hold), **({"lease": "counted as spent"} if row.lease else {})},
        )  # fmt: skip
    return released


def budget_reconcile(*, budget: Budget, now: datetime | None = None) -> Budget:
    """Re-derive a budget's totals: spent from the ledger, reserved from its live holds.

    Spent is left as it is while a server process holds a lease on the
    budget (decision 0011): the lease holds costs that are in the ledger
    already and that it charges when it goes back, so re-deriving now would
    count them twice. Leases go back within seconds of their process going
    idle; ``budget_leased`` says whether one is held."""
    now = now or timezone.now()
    with transaction.atomic():
        budget = Budget.objects.select_for_update().get(pk=budget.pk)
        _roll_over(budget, now)
        if not budget_leased(budget):
            budget.spent_micros = ledger_spent(budget, budget.period_start)
        budget.reserved_micros = reservations_live(budget)
        budget.save(update_fields=["spent_micros", "reserved_micros", "updated_at"])
    return budget


# --- admin actions ----------------------------------------------------------------


@dataclass(frozen=True)
class BudgetTarget:
    scope: str
    team: Team | None = None
    user: User | None = None
    api_key: ApiKey | None = None


def budget_set(
    *,
    target: BudgetTarget,
    limit_micros: int,
    period: str,
    on_limit: str = Budget.OnLimit.BLOCK,
    warn_percent: int = 80,
    local_open: bool = True,
    actor: User | None = None,
    reason: str = "",
) -> Budget:
    """Create or change the budget of ``target``."""
    _validate(target, limit_micros, period, on_limit, warn_percent)
    now = timezone.now()
    with transaction.atomic():
        budget = _find(target) or Budget(
            scope=target.scope, team=target.team, user=target.user, api_key=target.api_key,
            period_start=now,
        )  # fmt: skip
        changed_period = budget.pk is None or budget.period != period
        budget.limit_micros, budget.period, budget.on_limit = limit_micros, period, on_limit
        budget.warn_percent, budget.local_open = warn_percent, local_open
        if changed_period:
            budget.period_start = current_start(budget, now)
            budget.spent_micros = ledger_spent(budget, budget.period_start)
            budget.extra_micros = 0
        budget.save()
        _event(budget, BudgetEvent.Kind.SET, actor=actor, reason=reason, amount=limit_micros,
               detail={"period": period, "on_limit": on_limit})  # fmt: skip
    return budget


def _validate(
    target: BudgetTarget, limit_micros: int, period: str, on_limit: str, warn_percent: int
) -> None:
    needs: dict[str, tuple[bool, bool, bool]] = {
        Budget.Scope.ORG: (False, False, False),
        Budget.Scope.TEAM: (True, False, False),
        Budget.Scope.USER: (True, True, False),
        Budget.Scope.KEY: (True, False, True),
    }
    if target.scope not in needs:
        raise ValidationError(f"Unknown scope {target.scope!r}.")
    has = (target.team is not None, target.user is not None, target.api_key is not None)
    if has != needs[target.scope]:
        raise ValidationError(f"A {target.scope} budget needs exactly its team, user or key.")
    if target.api_key is not None and target.api_key.team_id != getattr(target.team, "pk", None):
        raise ValidationError("That key belongs to another team.")
    if limit_micros < 0:
        raise ValidationError("A limit cannot be negative.")
    if period not in Budget.Period.values:
        raise ValidationError(f"The period is one of {', '.join(Budget.Period.values)}.")
    if on_limit not in Budget.OnLimit.values:
        raise ValidationError("At the limit a budget blocks or downgrades.")
    if not 1 <= warn_percent <= 100:
        raise ValidationError("The warning threshold is between 1 and 100 percent.")


def _find(target: BudgetTarget) -> Budget | None:
    return Budget.objects.filter(
        scope=target.scope, team=target.team, user=target.user, api_key=target.api_key
    ).first()


def budget_delete(*, budget: Budget, actor: User | None = None, reason: str = "") -> None:
    _event(budget, BudgetEvent.Kind.DELETED, actor=actor, reason=reason)
    budget.delete()


def budget_top_up(*, budget: Budget, amount_micros: int, actor: User | None, reason: str) -> None:
    """Add money to this period only (it is gone at the next reset)."""
    if amount_micros <= 0:
        raise ValidationError("A top-up is a positive amount.")
    _require_reason(reason)
    with transaction.atomic():
        _roll_over(budget, timezone.now())
        Budget.objects.filter(pk=budget.pk).update(extra_micros=F("extra_micros") + amount_micros)
        _event(budget, BudgetEvent.Kind.TOP_UP, actor=actor, reason=reason, amount=amount_micros)


def budget_override(
    *, budget: Budget, until: datetime | None, actor: User | None, reason: str
) -> None:
    """Let requests past the limit until ``until`` (None ends an override)."""
    _require_reason(reason)
    with transaction.atomic():
        Budget.objects.filter(pk=budget.pk).update(override_until=until)
        _event(budget, BudgetEvent.Kind.OVERRIDE, actor=actor, reason=reason,
               detail={"until": until.isoformat() if until else None})  # fmt: skip


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ValidationError("Say why (it is kept in the budget's log).")


def _event(
    budget: Budget,
    kind: str,
    *,
    actor: User | None = None,
    reason: str = "",
    amount: int | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    BudgetEvent.objects.create(
        budget=budget, budget_label=budget.label[:200], kind=kind, actor=actor,
        reason=reason[:300], amount_micros=amount, detail=detail or {},
    )  # fmt: skip


def budget_describe(budget: Budget) -> str:
    """One line of the budget's state, for the command line."""
    state = budget_state(budget)
    resets = (
        f"resets at {timezone.localtime(state.resets_at, org_tz()):%Y-%m-%d %H:%M %Z}"
        if state.resets_at
        else "never resets"
    )
    return (
        f"{state.label}: {dollars(state.spent_micros)} spent, "
        f"{dollars(state.reserved_micros)} reserved of {dollars(state.allowance_micros)} "
        f"per {budget.period} ({state.used:.0%} used; at the limit: {budget.on_limit}; {resets})"
    )
