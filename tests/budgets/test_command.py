"""manage.py budget_set and budget_reconcile."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.budgets.models import Budget, BudgetEvent


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_budget_set_for_a_team_prints_its_state(team):
    out = run("budget_set", "--team", "eng", "--limit-usd", "25", "--period", "month")
    assert out.startswith("team eng budget: $0.00 spent, $0.00 reserved of $25.00 per month")
    assert "at the limit: block" in out and "resets at" in out
    budget = Budget.objects.get(scope="team")
    assert budget.limit_micros == 25_000_000
    assert BudgetEvent.objects.get().reason == "manage.py budget_set"


def test_budget_set_for_a_user_and_a_key(team, member):
    out = run("budget_set", "--team", "eng", "--user", "mia", "--limit-usd", "0.5",
              "--period", "day", "--on-limit", "downgrade")  # fmt: skip
    assert "budget of mia in team eng" in out and "at the limit: downgrade" in out
    prefix = member.user.api_keys.get().prefix
    out = run("budget_set", "--team", "eng", "--key", prefix, "--limit-usd", "1",
              "--period", "none")  # fmt: skip
    assert f"budget of key {prefix}" in out and "never resets" in out
    run("budget_set", "--team", "eng", "--user", "mia", "--limit-usd", "2", "--period", "day")
    assert Budget.objects.get(scope="user").limit_micros == 2_000_000  # updated, not duplicated


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "nope"], "No team 'nope'"),
        (["--team", "eng", "--user", "ghost"], "No user 'ghost'"),
        (["--team", "eng", "--key", "ffffffff"], "No API key 'ffffffff'"),
    ],
)
def test_budget_set_says_what_is_wrong(team, args, message):
    with pytest.raises(CommandError, match=message):
        run("budget_set", *args, "--limit-usd", "1", "--period", "day")


@pytest.mark.parametrize("amount", ["abc", "-1", "NaN", "1e99"])
def test_budget_set_refuses_bad_amounts(team, amount):
    with pytest.raises(CommandError, match="limit-usd"):
        run("budget_set", "--team", "eng", "--limit-usd", amount, "--period", "day")


def test_budget_reconcile_prints_every_budget(team):
    run("budget_set", "--team", "eng", "--limit-usd", "3", "--period", "week")
    out = run("budget_reconcile")
    assert "Released 0 stale reservation(s)." in out and "team eng budget" in out


def test_create_api_key_takes_scope_expiry_and_rate_limits(member):
    secret = run("create_api_key", "--user", "mia", "--team", "eng", "--scope", "admin",
                 "--expires-days", "7", "--rpm", "60", "--tpm", "10000").strip()  # fmt: skip
    key = member.user.api_keys.get(prefix=secret.split("_")[1])
    assert (key.scope, key.rpm_limit, key.tpm_limit) == ("admin", 60, 10000)
    assert key.expires_at is not None and not key.is_expired
