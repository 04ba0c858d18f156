"""The budget management API: roles, admin-scoped keys, sessions, one error body."""

import pytest
from django.test import Client

from apps.accounts.services import api_key_create
from apps.budgets.models import Budget

from .conftest import set_budget


@pytest.fixture
def admin_key(admin_user, team):
    from apps.accounts.models import Membership

    Membership.objects.create(user=admin_user, team=team)
    return api_key_create(user=admin_user, team=team, name="ops", scope="admin").secret


def bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_an_admin_key_creates_reads_updates_and_deletes(admin_key, team):
    client = Client()
    body = {"scope": "team", "team": "eng", "limit_usd": "10", "period": "day"}
    created = client.post(
        "/v1/budgets/", body, content_type="application/json", **bearer(admin_key)
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["name"], data["limit_micros"], data["spent_micros"]) == (
        "team eng budget",
        10_000_000,
        0,
    )
    assert data["resets_at"]
    again = client.post("/v1/budgets/", body, content_type="application/json", **bearer(admin_key))
    assert again.status_code == 409 and again.json()["error"]["message"]
    url = f"/v1/budgets/{data['id']}"
    changed = client.patch(url, {"limit_usd": "12.5", "on_limit": "downgrade"},
                           content_type="application/json", **bearer(admin_key))  # fmt: skip
    assert changed.json()["limit_micros"] == 12_500_000
    assert changed.json()["on_limit"] == "downgrade"
    listed = client.get("/v1/budgets/", **bearer(admin_key)).json()
    assert [b["id"] for b in listed] == [data["id"]]
    topped = client.post(f"{url}/top-ups", {"amount_usd": "1", "reason": "launch"},
                         content_type="application/json", **bearer(admin_key))  # fmt: skip
    assert topped.json()["allowance_micros"] == 13_500_000
    assert client.delete(url, **bearer(admin_key)).status_code == 204
    assert not Budget.objects.exists()


def test_an_inference_key_may_not_manage_budgets(member):
    response = Client().get("/v1/budgets/", **bearer(member.key))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_team_admin_session_manages_user_budgets_in_their_team_only(team_admin, member, team):
    client = Client()
    client.force_login(team_admin.user)
    user_budget = {
        "scope": "user",
        "team": "eng",
        "user": "mia",
        "limit_usd": "2",
        "period": "week",
    }
    created = client.post("/v1/budgets/", user_budget, content_type="application/json")
    assert created.status_code == 201, created.content
    team_budget = {"scope": "team", "team": "eng", "limit_usd": "2", "period": "week"}
    refused = client.post("/v1/budgets/", team_budget, content_type="application/json")
    assert refused.status_code == 403
    assert set(refused.json()["error"]) == {"message", "type", "param", "code"}


def test_members_see_no_budgets_and_change_none(member, team):
    budget = set_budget(team=team, limit=1)
    client = Client()
    client.force_login(member.user)
    assert client.get("/v1/budgets/").json() == []
    assert client.get(f"/v1/budgets/{budget.code}").status_code == 404


def test_bad_input_gets_a_clear_400(admin_key, team):
    client = Client()
    for body, expected in (
        ({"scope": "team", "team": "eng", "limit_usd": "-1"}, "limit_usd"),
        ({"scope": "galaxy", "limit_usd": "1"}, "scope"),
        ({"scope": "team", "team": "nope", "limit_usd": "1"}, "No team"),
        ({"scope": "user", "team": "eng", "user": "ghost", "limit_usd": "1"}, "No user"),
    ):
        response = client.post("/v1/budgets/", body, content_type="application/json",
                               **bearer(admin_key))  # fmt: skip
        assert response.status_code == 400, (body, response.content)
        assert expected in response.json()["error"]["message"]


def test_without_credentials_the_answer_is_401(db):
    assert Client().get("/v1/budgets/").status_code == 401


def test_the_budgets_router_is_in_the_openapi_docs(db):
    schema = Client().get("/v1/openapi.json").json()
    assert "/v1/budgets/" in schema["paths"] and "/v1/chat/completions" in schema["paths"]


def test_an_override_lets_requests_past_the_limit_and_is_audited(
    admin_key, admin_user, member, team
):
    from datetime import timedelta

    from django.utils import timezone

    from apps.budgets.errors import BudgetExceeded
    from apps.budgets.models import BudgetEvent
    from apps.budgets.selectors import Who
    from apps.budgets.services import budget_reserve

    budget = set_budget(team=team, limit=100)
    who = Who(team.pk, member.user.pk)
    with pytest.raises(BudgetExceeded):
        budget_reserve(who=who, amount_micros=500, local=False)
    client, url = Client(), f"/v1/budgets/{budget.code}/overrides"
    until = (timezone.now() + timedelta(hours=2)).isoformat()
    no_reason = client.post(url, {"until": until}, content_type="application/json",
                            **bearer(admin_key))  # fmt: skip
    assert no_reason.status_code == 400 and no_reason.json()["error"]["message"]
    done = client.post(url, {"until": until, "reason": "board demo"},
                       content_type="application/json", **bearer(admin_key))  # fmt: skip
    assert done.status_code == 200, done.content
    assert done.json()["override_until"]
    budget_reserve(who=who, amount_micros=500, local=False)  # passes now
    event = BudgetEvent.objects.get(kind="override")
    assert (event.actor, event.reason) == (admin_user, "board demo")
    ended = client.post(url, {"until": None, "reason": "demo over"},
                        content_type="application/json", **bearer(admin_key))  # fmt: skip
    assert ended.json()["override_until"] is None
    with pytest.raises(BudgetExceeded):
        budget_reserve(who=who, amount_micros=500, local=False)
