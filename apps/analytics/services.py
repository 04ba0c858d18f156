"""Rollup writes in Python: ledger rows added to the per-day rollups, row by row.

The request path no longer calls this: its rows are folded in SQL, in
batches, off the request path (fold.py, docs/decisions/0010). ``rollups_add``
is what ``analytics_rebuild`` replays the ledger through, and the reference
the SQL fold is tested against (each of its rules is mirrored there). Every
write is an additive upsert
(``INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n``), the same
statement on SQLite and PostgreSQL: two processes recording at once both
land, whichever inserts the row first.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from apps.gateway.models import UsageRecord

from .models import (
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
    Route,
    StayLocalCandidate,
    TeamBreakdownRollup,
    TeamRollup,
    UsageRollup,
)

Key = tuple[Any, ...]
Counts = dict[str, int]

# "Could have stayed local": public or internal data (level 0 or 1), low
# complexity and a short prompt, yet answered in the cloud.
LOCAL_LEVELS = (0, 1)
LOW_COMPLEXITY = 0.35
SHORT_PROMPT_TOKENS = 1000
# "Asked again": the same user's next chat request within this window with
# the same estimated prompt size.
REASK_WINDOW = timedelta(minutes=10)

_STATUS_COLUMN: dict[str, str] = {
    UsageRecord.Status.OK: "ok",
    UsageRecord.Status.ERROR: "errors",
    UsageRecord.Status.REJECTED: "rejected",
    UsageRecord.Status.CANCELLED: "cancelled",
}


def bucket_index(ms: int) -> int:
    """The histogram bucket of a duration: the first bound it does not exceed."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, ms)


def record_route(record: UsageRecord) -> str:
    if not record.model_name:
        return Route.NONE
    return Route.LOCAL if record.privacy_zone == "on_prem" else Route.CLOUD


def _key(record: UsageRecord) -> Key:
    """The user rollup's key; the team rollup's is the same without the user."""
    day: date = record.created_at.astimezone(UTC).date()
    return (
        day, record.team_id or 0, record.user_id or 0, record.model_name, record.provider_name,
        record_route(record), record.level_name[:30], record.source,
    )  # fmt: skip


def _team_key(key: Key) -> Key:
    return key[:2] + key[3:]


def _model_key(key: Key) -> Key:
    """(day, team, model, route) of a user rollup key."""
    return (key[0], key[1], key[3], key[5])


def _usage_counts(record: UsageRecord) -> Counts:
    counts = {
        "requests": 1,
        _STATUS_COLUMN.get(record.status, "errors"): 1,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cost_micros": record.cost_micros,
        "latency_ms_sum": record.latency_ms,
        LATENCY_FIELDS[bucket_index(record.latency_ms)]: 1,
    }
    if record.ttft_ms is not None:
        counts |= {"ttft_count": 1, "ttft_ms_sum": record.ttft_ms}
        counts[TTFT_FIELDS[bucket_index(record.ttft_ms)]] = 1
        if record.status == UsageRecord.Status.OK:
            counts["gen_tokens"] = record.completion_tokens
            counts["gen_ms"] = max(record.latency_ms - record.ttft_ms, 0)
    return counts


def _breakdowns(record: UsageRecord) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if record.rule_name:
        found.append((BreakdownRollup.Kind.RULE, record.rule_name[:80]))
    if record.status in (UsageRecord.Status.ERROR, UsageRecord.Status.REJECTED):
        found.append((BreakdownRollup.Kind.ERROR, (record.error_type or "unknown")[:80]))
    return found


def could_stay_local(record: UsageRecord) -> bool:
    return (
        record_route(record) == Route.CLOUD
        and record.status == UsageRecord.Status.OK
        and record.level in LOCAL_LEVELS
        and record.complexity is not None
        and record.complexity < LOW_COMPLEXITY
        and record.estimated_tokens <= SHORT_PROMPT_TOKENS
    )


@dataclass
class Deltas:
    """What a set of ledger rows adds to each rollup, summed per key."""

    usage: dict[Key, Counts] = field(default_factory=lambda: defaultdict(_counts))
    team: dict[Key, Counts] = field(default_factory=lambda: defaultdict(_counts))
    model: dict[Key, Counts] = field(default_factory=lambda: defaultdict(_counts))
    breakdown: dict[Key, Counts] = field(default_factory=lambda: defaultdict(_counts))
    team_breakdown: dict[Key, Counts] = field(default_factory=lambda: defaultdict(_counts))
    candidates: list[StayLocalCandidate] = field(default_factory=list)
    chats: list[UsageRecord] = field(default_factory=list)  # answered chat requests


def _counts() -> Counts:
    return defaultdict(int)


def rollup_deltas(records: Iterable[UsageRecord]) -> Deltas:
    deltas = Deltas()
    for record in records:
        key = _key(record)
        counts = _usage_counts(record)
        for target in (
            deltas.usage[key],
            deltas.team[_team_key(key)],
            deltas.model[_model_key(key)],
        ):
            for column, value in counts.items():
                target[column] += value
        for kind, name in _breakdowns(record):
            for target in (
                deltas.breakdown[(*key, kind, name)],
                deltas.team_breakdown[(*_team_key(key), kind, name)],
            ):
                target["requests"] += 1
                target["cost_micros"] += record.cost_micros
        if could_stay_local(record):
            deltas.candidates.append(_candidate(record))
        if record.source == UsageRecord.Source.CHAT and record.user_id and record.model_name:
            deltas.chats.append(record)
    return deltas


def _candidate(record: UsageRecord) -> StayLocalCandidate:
    return StayLocalCandidate(
        created_at=record.created_at,
        code=record.code,
        team_id=record.team_id or 0,
        model_name=record.model_name,
        level_name=record.level_name,
        complexity=record.complexity or 0.0,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cost_micros=record.cost_micros,
    )


def rollups_add(*, records: Iterable[UsageRecord]) -> None:
    """Add ledger rows to the rollups; the caller marks them folded in the same
    transaction (``analytics_rebuild``), or the fold would count them again."""
    deltas = rollup_deltas(records)
    # No savepoint: inside the caller's transaction a failure here must undo
    # its other writes too.
    with transaction.atomic(savepoint=False):
        _upsert(UsageRollup, DIMENSIONS, deltas.usage)
        _upsert(TeamRollup, TEAM_DIMENSIONS, deltas.team)
        _upsert(ModelRollup, MODEL_DIMENSIONS, deltas.model)
        _upsert(BreakdownRollup, (*DIMENSIONS, "kind", "name"), deltas.breakdown)
        _upsert(TeamBreakdownRollup, (*TEAM_DIMENSIONS, "kind", "name"), deltas.team_breakdown)
        StayLocalCandidate.objects.bulk_create(deltas.candidates)
        _asked_again_note(deltas.chats)


def _asked_again_note(chats: list[UsageRecord]) -> None:
    """Note local answers followed by the same question, and remember each
    user's latest chat request. Two requests of one user recorded at the
    same instant by two processes may miss a pairing; nothing else is lost."""
    if not chats:
        return
    chats = sorted(chats, key=lambda r: r.created_at)
    users = {r.user_id or 0 for r in chats}
    last = {row.user_id: row for row in LastChatRequest.objects.filter(user_id__in=users)}
    found = []
    for record in chats:
        before = last.get(record.user_id or 0)
        if before is not None and _same_question(before, record):
            found.append(_asked(before, record))
        last[record.user_id or 0] = _latest(record)
    AskedAgain.objects.bulk_create(found)
    LastChatRequest.objects.bulk_create(
        list(last.values()),
        update_conflicts=True,
        unique_fields=["user_id"],
        update_fields=[f.name for f in LastChatRequest._meta.fields if not f.primary_key],
    )


def _same_question(before: LastChatRequest, record: UsageRecord) -> bool:
    return (
        before.answered_locally
        and before.estimated_tokens == record.estimated_tokens
        and timedelta(0) <= record.created_at - before.created_at <= REASK_WINDOW
    )


def _asked(before: LastChatRequest, record: UsageRecord) -> AskedAgain:
    return AskedAgain(
        created_at=before.created_at,
        code=before.code,
        team_id=before.team_id,
        model_name=before.model_name,
        level_name=before.level_name,
        then_model=record.model_name,
        then_local=record_route(record) == Route.LOCAL,
    )


def _latest(record: UsageRecord) -> LastChatRequest:
    return LastChatRequest(
        user_id=record.user_id or 0,
        created_at=record.created_at,
        code=record.code,
        team_id=record.team_id or 0,
        model_name=record.model_name,
        level_name=record.level_name,
        estimated_tokens=record.estimated_tokens,
        answered_locally=(
            record_route(record) == Route.LOCAL and record.status == UsageRecord.Status.OK
        ),
    )


def _upsert(
    model: type[models.Model], key_fields: tuple[str, ...], rows: dict[Key, Counts]
) -> None:
    if not rows:
        return
    counted = sorted({column for counts in rows.values() for column in counts})
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*key_fields, "updated_at", *counted]
    updates = [f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in counted]
    updates.append(f"{quote('updated_at')} = excluded.{quote('updated_at')}")
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key_fields)}) "
        f"DO UPDATE SET {', '.join(updates)}"
    )
    now = timezone.now()
    # Sorted keys: concurrent transactions lock rows in the same order.
    params = [
        (*key, now, *(counts.get(c, 0) for c in counted)) for key, counts in sorted(rows.items())
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
