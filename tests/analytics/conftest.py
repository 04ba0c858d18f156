"""A known ledger: a handful of rows across two teams, written the way the
gateway writes them: ledger rows only, not yet folded into the rollups, so
every page, export and scrape in these tests folds them first, as a reader
right after a request does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.analytics.management.commands.ledger_synthesize import own_timestamps
from apps.analytics.metrics import CLOSED_DAYS
from apps.gateway.models import UsageRecord
from apps.providers.models import LanguageModel, PrivacyZone, Provider

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_metrics_cache() -> None:
    """/metrics keeps the closed days' sums per process; each test's database
    is rolled back, so no test may see another's sums."""
    CLOSED_DAYS.clear()


def record(**fields: Any) -> UsageRecord:
    """Write one ledger row, unfolded, at ``created_at`` (default: today)."""
    at = fields.pop("created_at", NOW)
    fields.setdefault("requested_model", "auto")
    fields.setdefault("status", UsageRecord.Status.OK)
    with own_timestamps(UsageRecord._meta.get_field("created_at")):
        return UsageRecord.objects.create(created_at=at, **fields)


def local(**fields: Any) -> dict[str, Any]:
    return {"model_name": "tiny", "provider_name": "local-ct", "privacy_zone": "on_prem"} | fields


def cloud(**fields: Any) -> dict[str, Any]:
    return {
        "model_name": "cloud-mini",
        "provider_name": "mockai",
        "privacy_zone": "vendor",
    } | fields


@dataclass
class Known:
    rows: list[UsageRecord]
    staff: User

    def total(self, *, team_id: int | None = None, user_id: int | None = None) -> dict[str, int]:
        rows = [
            r for r in self.rows if team_id in (None, r.team_id) and user_id in (None, r.user_id)
        ]
        return {
            "requests": len(rows),
            "cost": sum(r.cost_micros for r in rows),
            "prompt": sum(r.prompt_tokens for r in rows),
        }


@pytest.fixture
def known(member, team_admin, outsider) -> Known:
    staff = User.objects.create_user("root", "root@example.com", "pw-root", is_staff=True)
    vendor = Provider.objects.create(
        name="mockai", kind=Provider.Kind.OPENAI_COMPATIBLE, privacy_zone=PrivacyZone.VENDOR,
        base_url="http://127.0.0.1:9/v1", api_key_env="MOCKAI_API_KEY",
    )  # fmt: skip
    LanguageModel.objects.create(
        provider=vendor, name="big-cloud", upstream_id="big",
        input_price_per_mtok=10_000_000, output_price_per_mtok=30_000_000,
    )  # fmt: skip
    eng, legal = member.team.pk, outsider.team.pk
    day = timedelta(days=1)
    rows = [
        record(user=member.user, team_id=eng, **local(level=0, level_name="public"),
               prompt_tokens=100, completion_tokens=50, latency_ms=400, ttft_ms=120,
               rule_name="Everything else runs locally", source="chat"),
        record(user=member.user, team_id=eng, **cloud(level=0, level_name="public"),
               prompt_tokens=200, completion_tokens=100, cost_micros=90, latency_ms=900,
               ttft_ms=300, complexity=0.1, estimated_tokens=200,
               rule_name="Everything else runs locally", created_at=NOW - 2 * day),
        record(user=team_admin.user, team_id=eng, **cloud(level=1, level_name="internal"),
               prompt_tokens=1000, completion_tokens=400, cost_micros=390, latency_ms=2500,
               ttft_ms=700, complexity=0.8, estimated_tokens=1000,
               rule_name="Complex requests go to a cloud model", created_at=NOW - 3 * day),
        record(user=team_admin.user, team_id=eng, status=UsageRecord.Status.REJECTED,
               error_type="blocked_by_policy", level=3, level_name="restricted",
               rule_name="Block secrets", latency_ms=3),
        record(user=outsider.user, team_id=legal, **cloud(level=0, level_name="public"),
               prompt_tokens=5000, completion_tokens=1000, cost_micros=1350, latency_ms=4000,
               ttft_ms=900, rule_name="Everything else runs locally", created_at=NOW - day),
        record(user=outsider.user, team_id=legal, **local(level=2, level_name="confidential"),
               status=UsageRecord.Status.ERROR, error_type="model_busy", latency_ms=30000,
               rule_name="Sensitive data stays on-prem"),
    ]  # fmt: skip
    return Known(rows=rows, staff=staff)
