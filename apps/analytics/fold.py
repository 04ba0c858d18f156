"""Rollups computed in SQL from a range of ledger rows, for bulk writers
(``ledger_synthesize``): what ``services.rollups_add`` would have written for
those rows, one statement per rollup table instead of a Python loop and an
upsert per key.

The ledger rows are read twice: once summed per user rollup key into a
temporary table (from which the team and model rollups are summed too), once
for the rule and error breakdowns; then the review's candidates and re-asked
questions (the chat requests with the one before each, in a third temporary
table). The request path keeps ``rollups_add``; the two must agree, which
tests/analytics/test_synthesize.py checks by rebuilding the rollups of a
synthetic ledger with ``rollups_add`` and comparing every row. Each rule
below mirrors a function of services.py: keep them in step.

The statements are additive upserts like the request path's, so rows folded
here add to what the rollups already hold. The rows are taken in time order
(created_at, then id), as the request path records them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

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


def _rows(first_id: int, last_id: int) -> str:
    """One row per ledger row with its rollup key (services._key) and what it counts."""
    return (
        f"SELECT {_day()} AS day, COALESCE(u.team_id, 0) AS team_id, "
        "COALESCE(u.user_id, 0) AS user_id, u.model_name, u.provider_name, "
        f"{ROUTE} AS route, SUBSTR(u.level_name, 1, 30) AS level_name, u.source, "
        "u.status, u.prompt_tokens, u.completion_tokens, u.cost_micros, u.latency_ms, "
        f"u.ttft_ms, {_bucket('u.latency_ms')} AS lat_b, {_bucket('u.ttft_ms')} AS ttft_b "
        f"FROM {LEDGER} u WHERE u.id > {int(first_id)} AND u.id <= {int(last_id)}"
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


def _breakdown_rows(first_id: int, last_id: int) -> str:
    """services._breakdowns: the deciding rule, and the error of failures."""
    dims = (
        f"{_day()} AS day, COALESCE(u.team_id, 0) AS team_id, "
        "COALESCE(u.user_id, 0) AS user_id, u.model_name, u.provider_name, "
        f"{ROUTE} AS route, SUBSTR(u.level_name, 1, 30) AS level_name, u.source"
    )
    where = f"u.id > {int(first_id)} AND u.id <= {int(last_id)}"
    return (
        f"SELECT {dims}, 'rule' AS kind, SUBSTR(u.rule_name, 1, 80) AS name, u.cost_micros "
        f"FROM {LEDGER} u WHERE {where} AND u.rule_name <> '' "
        f"UNION ALL SELECT {dims}, 'error' AS kind, "
        "SUBSTR(COALESCE(NULLIF(u.error_type, ''), 'unknown'), 1, 80) AS name, u.cost_micros "
        f"FROM {LEDGER} u WHERE {where} AND u.status IN ('error', 'rejected')"
    )


def _candidates(first_id: int, last_id: int) -> str:
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
        f"FROM {LEDGER} u WHERE u.id > {int(first_id)} AND u.id <= {int(last_id)} "
        "AND u.model_name <> '' AND u.privacy_zone <> 'on_prem' AND u.status = 'ok' "
        f"AND u.level IN ({levels}) AND u.complexity IS NOT NULL "
        f"AND u.complexity < {float(LOW_COMPLEXITY)!r} "
        f"AND u.estimated_tokens <= {int(SHORT_PROMPT_TOKENS)} "
        "ORDER BY u.created_at, u.id"
    )


_PREVIOUS = ("created_at", "code", "team_id", "model_name", "level_name", "estimated_tokens",
             "answered_locally")  # fmt: skip


def _chats(first_id: int, last_id: int) -> str:
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
        f"FROM {LEDGER} u WHERE u.id > {int(first_id)} AND u.id <= {int(last_id)} "
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
    """Add the ledger rows with ``first_id < id <= last_id`` to every rollup.
    Run it in the transaction that wrote them, while nothing else records."""
    usage = _staged("analytics_fold_usage", DIMENSIONS, _rows(first_id, last_id), COUNTS)
    for model, keys in (
        (UsageRollup, DIMENSIONS),
        (TeamRollup, TEAM_DIMENSIONS),
        (ModelRollup, MODEL_DIMENSIONS),
    ):
        _upsert(model, keys, usage, _summed(COUNTS), now)
    sums = {"requests": "COUNT(*)", "cost_micros": "SUM(r.cost_micros)"}
    keys = (*DIMENSIONS, "kind", "name")
    breakdowns = _staged("analytics_fold_breakdown", keys, _breakdown_rows(first_id, last_id), sums)
    _upsert(BreakdownRollup, keys, breakdowns, _summed(sums), now)
    _upsert(TeamBreakdownRollup, (*TEAM_DIMENSIONS, "kind", "name"), breakdowns, _summed(sums), now)
    chats = _temporary("analytics_fold_chats", _chats(first_id, last_id))
    with connection.cursor() as cursor:
        cursor.execute(_candidates(first_id, last_id))
        for sql in _asked_again(chats):
            cursor.execute(sql)
        for name in ("analytics_fold_usage", "analytics_fold_breakdown", "analytics_fold_chats"):
            cursor.execute(f"DROP TABLE {_q(name)}")
