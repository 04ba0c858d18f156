"""Rollups computed in SQL from ledger rows: how every ledger row reaches
the analytics rollups (docs/decisions/0010).

The request path writes only its ledger row, unfolded (``folded`` false).
``ledger_fold`` takes a batch of unfolded rows, adds them to every rollup
and marks them folded, in one transaction: the gateway's ledger writer runs
it in the background after a batch of requests (apps/gateway/ledger.py), and
every reader of the rollups runs ``rollups_refresh`` first, so no page,
export, scrape or job reads totals that miss a recorded request.
``rollups_fold`` does the same for a range of ids, for bulk writers
(``ledger_synthesize``).

The ledger rows are read twice: once summed per user rollup key into a
temporary table (from which the team and model rollups are summed too), once
for the rule and error breakdowns; then the review's candidates and re-asked
questions (the chat requests with the one before each, in a third temporary
table). ``services.rollups_add`` is the same in Python, row by row (kept for
``analytics_rebuild`` and as the reference): tests/analytics/test_synthesize.py
rebuilds the rollups of a synthetic ledger with it and compares every row.
Each rule below mirrors a function of services.py: keep them in step.

The statements are additive upserts, so rows folded here add to what the
rollups already hold. The rows are taken in time order (created_at, then
id), as the request path records them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from apps.gateway.models import UsageRecord

from .models import (
    COUNT_FIELDS,
    DIMENSIONS,
    LATENCY_BOUNDS_MS,
    LATENCY_FIELDS,
    MODEL_DIMENSIONS,
    TEAM_DIMENSIONS,
    TTFT_FIELDS,
    AskedAgain,
    BreakdownRollup,
    LastChatRequest,
    ModelRollup,
    StayLocalCandidate,
    TeamBreakdownRollup,
    TeamRollup,
    UsageRollup,
)
from .services import LOCAL_LEVELS, LOW_COMPLEXITY, REASK_WINDOW, SHORT_PROMPT_TOKENS

LEDGER = connection.ops.quote_name(UsageRecord._meta.db_table)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model: type) -> str:
    return _q(model._meta.db_table)  # type: ignore[attr-defined]


def _day() -> str:
    """The UTC day of created_at (SQLite keeps UTC text, services._key)."""
    if connection.vendor == "postgresql":
        return "(u.created_at AT TIME ZONE 'UTC')::date"
    return "date(u.created_at)"


def _plus_window(column: str) -> str:
    """``column`` + REASK_WINDOW, exact to the microsecond. SQLite's datetime()
    drops the fraction, which adding whole minutes leaves as it was."""
    minutes = int(REASK_WINDOW.total_seconds() // 60)
    if connection.vendor == "postgresql":
        return f"{column} + interval '{minutes} minutes'"
    return f"(datetime({column}, '+{minutes} minutes') || substr({column}, 20))"


# services.record_route
ROUTE = (
    "CASE WHEN u.model_name = '' THEN 'none' "
    "WHEN u.privacy_zone = 'on_prem' THEN 'local' ELSE 'cloud' END"
)


def _bucket(column: str) -> str:
    """services.bucket_index: the first bound the duration does not exceed."""
    bounds = enumerate(LATENCY_BOUNDS_MS)
    steps = " ".join(f"WHEN {column} <= {bound} THEN {i}" for i, bound in bounds)
    return f"CASE WHEN {column} IS NULL THEN NULL {steps} ELSE {len(LATENCY_BOUNDS_MS)} END"


def _rows(where: str) -> str:
    """One row per ledger row with its rollup key (services._key) and what it counts."""
    return (
        f"SELECT {_day()} AS day, COALESCE(u.team_id, 0) AS team_id, "
        "COALESCE(u.user_id, 0) AS user_id, u.model_name, u.provider_name, "
        f"{ROUTE} AS route, SUBSTR(u.level_name, 1, 30) AS level_name, u.source, "
        "u.status, u.prompt_tokens, u.completion_tokens, u.cost_micros, u.latency_ms, "
        f"u.ttft_ms, {_bucket('u.latency_ms')} AS lat_b, {_bucket('u.ttft_ms')} AS ttft_b "
        f"FROM {LEDGER} u WHERE {where}"
    )


def _when(condition: str, value: str = "1") -> str:
    return f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)"


# services._usage_counts, column by column
_GEN = "r.ttft_ms IS NOT NULL AND r.status = 'ok'"
COUNTS = {
    "requests": "COUNT(*)",
    "ok": _when("r.status = 'ok'"),
    "errors": _when("r.status NOT IN ('ok', 'rejected', 'cancelled')"),
    "rejected": _when("r.status = 'rejected'"),
    "cancelled": _when("r.status = 'cancelled'"),
    "prompt_tokens": "SUM(r.prompt_tokens)",
    "completion_tokens": "SUM(r.completion_tokens)",
    "cost_micros": "SUM(r.cost_micros)",
    "latency_ms_sum": "SUM(r.latency_ms)",
    "ttft_count": "COUNT(r.ttft_ms)",
    "ttft_ms_sum": "COALESCE(SUM(r.ttft_ms), 0)",
    "gen_tokens": _when(_GEN, "r.completion_tokens"),
    "gen_ms": _when(f"{_GEN} AND r.latency_ms > r.ttft_ms", "r.latency_ms - r.ttft_ms"),
    **{name: _when(f"r.lat_b = {i}") for i, name in enumerate(LATENCY_FIELDS)},
    **{name: _when(f"r.ttft_b = {i}") for i, name in enumerate(TTFT_FIELDS)},
}
assert list(COUNTS) == COUNT_FIELDS


def _upsert(
    model: type, keys: tuple[str, ...], source: str, counts: dict[str, str], now: datetime
) -> None:
    """Group ``source`` by ``keys`` and add the sums to ``model``'s rows."""
    table = _table(model)
    columns = [*keys, "updated_at", *counts]
    group = ", ".join(f"r.{_q(k)}" for k in keys)
    updates = [f"{_q(c)} = {table}.{_q(c)} + excluded.{_q(c)}" for c in counts]
    updates.append(f"{_q('updated_at')} = excluded.{_q('updated_at')}")
    sql = (
        f"INSERT INTO {table} ({', '.join(_q(c) for c in columns)}) "
        f"SELECT {group}, %s, {', '.join(counts.values())} FROM ({source}) r "
        f"WHERE true GROUP BY {group} ORDER BY {group} "
        f"ON CONFLICT ({', '.join(_q(k) for k in keys)}) DO UPDATE SET " + ", ".join(updates)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now])


def _breakdown_rows(where: str) -> str:
    """services._breakdowns: the deciding rule, and the error of failures."""
    dims = (
        f"{_day()} AS day, COALESCE(u.team_id, 0) AS team_id, "
        "COALESCE(u.user_id, 0) AS user_id, u.model_name, u.provider_name, "
        f"{ROUTE} AS route, SUBSTR(u.level_name, 1, 30) AS level_name, u.source"
    )
    return (
        f"SELECT {dims}, 'rule' AS kind, SUBSTR(u.rule_name, 1, 80) AS name, u.cost_micros "
        f"FROM {LEDGER} u WHERE {where} AND u.rule_name <> '' "
        f"UNION ALL SELECT {dims}, 'error' AS kind, "
        "SUBSTR(COALESCE(NULLIF(u.error_type, ''), 'unknown'), 1, 80) AS name, u.cost_micros "
        f"FROM {LEDGER} u WHERE {where} AND u.status IN ('error', 'rejected')"
    )


def _candidates(where: str) -> str:
    """services.could_stay_local."""
    columns = (
        "created_at", "code", "team_id", "model_name", "level_name", "complexity",
        "prompt_tokens", "completion_tokens", "cost_micros",
    )  # fmt: skip
    levels = ", ".join(str(level) for level in LOCAL_LEVELS)
    return (
        f"INSERT INTO {_table(StayLocalCandidate)} ({', '.join(_q(c) for c in columns)}) "
        "SELECT u.created_at, u.code, COALESCE(u.team_id, 0), u.model_name, u.level_name, "
        "u.complexity, u.prompt_tokens, u.completion_tokens, u.cost_micros "
        f"FROM {LEDGER} u WHERE {where} "
        "AND u.model_name <> '' AND u.privacy_zone <> 'on_prem' AND u.status = 'ok' "
        f"AND u.level IN ({levels}) AND u.complexity IS NOT NULL "
        f"AND u.complexity < {float(LOW_COMPLEXITY)!r} "
        f"AND u.estimated_tokens <= {int(SHORT_PROMPT_TOKENS)} "
        "ORDER BY u.created_at, u.id"
    )


_PREVIOUS = ("created_at", "code", "team_id", "model_name", "level_name", "estimated_tokens",
             "answered_locally")  # fmt: skip


def _chats(where: str) -> str:
    """The range's chat requests per user in time order, each with the one
    before it and whether one follows (services._asked_again_note)."""
    lags = ", ".join(f"LAG({c}) OVER w AS p_{c}" for c in _PREVIOUS)
    return (
        "SELECT id, user_id, created_at, code, team_id, model_name, level_name, "
        f"estimated_tokens, is_local, answered_locally, {lags}, "
        "LEAD(id) OVER w AS next_id FROM ("
        "SELECT u.id, u.user_id, u.created_at, u.code, COALESCE(u.team_id, 0) AS team_id, "
        "u.model_name, u.level_name, u.estimated_tokens, "
        "(u.privacy_zone = 'on_prem') AS is_local, "
        "(u.privacy_zone = 'on_prem' AND u.status = 'ok') AS answered_locally "
        f"FROM {LEDGER} u WHERE {where} "
        "AND u.source = 'chat' AND u.user_id IS NOT NULL AND u.user_id <> 0 "
        "AND u.model_name <> '') c "
        "WINDOW w AS (PARTITION BY user_id ORDER BY created_at, id)"
    )


_ASKED = ("created_at", "code", "team_id", "model_name", "level_name", "then_model", "then_local")


def _asked_again(chats: str) -> list[str]:
    """services._same_question, against the chat before in the range, and
    for each user's first chat of the range against LastChatRequest; then
    each user's last chat of the range becomes their LastChatRequest."""
    asked = f"INSERT INTO {_table(AskedAgain)} ({', '.join(_q(c) for c in _ASKED)}) "
    last = _table(LastChatRequest)
    lcr_columns = ("user_id", "created_at", "code", "team_id", "model_name", "level_name",
                   "estimated_tokens", "answered_locally")  # fmt: skip
    return [
        asked
        + "SELECT p_created_at, p_code, p_team_id, p_model_name, p_level_name, model_name, "
        f"is_local FROM {chats} WHERE p_answered_locally "
        "AND p_estimated_tokens = estimated_tokens "
        f"AND created_at <= {_plus_window('p_created_at')} ORDER BY created_at, id",
        asked
        + "SELECT l.created_at, l.code, l.team_id, l.model_name, l.level_name, c.model_name, "
        f"c.is_local FROM {chats} c JOIN {last} l ON l.user_id = c.user_id "
        "WHERE c.p_created_at IS NULL AND l.answered_locally "
        "AND l.estimated_tokens = c.estimated_tokens AND c.created_at >= l.created_at "
        f"AND c.created_at <= {_plus_window('l.created_at')} ORDER BY c.created_at, c.id",
        f"INSERT INTO {last} ({', '.join(_q(c) for c in lcr_columns)}) "
        f"SELECT {', '.join(lcr_columns)} FROM {chats} WHERE next_id IS NULL ORDER BY user_id "
        f"ON CONFLICT ({_q('user_id')}) DO UPDATE SET "
        + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in lcr_columns[1:])
        # a second run into the same days must not move it back in time
        + f" WHERE excluded.created_at >= {last}.created_at",
    ]  # fmt: skip


def _temporary(name: str, select: str) -> str:
    """A temporary table holding the rows of ``select``; returns its quoted name."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_q(name)}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_q(name)} AS {select}")
    return _q(name)


def _staged(name: str, keys: tuple[str, ...], source: str, counts: dict[str, str]) -> str:
    """Sum ``source`` once per ``keys`` into a temporary table: the coarser
    rollups are then summed from its rows instead of scanning the ledger again."""
    group = ", ".join(f"r.{_q(k)}" for k in keys)
    sums = ", ".join(f"{sql} AS {_q(column)}" for column, sql in counts.items())
    table = _temporary(name, f"SELECT {group}, {sums} FROM ({source}) r GROUP BY {group}")
    return f"SELECT * FROM {table}"


def _summed(counts: dict[str, str]) -> dict[str, str]:
    return {column: f"SUM(r.{_q(column)})" for column in counts}


def rollups_fold(*, first_id: int, last_id: int, now: datetime) -> None:
    """Add the ledger rows with ``first_id < id <= last_id`` to every rollup
    (``ledger_synthesize``, whose rows are written already folded). Run it in
    the transaction that wrote them, while nothing else records."""
    _fold(f"u.id > {int(first_id)} AND u.id <= {int(last_id)}", now)


def _fold(where: str, now: datetime) -> None:
    """Add the ledger rows ``u`` matching ``where`` to every rollup."""
    usage = _staged("analytics_fold_usage", DIMENSIONS, _rows(where), COUNTS)
    for model, keys in (
        (UsageRollup, DIMENSIONS),
        (TeamRollup, TEAM_DIMENSIONS),
        (ModelRollup, MODEL_DIMENSIONS),
    ):
        _upsert(model, keys, usage, _summed(COUNTS), now)
    sums = {"requests": "COUNT(*)", "cost_micros": "SUM(r.cost_micros)"}
    keys = (*DIMENSIONS, "kind", "name")
    breakdowns = _staged("analytics_fold_breakdown", keys, _breakdown_rows(where), sums)
    _upsert(BreakdownRollup, keys, breakdowns, _summed(sums), now)
    _upsert(TeamBreakdownRollup, (*TEAM_DIMENSIONS, "kind", "name"), breakdowns, _summed(sums), now)
    chats = _temporary("analytics_fold_chats", _chats(where))
    with connection.cursor() as cursor:
        cursor.execute(_candidates(where))
        for sql in _asked_again(chats):
            cursor.execute(sql)
        for name in ("analytics_fold_usage", "analytics_fold_breakdown", "analytics_fold_chats"):
            cursor.execute(f"DROP TABLE {_q(name)}")


# --- the ledger's unfolded rows ------------------------------------------------

# Rows one fold takes at most: bounds the transaction and, on SQLite, how long
# it holds the write lock. A reader folds again until none are left.
FOLD_MAX = 5000
_TAKEN = "analytics_fold_ids"  # a temporary table: the ids this fold took


def ledger_fold(*, limit: int = FOLD_MAX, wait: bool = False, through: int | None = None) -> int:
    """Fold up to ``limit`` unfolded ledger rows (with ids up to ``through``)
    into the rollups and mark them folded, in one transaction, so a row is
    counted exactly once whoever folds it, and a fold that fails leaves its
    rows for the next. Folders never take a row another holds: on PostgreSQL
    the rows are locked first and another folder skips them (``wait``
    false: the background) or waits for them to be folded (``wait`` true: a
    reader, which must see them counted); on SQLite the write lock, taken
    when the transaction begins, admits one folder at a time. Not a maximum
    id: PostgreSQL's ids commit out of order. Returns how many it folded."""
    with transaction.atomic():
        taken = _take(limit, wait, through)
        if taken:
            _fold(f"u.id IN (SELECT id FROM {_q(_TAKEN)})", timezone.now())
            _mark_folded()
    return taken


def _take(limit: int, wait: bool, through: int | None) -> int:
    """The oldest unfolded rows, locked, into the temporary table of taken ids."""
    pending = UsageRecord.objects.filter(folded=False)
    if through is not None:
        pending = pending.filter(id__lte=through)
    if connection.features.has_select_for_update:
        pending = pending.select_for_update(skip_locked=not wait)
    sql, params = pending.order_by("id").values("id")[:limit].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_q(_TAKEN)} (id BIGINT PRIMARY KEY)")
        cursor.execute(f"DELETE FROM {_q(_TAKEN)}")
        cursor.execute(f"INSERT INTO {_q(_TAKEN)} (id) {sql}", params)
        return int(cursor.rowcount)


def _mark_folded() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LEDGER} SET {_q('folded')} = %s WHERE id IN (SELECT id FROM {_q(_TAKEN)})",
            [True],
        )


def rollups_refresh() -> None:
    """Fold every row recorded before this call: what each reader of the
    rollups runs first. One indexed query when nothing is pending (the
    usual case, with the ledger writer folding in the background)."""
    last = UsageRecord.objects.filter(folded=False).order_by("-id").values_list("id", flat=True)
    through = last.first()
    # Rows written after this call began may wait for the next reader; the
    # bound keeps a busy ledger from holding a reader here. A fold that took
    # fewer than it could has found no more: it waited for the rows another
    # folder held, and skipped them once that fold had committed them.
    while through is not None and ledger_fold(wait=True, through=through) == FOLD_MAX:
        pass
