"""Rebuild the rollups from the ledger: once after installing the analytics
app on an existing ledger, or to check them (``--check`` compares without
writing). Run it while no requests are being recorded. Every row it counts
is marked folded (by id, in the same transaction), so the background fold
(apps/analytics/fold.py) does not count it again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from apps.analytics.fold import rollups_refresh
from apps.analytics.models import (
    AskedAgain,
    BreakdownRollup,
    LastChatRequest,
    ModelRollup,
    StayLocalCandidate,
    TeamBreakdownRollup,
    TeamRollup,
    UsageRollup,
)
from apps.analytics.services import rollups_add
from apps.gateway.models import UsageRecord

ROLLUPS = (
    UsageRollup, TeamRollup, ModelRollup, BreakdownRollup, TeamBreakdownRollup, StayLocalCandidate,
    AskedAgain, LastChatRequest,
)  # fmt: skip


class Command(BaseCommand):
    help = "Recompute the analytics rollups from the usage ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=10_000)
        parser.add_argument("--check", action="store_true", help="Only compare totals.")

    def handle(self, *args: Any, batch: int, check: bool, **options: Any) -> None:
        if check:
            self._check()
            return
        with transaction.atomic():
            for model in ROLLUPS:
                model.objects.all().delete()
            # In time order, as the request path records them (which request
            # follows which matters to the "asked again" signal).
            rows = UsageRecord.objects.order_by("created_at", "pk").iterator(chunk_size=batch)
            chunk: list[UsageRecord] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == batch:
                    _add(chunk)
                    chunk = []
            _add(chunk)
            # One stamp at commit time: /metrics (ClosedDays) looks for closed
            # days' rows written since its last scrape; rows stamped when this
            # long transaction began would look older than that.
            TeamRollup.objects.update(updated_at=timezone.now())
        self._check()

    def _check(self) -> None:
        rollups_refresh()
        ledger = UsageRecord.objects.aggregate(n=Count("pk"), cost=Sum("cost_micros"))
        want = (ledger["n"] or 0, ledger["cost"] or 0)
        line = f"ledger {want[0]} requests, {want[1]} µ$"
        for model in (TeamRollup, ModelRollup):
            rollup = model.objects.aggregate(n=Sum("requests"), cost=Sum("cost_micros"))
            got = (rollup["n"] or 0, rollup["cost"] or 0)
            line += f"; {model._meta.verbose_name} {got[0]} requests, {got[1]} µ$"
            if got != want:
                raise CommandError("Rollups disagree with the ledger: " + line)
        self.stdout.write(self.style.SUCCESS("Rollups agree with the ledger: " + line))


def _add(rows: list[UsageRecord]) -> None:
    rollups_add(records=rows)
    UsageRecord.objects.filter(pk__in=[row.pk for row in rows]).update(folded=True)
