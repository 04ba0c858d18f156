"""Write realistic synthetic usage history, for trying and benchmarking the
analytics: several teams and users, local and cloud models, the four levels,
errors and rejections, streaming, chat feedback and re-asked questions.

Everything goes in one transaction: the ledger rows in large batches
(PostgreSQL's COPY, SQLite's executemany), then their rollups, computed in
SQL from the rows just written (apps/analytics/fold.py, one statement per
rollup table) rather than upserted batch by batch. Run it while nothing else
records requests: the fold takes every ledger row written meanwhile. The
synthetic models are created disabled: they appear in the ledger and the
analytics but the gateway never routes to them.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import accumulate
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import Membership, Team
from apps.analytics.fold import rollups_fold
from apps.analytics.models import TeamRollup
from apps.chat.models import Conversation, Message
from apps.gateway.models import UsageRecord
from apps.policy.classification import LEVELS
from apps.providers.models import LanguageModel, PrivacyZone, Provider

TEAMS = ("Engineering", "Legal", "Sales", "Support", "Research")
USERS_PER_TEAM = 8
# name, provider, zone, input and output price (micro-dollars per million
# tokens), tokens per second, first-token latency range in ms
MODELS = (
    ("synth-smollm2", "synth-local", PrivacyZone.ON_PREM, 0, 0, 55, (60, 350)),
    ("synth-llama3-8b", "synth-local", PrivacyZone.ON_PREM, 0, 0, 22, (150, 900)),
    ("synth-gpt-4o-mini", "synth-openai", PrivacyZone.VENDOR, 150_000, 600_000, 90, (250, 900)),
    ("synth-gpt-4o", "synth-openai", PrivacyZone.VENDOR, 2_500_000, 10_000_000, 70, (350, 1400)),
    (
        "synth-claude-zdr", "synth-zdr", PrivacyZone.VENDOR_ZERO_RETENTION,
        3_000_000, 15_000_000, 60, (400, 1600),
    ),
)  # fmt: skip
RULES = {
    "sensitive": "Sensitive data stays on-prem",
    "complex": "Complex requests go to a cloud model",
    "default": "Everything else runs locally",
}
FAILURES = (
    ("error", "upstream_timeout", 0.010),
    ("error", "upstream_rate_limited", 0.008),
    ("error", "model_busy", 0.010),
    ("rejected", "blocked_by_policy", 0.008),
    ("rejected", "egress_refused", 0.002),
    ("rejected", "budget_exceeded", 0.004),
    ("cancelled", "client_disconnected", 0.008),
)


_IBAN_FINDING = json.dumps([{"detector": "iban", "label": "IBAN", "count": 1}])


@dataclass
class World:
    users: list[tuple[int, int]]  # (user id, team id)
    weights: list[float]  # cumulative
    models: dict[str, tuple[LanguageModel, tuple[Any, ...]]]
    conversations: dict[int, int]  # user id → synthetic conversation id


@contextmanager
def own_timestamps(*fields: models.Field[Any, Any]) -> Iterator[None]:
    """Let bulk inserts keep the historic created_at we set (auto_now_add
    would stamp every row with now)."""
    for field in fields:
        field.auto_now_add = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for field in fields:
            field.auto_now_add = True  # type: ignore[attr-defined]


class Command(BaseCommand):
    help = "Write N synthetic ledger rows over the last D days (and their rollups)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, required=True)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--batch", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, rows: int, days: int, batch: int, seed: int, **opts: Any) -> None:
        if rows < 1 or days < 1 or batch < 1:
            raise CommandError("--rows, --days and --batch must be positive.")
        rng = random.Random(seed)
        end = timezone.now()
        start = end - timedelta(days=days)
        began, written = time.perf_counter(), 0
        stamps = (
            UsageRecord._meta.get_field("created_at"),
            Message._meta.get_field("created_at"),
        )
        with transaction.atomic(), own_timestamps(*stamps):  # type: ignore[arg-type]
            world = _world()
            first_id = UsageRecord.objects.aggregate(m=Max("id"))["m"] or 0
            # Hour by hour, forward in time as real traffic is recorded,
            # busier on weekdays and working hours; written ``batch`` at a time.
            records: list[SynthRow] = []
            answers: list[Message] = []
            for hour, size in _hours(start, end, rows):
                _generate(rng, world, hour, hour + timedelta(hours=1), size, records, answers)
                if len(records) >= batch:
                    written += _write(records, answers)
                    rate = written / (time.perf_counter() - began)
                    self.stdout.write(f"{written} rows ({rate:,.0f}/s)")
            written += _write(records, answers)
            folding = time.perf_counter()
            last_id = UsageRecord.objects.aggregate(m=Max("id"))["m"] or 0
            stamp = timezone.now()
            rollups_fold(first_id=first_id, last_id=last_id, now=stamp)
            # Stamped again as it commits: /metrics (metrics.ClosedDays) looks
            # for closed days' rows written since its last scrape, and the
            # fold of a million rows takes minutes.
            TeamRollup.objects.filter(updated_at=stamp).update(updated_at=timezone.now())
        done = time.perf_counter()
        took, fold = done - began, done - folding
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {written} ledger rows over {days} days in {took:.0f} s "
                f"({written / took:,.0f} rows/s; rollups and commit {fold:.0f} s)."
            )
        )


def _world() -> World:
    users: list[tuple[int, int]] = []
    for name in TEAMS:
        team, _ = Team.objects.get_or_create(
            name=f"{name} (synthetic)", defaults={"slug": f"synth-{name.lower()}"}
        )
        for n in range(USERS_PER_TEAM):
            user, created = User.objects.get_or_create(username=f"synth-{name.lower()}-{n}")
            if created:
                user.set_unusable_password()
                user.save()
            role = Membership.Role.ADMIN if n == 0 else Membership.Role.MEMBER
            Membership.objects.get_or_create(user=user, team=team, defaults={"role": role})
            users.append((user.pk, team.pk))
    conversations = {}
    for user_id, team_id in users:
        conversation, _ = Conversation.objects.get_or_create(
            user_id=user_id, team_id=team_id, title="Synthetic history"
        )
        conversations[user_id] = conversation.pk
    weights = list(accumulate(1 / (i + 1) ** 0.8 for i in range(len(users))))  # a few heavy users
    return World(users, weights, _models(), conversations)


def _models() -> dict[str, tuple[LanguageModel, tuple[Any, ...]]]:
    found = {}
    for spec in MODELS:
        name, provider_name, zone, price_in, price_out, _, _ = spec
        local = zone == PrivacyZone.ON_PREM
        provider, _ = Provider.objects.get_or_create(
            name=provider_name,
            defaults={
                "privacy_zone": zone,
                "kind": Provider.Kind.LOCAL_LLAMA_CPP if local else Provider.Kind.OPENAI_COMPATIBLE,
                "base_url": "" if local else "https://example.invalid/v1",
                "enabled": False,
            },
        )
        model, _ = LanguageModel.objects.get_or_create(
            name=name,
            defaults={
                "provider": provider,
                "enabled": False,
                "input_price_per_mtok": price_in,
                "output_price_per_mtok": price_out,
                "upstream_id": "" if local else name,
                "model_file": "synthetic-not-loadable.gguf" if local else "",
            },
        )
        found[name] = (model, spec)
    return found


def _generate(
    rng: random.Random,
    world: World,
    start: datetime,
    end: datetime,
    n: int,
    records: list[SynthRow],
    answers: list[Message],
) -> None:
    """Append ``n`` requests between start and end (and their chat feedback)."""
    span = (end - start).total_seconds()
    goal = len(records) + n
    while len(records) < goal:
        at = start + timedelta(seconds=rng.random() * span)
        user_id, team_id = _pick(rng, world.users, world.weights)
        record = _record(rng, world, at, user_id, team_id)
        records.append(record)
        if record.source == "chat" and record.status == "ok":
            answers.extend(_feedback(rng, world, record))
            if record.privacy_zone == "on_prem" and rng.random() < 0.02 and len(records) < goal:
                records.append(_asked_again(rng, world, record))


def _write(records: list[SynthRow], answers: list[Message]) -> int:
    """Insert and empty both lists; returns how many ledger rows went in."""
    n = len(records)
    _insert(records)
    Message.objects.bulk_create(answers, batch_size=2000)
    records.clear()
    answers.clear()
    return n


class SynthRow:
    """A ledger row's fields without a model instance: for a million rows,
    Model.__init__ and bulk_create's per-value preparation were most of the
    time. JSON fields hold their JSON text."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(_DEFAULTS)
        self.__dict__.update(fields)
        self.code = uuid.uuid4()

    if TYPE_CHECKING:  # any ledger field, as on UsageRecord

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...


_FIELDS = [f for f in UsageRecord._meta.concrete_fields if not f.primary_key]
_DEFAULTS = {
    f.attname: json.dumps(f.get_default()) if isinstance(f, models.JSONField) else f.get_default()
    for f in _FIELDS
} | {"folded": True}  # rollups_fold counts them, in the transaction that writes them


def _converter(field: models.Field[Any, Any]) -> Callable[[Any], Any] | None:
    """How a value is stored, where the driver does not take it as it is."""
    if isinstance(field, models.DateTimeField):
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, models.UUIDField) and not connection.features.has_native_uuid_field:
        return lambda v: v.hex
    return None


@cache
def _json(value: Any) -> str:
    """JSON text of a value made of tuples (hashable, so each is encoded once)."""
    return json.dumps(value)


def _pick(rng: random.Random, population: Sequence[Any], cum_weights: Sequence[float]) -> Any:
    """rng.choices(population, cum_weights=...)[0] (the same draw, without
    building a list each time)."""
    return population[bisect(cum_weights, rng.random() * cum_weights[-1], 0, len(population) - 1)]


def _insert(records: list[SynthRow]) -> None:
    """The rows, converted as Django would store them: COPY on PostgreSQL,
    one executemany elsewhere."""
    if not records:
        return
    quote = connection.ops.quote_name
    table = quote(UsageRecord._meta.db_table)
    names = ", ".join(quote(f.column or f.attname) for f in _FIELDS)
    values = itemgetter(*(f.attname for f in _FIELDS))
    converted = [(i, convert) for i, f in enumerate(_FIELDS) if (convert := _converter(f))]
    params = []
    for record in records:
        row = list(values(record.__dict__))
        for i, convert in converted:
            row[i] = convert(row[i])
        params.append(row)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(_FIELDS))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", params)


def _activity(at: datetime) -> float:
    weekday, working = at.weekday() < 5, 8 <= at.hour < 19
    return 1.0 if weekday and working else 0.25 if weekday else 0.08


def _hours(start: datetime, end: datetime, rows: int) -> list[tuple[datetime, int]]:
    """How many rows each hour gets: ``rows`` in all, shared by activity."""
    hours = [start + timedelta(hours=i) for i in range(int((end - start) / timedelta(hours=1)))]
    weights = [_activity(h) for h in hours]
    total, given, shares = sum(weights), 0.0, []
    for hour, weight in zip(hours, weights, strict=True):
        before = round(given)
        given += rows * weight / total
        shares.append((hour, round(given) - before))
    return [(hour, n) for hour, n in shares if n]


def _route(rng: random.Random, level: int, complexity: float) -> tuple[str, str]:
    if level >= 2:
        return "sensitive", rng.choice(("synth-smollm2", "synth-llama3-8b"))
    if complexity >= 0.6:
        return "complex", "synth-claude-zdr" if level == 1 else "synth-gpt-4o"
    if rng.random() < 0.12:  # the user picked a cloud model
        return "default", "synth-gpt-4o-mini" if level == 0 else "synth-claude-zdr"
    return "default", _pick(rng, ("synth-smollm2", "synth-llama3-8b"), (3, 4))


def _record(rng: random.Random, world: World, at: datetime, user_id: int, team_id: int) -> SynthRow:
    level = _pick(rng, range(4), (50, 80, 95, 100))
    complexity = round(min(1.0, rng.betavariate(1.6, 4.0)), 3)
    rule_id, model_name = _route(rng, level, complexity)
    status, error_type = "ok", ""
    roll = rng.random()
    for failure_status, code, share in FAILURES:
        if roll < share:
            status, error_type = failure_status, code
            break
        roll -= share
    prompt = max(5, int(rng.lognormvariate(5.3, 1.0)))
    record = SynthRow(
        created_at=at,
        source="chat" if rng.random() < 0.4 else "api",
        user_id=user_id,
        team_id=team_id,
        requested_model="auto" if rng.random() < 0.85 else model_name,
        route_reasons=_json((f"{LEVELS[level]} data", RULES[rule_id])),
        policy_version=1,
        rule_id=rule_id,
        rule_name=RULES[rule_id],
        level=level,
        level_name=LEVELS[level],
        found_level=level,
        floor_level=0,
        findings=_IBAN_FINDING if level >= 2 else "[]",
        complexity=complexity,
        complexity_features=f'{{"length": {round(min(1.0, prompt / 4000), 3)!r}}}',  # JSON
        estimated_tokens=prompt,
        stream=rng.random() < 0.7,
        status=status,
        error_type=error_type,
    )
    if status == "rejected":
        record.latency_ms = rng.randint(1, 15)
        return record
    _answer(rng, world, record, model_name, prompt)
    return record


def _answer(
    rng: random.Random, world: World, record: SynthRow, model_name: str, prompt: int
) -> None:
    model, (_, _, zone, _, _, speed, (ttft_low, ttft_high)) = world.models[model_name]
    completion = max(1, int(rng.lognormvariate(5.0, 0.8)))
    if record.status != "ok":
        completion = rng.randint(0, completion // 4)
    ttft = int(rng.triangular(ttft_low, ttft_high, ttft_low * 1.5))
    rate = speed * rng.uniform(0.7, 1.2)
    record.model_id, record.model_name = model.pk, model.name
    record.provider_id, record.provider_name = model.provider_id, model.provider.name
    record.privacy_zone = zone
    record.prompt_tokens, record.completion_tokens = prompt, completion
    price = prompt * model.input_price_per_mtok + completion * model.output_price_per_mtok
    record.cost_micros = -(-price // 1_000_000)
    record.ttft_ms = ttft if completion else None
    record.latency_ms = ttft + math.ceil(completion * 1000 / rate)
    record.finish_reason = "stop" if record.status == "ok" else ""


def _asked_again(rng: random.Random, world: World, local: SynthRow) -> SynthRow:
    """The same question again a few minutes later, this time on a cloud model."""
    again = _record(rng, world, local.created_at + timedelta(minutes=rng.randint(1, 8)),
                    local.user_id or 0, local.team_id or 0)  # fmt: skip
    again.source, again.status, again.error_type = "chat", "ok", ""
    again.estimated_tokens = local.estimated_tokens
    _answer(rng, world, again, "synth-gpt-4o-mini", local.estimated_tokens)
    return again


def _feedback(rng: random.Random, world: World, record: SynthRow) -> list[Message]:
    roll = rng.random()
    if roll > 0.05:
        return []
    local = record.privacy_zone == "on_prem"
    down = roll < (0.02 if local else 0.01)
    return [
        Message(
            conversation_id=world.conversations[record.user_id or 0],
            role=Message.Role.ASSISTANT,
            content="(synthetic answer)",
            route={"local": local, "model": record.model_name, "level": record.level_name},
            feedback=-1 if down else 1,
            created_at=record.created_at,
        )
    ]
