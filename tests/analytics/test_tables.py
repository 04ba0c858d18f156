"""Every dashboard table: its chart, its CSV export and its API answer carry
the same totals; each filter narrows the numbers to the ledger rows it names;
savings follow the reference model the admin picks; local speed, feedback
and error kinds read right."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client

from apps.analytics.reports import DASHBOARD_TABLES
from apps.analytics.selectors import error_kind, usd
from apps.chat.models import Conversation, Message
from apps.providers.models import LanguageModel, Provider
from tests.analytics.conftest import NOW, cloud, record
from tests.analytics.test_pages import RANGE, logged_in


@pytest.fixture
def rated(known, member, outsider):
    """Thumbs on chat answers: two up and one down locally, one down in the cloud."""
    mine = Conversation.objects.create(user=member.user, team=member.team)
    theirs = Conversation.objects.create(user=outsider.user, team=outsider.team)
    for conversation, local, model, feedback in (
        (mine, True, "tiny", 1), (mine, True, "tiny", 1), (mine, True, "tiny", -1),
        (theirs, False, "cloud-mini", -1), (theirs, False, "cloud-mini", 0),
    ):  # fmt: skip
        route = {"local": local, "model": model, "level": "public"}
        Message.objects.create(
            conversation=conversation, role="assistant", feedback=feedback, route=route
        )
    return known


def _csv_totals(client: Client, name: str) -> list[str]:
    response = client.get("/analytics/", {**RANGE, "format": "csv", "table": name})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[-1][0] == "Total"
    return rows[-1]


def _charted(page, table) -> dict[int, float]:
    """Column index → the sum a chart of this table draws of it."""
    found: dict[int, float] = {}
    for chart in page.context["charts"]:
        if chart["id"] != f"chart-{table.name}":
            continue  # latency lines plot percentiles, not sums
        for dataset in chart["datasets"]:
            column = table.columns.index(dataset["label"])
            found[column] = sum(value or 0 for value in dataset["data"])
    return found


@pytest.mark.parametrize("name", DASHBOARD_TABLES)
def test_chart_csv_and_api_totals_agree_for_every_table(rated, name):
    client = logged_in(rated.staff)
    page = client.get("/analytics/", RANGE)
    table = {t.name: t for t in page.context["tables"]}[name]
    assert table.rows, f"the fixture leaves {name} empty"
    totals = table.totals

    expected_csv = [
        usd(cell) if i in table.money and isinstance(cell, int) else str(cell)
        for i, cell in enumerate(totals)
    ]
    assert _csv_totals(client, name) == expected_csv

    api = client.get(f"/api/v1/analytics/{name}", RANGE).json()
    assert api["totals"] == totals and api["rows"] == table.rows

    for column, drawn in _charted(page, table).items():
        if column in table.summed:
            scale = 1_000_000 if column in table.money else 1
            assert round(drawn * scale) == totals[column], (name, table.columns[column])
    if name in ("spend_route", "spend_model"):  # stacked: every series adds to the total
        assert round(sum(_charted(page, table).values()) * 1_000_000) == totals[-1]


def _requests(client: Client, **filters: object) -> int:
    page = client.get("/analytics/", {**RANGE, **filters})
    total: int = {t.name: t for t in page.context["tables"]}["requests"].totals[1]
    return total


def test_each_filter_keeps_only_the_rows_it_names(known, member, outsider):
    client = logged_in(known.staff)
    rows = known.rows

    def count(keep) -> int:
        return sum(1 for r in rows if keep(r))

    assert _requests(client) == len(rows)
    theirs = outsider.team.pk
    assert _requests(client, team=theirs) == count(lambda r: r.team_id == theirs)
    assert _requests(client, user=member.user.pk) == count(lambda r: r.user_id == member.user.pk)
    assert _requests(client, model="cloud-mini") == count(lambda r: r.model_name == "cloud-mini")
    assert _requests(client, provider="local-ct") == count(lambda r: r.provider_name == "local-ct")
    assert _requests(client, level="public") == count(lambda r: r.level_name == "public")
    assert _requests(client, source="chat") == count(lambda r: r.source == "chat") == 1
    assert _requests(client, source="api", model="cloud-mini", level="public") == count(
        lambda r: r.source == "api" and r.model_name == "cloud-mini" and r.level_name == "public"
    )


def test_savings_follow_the_reference_model_the_admin_picks(known):
    cheap = LanguageModel.objects.create(
        provider=Provider.objects.get(name="mockai"), name="cheap-cloud", upstream_id="cheap",
        input_price_per_mtok=100_000, output_price_per_mtok=200_000,
    )  # fmt: skip
    client = logged_in(known.staff)
    page = client.get("/analytics/", {**RANGE, "reference": cheap.pk})
    savings = {t.name: t for t in page.context["tables"]}["savings"]
    assert "cheap-cloud" in savings.title
    routed = [r for r in known.rows if r.model_name]
    by_group: dict[tuple, list[int]] = {}
    for r in routed:  # priced per team and month, as the table groups them
        into = by_group.setdefault((r.team_id, r.created_at.strftime("%Y-%m")), [0, 0])
        into[0] += r.prompt_tokens
        into[1] += r.completion_tokens
    at_cheap = sum(-(-(p * 100_000 + c * 200_000) // 10**6) for p, c in by_group.values())
    assert savings.totals[4] == at_cheap
    assert savings.totals[5] == at_cheap - sum(r.cost_micros for r in routed)  # negative: a loss
    api = client.get("/api/v1/analytics/savings", {**RANGE, "reference": cheap.pk}).json()
    assert api["totals"] == savings.totals and "cheap-cloud" in api["title"]


def test_local_tokens_per_second_come_from_the_time_after_the_first_token(known):
    page = logged_in(known.staff).get("/analytics/", RANGE)
    speed = {t.name: t for t in page.context["tables"]}["speed"]
    # the one answered local row: 50 tokens in 400 - 120 ms; the failed one counts nothing
    assert speed.rows == [["tiny", 1, 50, 0.3, round(50 * 1000 / 280, 1)]]


def test_feedback_by_route_and_model(rated):
    page = logged_in(rated.staff).get("/analytics/", RANGE)
    feedback = {t.name: t for t in page.context["tables"]}["feedback"]
    assert sorted(feedback.rows) == [["cloud", "cloud-mini", 0, 1], ["local", "tiny", 2, 1]]
    api_only = logged_in(rated.staff).get("/analytics/", {**RANGE, "source": "api"})
    assert {t.name: t for t in api_only.context["tables"]}["feedback"].rows == []


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("upstream_timeout", "provider error"), ("upstream_rate_limited", "provider error"),
        ("blocked_by_policy", "policy block"), ("budget_exceeded", "budget"),
        ("model_busy", "queue full"), ("egress_refused", "egress refusal"),
        ("client_disconnected", "client gone"), ("something_new", "other"),
    ],
)  # fmt: skip
def test_error_codes_fall_into_the_kinds_an_admin_reads(code, kind):
    assert error_kind(code) == kind


def test_csv_money_is_exact_dollars():
    assert [usd(n) for n in (0, 1, 1_000_000, 1_234_567, -5)] == [
        "0.000000", "0.000001", "1.000000", "1.234567", "-0.000005",
    ]  # fmt: skip
    assert Decimal(usd(10**15 + 1)) == Decimal("1000000000.000001")


def test_latency_percentiles_per_model_come_from_the_histograms(known):
    """Today's two rows on the local model: 400 ms (350-500 bucket) and a
    30 s failure (20-30 s bucket), one first token at 120 ms (100-200)."""
    page = logged_in(known.staff).get("/analytics/", RANGE)
    latency = {t.name: t for t in page.context["tables"]}["latency"]
    today = [row for row in latency.rows if row[0] == NOW.date().isoformat()]
    tiny = next(row for row in today if row[1] == "tiny")
    # requests, p50, p95, p99, TTFT p50, p95, p99 (interpolated inside buckets)
    assert tiny[2:] == [2, 500, 29000, 29800, 150, 195, 199]
    assert latency.totals[2] == sum(1 for r in known.rows if r.model_name)


@pytest.mark.parametrize("name", ["stay_local", "changes", "rules", "spend_route"])
def test_review_tables_export_the_totals_they_show(known, member, name):
    # a request that could have stayed local, this week whatever the weekday
    record(user=member.user, team_id=member.team.pk, level=0, level_name="public",
           complexity=0.05, estimated_tokens=30, prompt_tokens=30, completion_tokens=20,
           cost_micros=555, **cloud())  # fmt: skip
    week = {"week": NOW.date().isoformat()}
    client = logged_in(known.staff)
    page = client.get("/analytics/review/", week)
    table = {t.name: t for t in page.context["tables"]}[name]
    assert table.rows
    response = client.get("/analytics/review/", {**week, "format": "csv", "table": name})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) == len(table.rows) + 2  # header, rows, totals
    assert rows[-1] == [
        usd(cell) if i in table.money and isinstance(cell, int) else str(cell)
        for i, cell in enumerate(table.totals)
    ]
    api = client.get(f"/api/v1/analytics/review/{name}", week).json()
    assert api["totals"] == table.totals and api["rows"] == table.rows
