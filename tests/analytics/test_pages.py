"""The analytics pages, their CSV exports and the management API agree with
the ledger, and each viewer sees only what their role allows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.analytics.fold import rollups_refresh
from apps.analytics.selectors import usd
from apps.gateway.models import UsageRecord
from tests.analytics.conftest import NOW, cloud, record

# every row of the fixture
RANGE = {"start": (NOW - timedelta(days=30)).date().isoformat(), "end": NOW.date().isoformat()}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def _dollars(micros: int) -> Decimal:
    return Decimal(usd(micros))


def _chart(response, chart_id):
    return next(c for c in response.context["charts"] if c["id"] == chart_id)


def test_dashboard_chart_table_csv_and_api_agree_with_the_ledger(known):
    client = logged_in(known.staff)
    expected = known.total()
    page = client.get("/analytics/", RANGE)
    assert page.status_code == 200
    tables = {t.name: t for t in page.context["tables"]}

    spend = tables["spend_route"]
    assert spend.totals[-1] == expected["cost"]
    chart = _chart(page, "chart-spend_route")
    charted = sum(sum(dataset["data"]) for dataset in chart["datasets"])
    assert round(charted * 1_000_000) == expected["cost"]
    assert tables["requests"].totals[1] == expected["requests"]
    assert tables["requests"].totals[2] == expected["prompt"]
    assert tables["routing"].totals[1] == expected["requests"]
    assert tables["rules"].totals[1] == expected["requests"]
    assert tables["spend_model"].totals[-1] == expected["cost"]
    assert {row[0]: row[-1] for row in tables["errors"].rows} == {
        "blocked_by_policy": 1, "model_busy": 1,
    }  # fmt: skip

    rows = _csv(client.get("/analytics/", {**RANGE, "format": "csv", "table": "spend_route"}))
    assert rows[0] == ["Period", "cloud", "local", "Total"]
    assert rows[-1][0] == "Total"
    assert _dollars(expected["cost"]) == Decimal(rows[-1][-1])
    assert sum(Decimal(r[-1]) for r in rows[1:-1]) == Decimal(rows[-1][-1])

    api = client.get("/api/v1/analytics/spend_route", RANGE)
    assert api.status_code == 200
    body = api.json()
    assert body["totals"][-1] == expected["cost"] and body["money_columns"] == [1, 2, 3]
    assert body["freshness"] is not None


def test_freshness_and_savings_against_the_reference_model(known):
    page = logged_in(known.staff).get("/analytics/", RANGE)
    assert b"Rollups last updated" in page.content
    savings = {t.name: t for t in page.context["tables"]}["savings"]
    assert "big-cloud" in savings.title
    # 10 $/M in, 30 $/M out on every routed row's tokens
    rows = [r for r in known.rows if r.model_name]
    reference = sum(-(-(r.prompt_tokens * 10_000_000 + r.completion_tokens * 30_000_000) // 10**6)
                    for r in rows)  # fmt: skip
    # per team and month, rounded up per group: never less than the row-wise sum's floor
    assert savings.totals[3] == known.total()["cost"]
    assert abs(savings.totals[4] - reference) <= len(rows)
    assert savings.totals[5] == savings.totals[4] - savings.totals[3]


def test_team_admin_sees_only_their_teams(known, team_admin, outsider):
    client = logged_in(team_admin.user)
    page = client.get("/analytics/", RANGE)
    tables = {t.name: t for t in page.context["tables"]}
    eng = known.total(team_id=team_admin.team.pk)
    assert tables["requests"].totals[1] == eng["requests"]
    assert tables["spend_route"].totals[-1] == eng["cost"]
    names = {row[0] for row in tables["users_spend"].rows}
    assert outsider.user.username not in names
    # asking for another team's numbers returns nothing of theirs
    other = client.get("/analytics/", {**RANGE, "team": outsider.team.pk})
    assert {t.name: t for t in other.context["tables"]}["requests"].totals[1] == eng["requests"]
    api = client.get("/api/v1/analytics/requests", {**RANGE, "user": outsider.user.pk})
    assert api.json()["totals"][1] == eng["requests"]  # an unknown user is ignored, scope holds


def test_members_see_only_their_own_numbers(known, member, outsider):
    client = logged_in(member.user)
    assert client.get("/analytics/").status_code == 403
    assert client.get("/analytics/review/").status_code == 403
    page = client.get("/analytics/me/", {**RANGE, "user": outsider.user.pk})
    tables = {t.name: t for t in page.context["tables"]}
    own = known.total(user_id=member.user.pk)
    assert tables["requests"].totals[1] == own["requests"] == 2
    assert tables["spend_route"].totals[-1] == own["cost"]
    # my requests by model (one local, one cloud), summing to all of mine
    assert [row[:3] for row in tables["models"].rows] == [
        ["cloud-mini", "Cloud", 1], ["tiny", "Local", 1],
    ]  # fmt: skip
    assert tables["models"].totals[2:] == [own["requests"], 450, own["cost"]]
    models_chart = _chart(page, "chart-models")
    assert models_chart["datasets"][0]["data"] == [1, 1]
    rows = _csv(client.get("/analytics/me/", {**RANGE, "format": "csv", "table": "requests"}))
    assert rows[-1][1] == str(own["requests"])


def test_api_by_key_follows_the_role_and_answers_errors_in_openai_shape(known, member, team_admin):
    as_member = Client(HTTP_AUTHORIZATION=f"Bearer {member.key}")
    denied = as_member.get("/api/v1/analytics/requests")
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "invalid_request_error"
    own = as_member.get("/api/v1/analytics/me/requests", RANGE).json()
    assert own["totals"][1] == known.total(user_id=member.user.pk)["requests"]

    as_admin = Client(HTTP_AUTHORIZATION=f"Bearer {team_admin.key}")
    body = as_admin.get("/api/v1/analytics/requests", RANGE).json()
    assert body["totals"][1] == known.total(team_id=team_admin.team.pk)["requests"]
    missing = as_admin.get("/api/v1/analytics/nonsense")
    assert missing.status_code == 404 and "one of" in missing.json()["error"]["message"]

    anonymous = Client().get("/api/v1/analytics/requests")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_api_key"
    wrong = Client(HTTP_AUTHORIZATION="Bearer hh_nope_nope").get("/api/v1/analytics/requests")
    assert wrong.status_code == 401


def test_bad_filters_and_unknown_tables_are_not_server_errors(known):
    client = logged_in(known.staff)
    hostile = {
        "start": "not-a-date", "end": "9" * 50, "bucket": "year", "team": "x",
        "user": "-1", "model": "\n" * 1000, "source": "fax", "reference": "''",
    }  # fmt: skip
    page = client.get("/analytics/", hostile)
    assert page.status_code == 200
    assert client.get("/analytics/", {"format": "csv", "table": "nope"}).status_code == 404
    assert client.get("/analytics/review/", {"week": "garbage"}).status_code == 200
    assert client.get("/analytics/review/not-a-uuid/").status_code == 404
    assert client.post("/analytics/").status_code == 405


@pytest.mark.parametrize("bucket", ["day", "week", "month"])
def test_buckets_keep_the_totals(known, bucket):
    page = logged_in(known.staff).get("/analytics/", {**RANGE, "bucket": bucket})
    tables = {t.name: t for t in page.context["tables"]}
    assert tables["requests"].totals[1] == known.total()["requests"]


def test_htmx_gets_the_results_fragment(known):
    page = logged_in(known.staff).get("/analytics/", RANGE, HTTP_HX_REQUEST="true")
    assert page.content.startswith(b'<div id="results"')
    assert b"<canvas" in page.content


@pytest.mark.parametrize("url", ["/analytics/", "/analytics/me/", "/analytics/review/"])
def test_queries_per_page_are_bounded(known, url, django_assert_max_num_queries):
    rollups_refresh()  # the first reader folds the known rows: a fixed dozen statements more
    client = logged_in(known.staff)
    with django_assert_max_num_queries(30):
        assert client.get(url, RANGE).status_code == 200


def test_query_count_does_not_grow_with_users(known, django_assert_max_num_queries):
    for n in range(15):
        user = User.objects.create_user(f"extra{n}")
        record(user=user, team_id=known.rows[0].team_id, cost_micros=n, **cloud())
    rollups_refresh()
    client = logged_in(known.staff)
    with django_assert_max_num_queries(30):
        client.get("/analytics/", RANGE)


def test_my_page_shows_what_is_left_of_my_budgets(member):
    from apps.budgets.services import BudgetTarget, budget_set

    client = logged_in(member.user)
    page = client.get("/analytics/me/").content.decode()
    assert "No budget set for you or Engineering" in page
    target = BudgetTarget(scope="team", team=member.team)
    budget_set(target=target, limit_micros=25_000_000, period="month", actor=None)
    page = client.get("/analytics/me/").content.decode()
    assert "Engineering" in page and "$25.00 left of $25.00" in page and "resets" in page


@pytest.mark.parametrize("url", ["/analytics/", "/analytics/me/", "/analytics/review/"])
def test_a_page_right_after_requests_folds_them_in_a_fixed_number_of_queries(
    known, url, django_assert_max_num_queries
):
    """The known rows are recorded, not folded: the page folds them first
    (one fold, a fixed number of statements however many rows) and shows
    them."""
    for n in range(30):
        record(user=known.staff, team_id=known.rows[0].team_id, cost_micros=n, **cloud())
    client = logged_in(known.staff)
    with django_assert_max_num_queries(30 + 20):
        assert client.get(url, RANGE).status_code == 200
    assert not UsageRecord.objects.filter(folded=False).exists()
