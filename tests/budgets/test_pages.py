"""The console's budgets page and the chat sidebar's budget box."""

import pytest
from django.test import Client

from apps.budgets.models import Budget, BudgetEvent

from .conftest import set_budget


def login(persona_user):
    client = Client()
    client.force_login(persona_user)
    return client


def test_org_admins_see_every_budget_with_spent_reserved_limit_and_reset(admin_user, team):
    budget = set_budget(team=team, limit=5_000_000, period="week")
    Budget.objects.filter(pk=budget.pk).update(spent_micros=1_250_000, reserved_micros=250_000)
    page = login(admin_user).get("/budgets/").content.decode()
    assert "Team eng budget" in page
    assert "$1.25" in page and "$0.25" in page and "$5.00" in page
    assert "resets at" in page and "at the last 7 days" in page


def test_org_admins_set_a_team_budget_in_the_browser(admin_user, team):
    response = login(admin_user).post("/budgets/save/", {
        "scope": "team", "team": team.pk, "limit_usd": "12.5", "period": "month",
        "on_limit": "downgrade", "warn_percent": 75, "local_open": "on", "reason": "Q3",
    })  # fmt: skip
    assert response.status_code == 302
    budget = Budget.objects.get()
    assert (budget.limit_micros, budget.on_limit, budget.warn_percent) == (
        12_500_000,
        "downgrade",
        75,
    )
    assert BudgetEvent.objects.get().actor == admin_user


def test_team_admins_set_user_budgets_but_not_their_teams(team_admin, member, team):
    client = login(team_admin.user)
    form = {"scope": "team", "team": team.pk, "limit_usd": "1", "period": "day",
            "on_limit": "block", "warn_percent": 80}  # fmt: skip
    assert client.post("/budgets/save/", form).status_code == 403
    form |= {"scope": "user", "username": "mia"}
    assert client.post("/budgets/save/", form).status_code == 302
    assert Budget.objects.get().user == member.user


def test_team_admins_see_only_their_teams(team_admin, outsider, team):
    set_budget(team=outsider.team, limit=1)
    set_budget("user", team=team, user=team_admin.user, limit=1)
    page = login(team_admin.user).get("/budgets/").content.decode()
    assert "budget of ada in team eng" in page and "legal" not in page


def test_members_may_not_open_the_budgets_page(member):
    assert login(member.user).get("/budgets/").status_code == 403


def test_a_bad_form_is_shown_again_with_its_errors(admin_user, team):
    response = login(admin_user).post("/budgets/save/", {
        "scope": "user", "team": team.pk, "username": "nobody", "limit_usd": "-3",
        "period": "day", "on_limit": "block", "warn_percent": 80,
    })  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200 and "errorlist" in page
    assert not Budget.objects.exists()


def test_top_ups_need_a_reason_and_are_logged(admin_user, team):
    budget = set_budget(team=team, limit=1_000_000)
    client = login(admin_user)
    client.post(f"/budgets/{budget.code}/top-up/", {"amount_usd": "2", "reason": ""})
    assert not BudgetEvent.objects.filter(kind="top_up").exists()
    client.post(f"/budgets/{budget.code}/top-up/", {"amount_usd": "2", "reason": "demo day"})
    budget.refresh_from_db()
    assert budget.extra_micros == 2_000_000
    assert BudgetEvent.objects.get(kind="top_up").reason == "demo day"


@pytest.mark.parametrize("used", [0.5, 0.85, 1.0])
def test_the_chat_sidebar_shows_my_budgets(member, team, used):
    budget = set_budget(team=team, limit=2_000_000, period="day")
    Budget.objects.filter(pk=budget.pk).update(spent_micros=int(2_000_000 * used))
    page = login(member.user).get(f"/budgets/sidebar/?team={team.pk}").content.decode()
    assert "Team eng budget" in page and "resets" in page
    assert ("is 85% used" in page) == (used == 0.85)
    assert ("is used up" in page) == (used == 1.0)


def test_the_chat_page_includes_the_budget_box(member, team):
    set_budget(team=team, limit=2_000_000)
    page = login(member.user).get("/chat/").content.decode()
    assert 'id="budget"' in page and "$2.00" in page


def test_the_sidebar_shows_nothing_for_a_team_i_am_not_in(member, outsider):
    set_budget(team=outsider.team, limit=1)
    page = login(member.user).get(f"/budgets/sidebar/?team={outsider.team.pk}").content.decode()
    assert "legal" not in page and "No budget set" in page


def test_the_console_sets_an_override_with_a_reason_and_logs_it(admin_user, team):
    budget = set_budget(team=team, limit=1_000_000)
    client = login(admin_user)
    page = client.get("/budgets/").content.decode()
    assert f"/budgets/{budget.code}/override/" in page
    client.post(f"/budgets/{budget.code}/override/", {"until": "2099-01-01T09:00", "reason": ""})
    budget.refresh_from_db()
    assert budget.override_until is None
    client.post(
        f"/budgets/{budget.code}/override/", {"until": "2099-01-01T09:00", "reason": "launch week"}
    )
    budget.refresh_from_db()
    assert budget.override_until is not None and budget.override_until.year == 2099
    assert BudgetEvent.objects.get(kind="override").reason == "launch week"
    assert "overridden until 2099-01-01" in client.get("/budgets/").content.decode()


def test_a_team_admin_cannot_override_the_org_budget(team_admin):
    budget = set_budget("org", limit=1_000)
    response = login(team_admin.user).post(
        f"/budgets/{budget.code}/override/", {"until": "2099-01-01T09:00", "reason": "please"}
    )
    assert response.status_code in (403, 404)
    budget.refresh_from_db()
    assert budget.override_until is None


def test_the_keys_page_shows_each_keys_budget_and_limits(
    member, team, django_assert_max_num_queries
):
    from apps.accounts.models import ApiKey
    from apps.accounts.services import api_key_create

    key = ApiKey.objects.get(user=member.user)
    ApiKey.objects.filter(pk=key.pk).update(rpm_limit=30)
    other = api_key_create(user=member.user, team=team, name="spare")
    assert other
    budget = set_budget("key", team=team, api_key=key, limit=5_000_000, period="week")
    Budget.objects.filter(pk=budget.pk).update(spent_micros=1_250_000)
    client = login(member.user)
    page = client.get("/chat/keys/").content.decode()
    assert "budget $1.25 of $5.00 per week" in page and "resets at" in page
    assert "30 requests/min" in page
    assert page.count("budget $") == 1  # the spare key has none
    for _ in range(3):
        api_key_create(user=member.user, team=team, name="more")
    with django_assert_max_num_queries(12):  # one budget query for every key
        client.get("/chat/keys/")


def test_the_admin_shows_budgets_and_their_log_read_only(admin_user, team):
    budget = set_budget(team=team, limit=1_000)
    event = BudgetEvent.objects.get(budget=budget)
    client = login(admin_user)
    assert client.get("/admin/budgets/budgetevent/").status_code == 200
    page = client.get(f"/admin/budgets/budgetevent/{event.pk}/change/").content.decode()
    assert 'name="reason"' not in page  # shown, not editable
    assert (
        client.post(f"/admin/budgets/budgetevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    client.post(f"/admin/budgets/budget/{budget.pk}/change/", {"limit_micros": "9"})
    budget.refresh_from_db()
    assert budget.limit_micros == 1_000 and BudgetEvent.objects.filter(pk=event.pk).exists()
