"""Reserve → settle, periods, expiry and reconciliation against real SQLite."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.budgets.errors import BudgetExceeded, RateLimited
from apps.budgets.leases import leases_held
from apps.budgets.models import Budget, BudgetEvent, Reservation
from apps.budgets.ratelimit import rate_admit
from apps.budgets.selectors import (
    Who,
    budget_may_edit,
    budget_signal,
    budget_state,
    budgets_applicable_now,
)
from apps.budgets.services import (
    budget_leases_return,
    budget_override,
    budget_reconcile,
    budget_rereserve,
    budget_reservations_expire,
    budget_reserve,
    budget_settle,
    budget_settle_many,
    budget_top_up,
)
from apps.gateway.models import UsageRecord

from .conftest import set_budget


def who(persona):
    return Who(persona.team.pk, persona.user.pk)


def reload(budget):
    budget.refresh_from_db()
    return budget


def test_reserve_then_settle_charges_the_real_cost_and_releases_the_rest(member, team_budget):
    hold = budget_reserve(who=who(member), amount_micros=600, local=False)
    assert reload(team_budget).reserved_micros == 600
    with pytest.raises(BudgetExceeded) as refused:
        budget_reserve(who=who(member), amount_micros=600, local=False)
    assert "team eng budget cannot cover this request (up to $0.000600)" in refused.value.message
    assert "$0.00 spent (plus $0.000600 held by requests in flight) of $0.001000" in (
        refused.value.message
    )
    assert refused.value.resets_at is not None
    budget_settle(hold=hold, cost_micros=250)
    budget = reload(team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (250, 0)
    assert not Reservation.objects.exists()
    budget_settle(hold=hold, cost_micros=250)  # settling twice changes nothing
    assert reload(team_budget).spent_micros == 250
    budget_reserve(who=who(member), amount_micros=750, local=False)  # exactly fits


def test_a_refusal_holds_nothing_on_the_budgets_that_had_room(member, team):
    roomy = set_budget("org", limit=10_000)
    set_budget(team=team, limit=100)
    with pytest.raises(BudgetExceeded):
        budget_reserve(who=who(member), amount_micros=500, local=False)
    assert reload(roomy).reserved_micros == 0
    assert not Reservation.objects.exists()


def test_every_scope_a_request_falls_under_is_charged(member, team):
    key = member.user.api_keys.get()
    budgets = [
        set_budget("org", limit=10_000),
        set_budget(team=team, limit=10_000),
        set_budget("user", team=team, user=member.user, limit=10_000),
        set_budget("key", team=team, api_key=key, limit=10_000),
    ]
    hold = budget_reserve(who=Who(team.pk, member.user.pk, key.pk), amount_micros=100, local=False)
    budget_settle(hold=hold, cost_micros=40)
    assert [reload(b).spent_micros for b in budgets] == [40, 40, 40, 40]


def test_local_routes_stay_open_unless_the_budget_says_otherwise(member, team):
    budget = set_budget(team=team, limit=100)
    budget_reserve(who=who(member), amount_micros=500, local=True)
    budget.local_open = False
    budget.save()
    with pytest.raises(BudgetExceeded):
        budget_reserve(who=who(member), amount_micros=500, local=True)


def test_a_new_period_starts_from_zero_but_keeps_holds_in_flight(member, team_budget):
    hold = budget_reserve(who=who(member), amount_micros=300, local=False)
    last_period = team_budget.period_start - timedelta(days=40)  # the hold is from then
    Budget.objects.filter(pk=team_budget.pk).update(spent_micros=700, period_start=last_period)
    hold.periods = {team_budget.pk: last_period}
    budget_reserve(who=who(member), amount_micros=600, local=False)
    budget = reload(team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (0, 900)
    budget_settle(hold=hold, cost_micros=300)  # belonged to the old period
    assert (reload(team_budget).spent_micros, reload(team_budget).reserved_micros) == (0, 600)


def test_a_fallback_is_rechecked_at_its_own_worst_case(member, team_budget):
    hold = budget_reserve(who=who(member), amount_micros=400, local=False)
    budget_reserve(who=who(member), amount_micros=300, local=False)
    with pytest.raises(BudgetExceeded):
        budget_rereserve(hold=hold, amount_micros=800, local=False)
    assert reload(team_budget).reserved_micros == 700
    budget_rereserve(hold=hold, amount_micros=100, local=False)
    assert reload(team_budget).reserved_micros == 400
    budget_settle(hold=hold, cost_micros=100)
    assert reload(team_budget).reserved_micros == 300


def test_stale_reservations_expire_and_are_logged(member, team_budget):
    long_ago = timezone.now() - timedelta(hours=2)
    budget_reserve(who=who(member), amount_micros=900, local=False, now=long_ago)
    with pytest.raises(BudgetExceeded):
        budget_reserve(who=who(member), amount_micros=900, local=False)
    assert budget_reservations_expire() == 1
    assert reload(team_budget).reserved_micros == 0
    assert BudgetEvent.objects.filter(kind="expired", amount_micros=900).exists()
    budget_reserve(who=who(member), amount_micros=900, local=False)


def test_settling_after_the_hold_expired_still_charges_once(member, team_budget):
    hold = budget_reserve(
        who=who(member), amount_micros=900, local=False, now=timezone.now() - timedelta(hours=2)
    )
    budget_reservations_expire()
    budget_settle(hold=hold, cost_micros=200)
    budget = reload(team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (200, 0)


def test_reconcile_rederives_spend_from_the_ledger(member, team, team_budget):
    for cost in (100, 250):
        UsageRecord.objects.create(
            team=team, user=member.user, requested_model="m", status="ok", cost_micros=cost
        )
    Budget.objects.filter(pk=team_budget.pk).update(spent_micros=999, reserved_micros=55)
    budget = budget_reconcile(budget=team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (350, 0)
    state = budget_state(budget)
    assert state.remaining_micros == 650
    assert state.runs_out_on is not None or state.resets_at is not None


def test_the_warning_is_logged_once_a_period(member, team_budget):
    hold = budget_reserve(who=who(member), amount_micros=850, local=False)
    assert hold.warnings == ["team eng budget 85% used"]
    budget_settle(hold=hold, cost_micros=850)
    again = budget_reserve(who=who(member), amount_micros=10, local=False)
    assert again.warnings == ["team eng budget 86% used"]
    assert BudgetEvent.objects.filter(kind="warning").count() == 1


def test_a_warning_already_logged_this_period_costs_no_write(member, team_budget):
    """Past the threshold every request carries the warning, but only the
    first one in a period writes (the audit event and warned_period)."""
    budget_reserve(who=who(member), amount_micros=850, local=False)
    assert BudgetEvent.objects.filter(kind="warning").count() == 1
    seen, hold = _statements(lambda: budget_reserve(who=who(member), amount_micros=10, local=False))
    assert hold.warnings == ["team eng budget 86% used"]
    if connection.vendor == "sqlite":
        assert seen.count("UPDATE") == 1 and "INSERT" in seen  # the hold, no event
    assert BudgetEvent.objects.filter(kind="warning").count() == 1
    next_period = reload(team_budget).period_start - timedelta(days=40)
    Budget.objects.filter(pk=team_budget.pk).update(warned_period=next_period)
    budget_reserve(who=who(member), amount_micros=10, local=False)
    assert BudgetEvent.objects.filter(kind="warning").count() == 2  # logged again: new period


def test_top_ups_and_overrides_record_who_and_why(member, team_admin, team_budget):
    budget_settle(
        hold=budget_reserve(who=who(member), amount_micros=1000, local=False), cost_micros=1000
    )
    with pytest.raises(ValidationError):
        budget_top_up(budget=team_budget, amount_micros=500, actor=team_admin.user, reason=" ")
    budget_top_up(
        budget=team_budget, amount_micros=500, actor=team_admin.user, reason="launch week"
    )
    budget_reserve(who=who(member), amount_micros=500, local=False)
    with pytest.raises(BudgetExceeded):
        budget_reserve(who=who(member), amount_micros=1, local=False)
    budget_override(
        budget=reload(team_budget), until=timezone.now() + timedelta(hours=1),
        actor=team_admin.user, reason="incident",
    )  # fmt: skip
    budget_reserve(who=who(member), amount_micros=5000, local=False)
    events = BudgetEvent.objects.filter(kind__in=["top_up", "override"]).order_by("pk")
    assert [(e.kind, e.actor, e.reason) for e in events] == [
        ("top_up", team_admin.user, "launch week"),
        ("override", team_admin.user, "incident"),
    ]


def test_the_routing_signal_reads_only_downgrade_budgets(member, team):
    set_budget(team=team, limit=1000)
    set_budget("user", team=team, user=member.user, limit=2000, on_limit="downgrade")
    budget_reserve(who=who(member), amount_micros=900, local=False)
    assert budget_signal(who(member)) == 0.45  # the team budget (90% used) blocks instead


def test_the_signal_of_a_budget_whose_period_ended_counts_only_its_holds(member, team):
    budget = set_budget(team=team, limit=1000, on_limit="downgrade", period="day")
    assert budget_signal(who(member)) == 0.0
    Budget.objects.filter(pk=budget.pk).update(spent_micros=600, reserved_micros=150)
    assert budget_signal(who(member)) == 0.75
    yesterday = budget.period_start - timedelta(days=1)
    Budget.objects.filter(pk=budget.pk).update(period_start=yesterday, extra_micros=500)
    assert budget_signal(who(member)) == 0.15  # a new day: nothing spent, no top-up


def test_a_fast_reservation_that_one_budget_refuses_changes_nothing(member, team):
    """Every applicable budget is updated in one statement, then the
    transaction is rolled back if one of them had no room."""
    org = set_budget("org", limit=10_000)
    user_b = set_budget("user", team=team, user=member.user, limit=10_000)
    team_b = set_budget(team=team, limit=1_000)
    budget_reserve(who=who(member), amount_micros=700, local=False)
    with pytest.raises(BudgetExceeded, match="team eng budget"):
        budget_reserve(who=who(member), amount_micros=400, local=False)
    assert [reload(b).reserved_micros for b in (org, user_b, team_b)] == [700, 700, 700]
    assert Reservation.objects.count() == 3


def test_settling_a_batch_charges_each_hold_once(member, team_budget):
    holds = [budget_reserve(who=who(member), amount_micros=200, local=False) for _ in range(3)]
    # The first hold's reservation expired and was released already (a sweep).
    Reservation.objects.filter(hold=holds[0].code).delete()
    Budget.objects.filter(pk=team_budget.pk).update(reserved_micros=400)
    budget_settle_many(settlements=[(holds[0], 50), (holds[1], 60), (holds[2], 70)])
    budget = reload(team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (180, 0)
    assert all(h.settled for h in holds) and not Reservation.objects.exists()
    budget_settle_many(settlements=[(holds[1], 60)])  # settled already: nothing changes
    assert reload(team_budget).spent_micros == 180


def test_budget_set_refuses_nonsense(team, member, outsider):
    with pytest.raises(ValidationError):
        set_budget(team=team, limit=-1)
    with pytest.raises(ValidationError):
        set_budget(team=team, period="year")
    with pytest.raises(ValidationError):
        set_budget("user", team=team)  # no user
    with pytest.raises(ValidationError):
        set_budget("key", team=team, api_key=outsider.user.api_keys.get())


def test_who_may_edit_what(team, team_admin, member, outsider):
    team_admin.user.is_staff = False
    assert budget_may_edit(team_admin.user, scope="user", team_id=team.pk)
    assert budget_may_edit(team_admin.user, scope="key", team_id=team.pk)
    assert not budget_may_edit(team_admin.user, scope="team", team_id=team.pk)
    assert not budget_may_edit(team_admin.user, scope="user", team_id=outsider.team.pk)
    assert not budget_may_edit(member.user, scope="user", team_id=team.pk)
    member.user.is_staff = True
    assert budget_may_edit(member.user, scope="org", team_id=None)


def test_rate_limits_count_requests_and_tokens(member):
    key = member.user.api_keys.get()
    now = timezone.now().replace(second=30)
    for _ in range(2):
        rate_admit(api_key_id=key.pk, rpm=2, tpm=None, tokens=10, now=now)
    with pytest.raises(RateLimited) as refused:
        rate_admit(api_key_id=key.pk, rpm=2, tpm=None, tokens=10, now=now)
    assert refused.value.retry_after == 30
    assert "2 requests per minute" in refused.value.message
    later = now + timedelta(minutes=1)
    rate_admit(api_key_id=key.pk, rpm=None, tpm=100, tokens=150, now=later)
    with pytest.raises(RateLimited, match="100 tokens per minute"):
        rate_admit(api_key_id=key.pk, rpm=None, tpm=100, tokens=1, now=later)


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_overcommit(member, team):
    budget = set_budget(team=team, limit=5 * 100)
    results: list[str] = []

    def reserve() -> None:
        try:
            budget_reserve(who=who(member), amount_micros=100, local=False)
            results.append("ok")
        except BudgetExceeded:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 5
    assert results.count("refused") == 19
    assert reload(budget).reserved_micros == 500


def _statements(call):
    """The first word of each statement SQLite ran during ``call()``, and its
    result (on another database, no statements)."""
    seen: list[str] = []
    if connection.vendor != "sqlite":
        return seen, call()
    connection.ensure_connection()
    raw = connection.connection
    raw.set_trace_callback(lambda sql: seen.append(sql.split()[0].upper()))
    try:
        return seen, call()
    finally:
        raw.set_trace_callback(None)


def test_reserve_and_settle_are_a_few_statements_whatever_the_number_of_budgets(member, team):
    """The request path: one UPDATE … RETURNING for all budgets that says
    whether each had room, and one INSERT of the holds; a DELETE and an
    UPDATE to settle; the per-budget spend and holds still come out right.
    (In a test the transaction is a savepoint inside the test's own.)"""
    if connection.vendor != "sqlite":
        pytest.skip("counts SQLite's statements")
    org = set_budget("org", limit=10_000, period=Budget.Period.MONTH)
    team_b = set_budget(team=team, limit=5_000, period=Budget.Period.WEEK)
    user_b = set_budget("user", team=team, user=member.user, limit=2_000, period="day")
    budget_reserve(who=who(member), amount_micros=1, local=False)  # warm the sweep timer
    seen, hold = _statements(
        lambda: budget_reserve(who=who(member), amount_micros=900, local=False)
    )
    assert seen == ["SAVEPOINT", "UPDATE", "INSERT", "RELEASE"]
    assert {b.reserved_micros for b in map(reload, (org, team_b, user_b))} == {901}
    assert Reservation.objects.filter(hold=hold.code).count() == 3
    seen, _ = _statements(lambda: budget_settle(hold=hold, cost_micros=300))
    assert seen == ["SAVEPOINT", "DELETE", "UPDATE", "RELEASE"]
    assert [(b.spent_micros, b.reserved_micros) for b in map(reload, (org, team_b, user_b))] == [
        (300, 1)
    ] * 3


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_reservation_commits_or_rolls_back_whole(member, team):
    """The gateway's case: no transaction open. SQLite runs BEGIN IMMEDIATE …
    COMMIT itself; a refusal rolls everything back and leaves the
    connection as Django expects it (autocommit, no transaction open)."""
    org = set_budget("org", limit=10_000)
    team_b = set_budget(team=team, limit=1_000)
    seen, hold = _statements(
        lambda: budget_reserve(who=who(member), amount_micros=700, local=False)
    )
    if connection.vendor == "sqlite":
        assert seen == ["BEGIN", "UPDATE", "INSERT", "COMMIT"]
    with pytest.raises(BudgetExceeded, match="team eng budget"):
        budget_reserve(who=who(member), amount_micros=400, local=False)
    assert [reload(b).reserved_micros for b in (org, team_b)] == [700, 700]
    assert connection.get_autocommit() and not connection.in_atomic_block
    budget_settle(hold=hold, cost_micros=300)
    assert [(reload(b).spent_micros, reload(b).reserved_micros) for b in (org, team_b)] == [
        (300, 0)
    ] * 2
    assert not Reservation.objects.exists()


# --- leases (apps/budgets/leases.py, decision 0011) ----------------------------------


def _leased_reserve(persona, amount):
    """As the gateway reserves: the admit read first, then the reservation."""
    applicable = budgets_applicable_now(who(persona), timezone.now())
    return budget_reserve(who=who(persona), amount_micros=amount, local=False,
                          applicable=applicable)  # fmt: skip


def test_requests_reserve_from_a_lease_and_their_costs_are_charged_when_it_goes_back(member, team):
    org = set_budget("org", limit=10_000_000)
    team_b = set_budget(team=team, limit=10_000_000)
    holds = [_leased_reserve(member, 1000) for _ in range(3)]
    assert all(h.lease is not None for h in holds) and len({id(h.lease) for h in holds}) == 1
    # One lease on each budget, 1/50 of its allowance (less than 256 worst
    # cases); the requests wrote nothing.
    assert list(Reservation.objects.values_list("lease", "amount_micros")) == [(True, 200_000)] * 2
    assert [reload(b).reserved_micros for b in (org, team_b)] == [200_000, 200_000]

    budget_settle_many(settlements=[(holds[0], 300), (holds[1], 400)])
    assert all(h.settled for h in holds[:2])
    # Still in use: costs stay in the lease (reserved, so every limit counts them).
    assert [(reload(b).spent_micros, reload(b).reserved_micros) for b in (org, team_b)] == [
        (0, 200_000)
    ] * 2
    assert budget_leases_return(idle_seconds=0) == 0  # a request is in flight

    budget_settle_many(settlements=[(holds[2], 500)])
    assert leases_held()  # idle, kept for the next burst of requests
    assert budget_leases_return(idle_seconds=60) == 0  # not idle long enough yet
    assert budget_leases_return(idle_seconds=0) == 1
    assert [(reload(b).spent_micros, reload(b).reserved_micros) for b in (org, team_b)] == [
        (1200, 0)
    ] * 2
    assert not Reservation.objects.exists() and not leases_held()


def test_an_idle_lease_serves_the_next_burst(member, team_budget):
    Budget.objects.filter(pk=team_budget.pk).update(limit_micros=10_000_000)
    first = _leased_reserve(member, 1000)
    budget_settle_many(settlements=[(first, 100)])
    second = _leased_reserve(member, 1000)
    assert second.lease is first.lease
    assert Reservation.objects.count() == 1  # no new lease taken


def test_near_its_limit_threshold_or_for_a_downgrade_budget_a_request_is_reserved_exactly(
    member, team
):
    tight = set_budget(team=team, limit=3_000)  # room for under four worst cases
    assert _leased_reserve(member, 1000).lease is None
    Budget.objects.filter(pk=tight.pk).update(limit_micros=10_000_000, spent_micros=7_996_000)
    assert _leased_reserve(member, 1000).lease is None  # under its 80% warning: no room for a slice
    Budget.objects.filter(pk=tight.pk).update(spent_micros=0, on_limit=Budget.OnLimit.DOWNGRADE)
    assert _leased_reserve(member, 1000).lease is None  # its use steers routing
    assert not Reservation.objects.filter(lease=True).exists()


def test_leases_switched_off_reserve_every_request_exactly(member, team_budget, settings):
    settings.HYBRIDHUB_BUDGET_LEASES = False
    Budget.objects.filter(pk=team_budget.pk).update(limit_micros=10_000_000)
    assert _leased_reserve(member, 1000).lease is None
    assert list(Reservation.objects.values_list("lease", "amount_micros")) == [(False, 1000)]


def test_a_fallback_beyond_the_lease_is_reserved_exactly_and_leaves_it(member, team_budget):
    Budget.objects.filter(pk=team_budget.pk).update(limit_micros=10_000_000)
    hold = _leased_reserve(member, 1000)
    lease = hold.lease
    budget_rereserve(hold=hold, amount_micros=2000, local=False)  # room in the slice
    assert hold.lease is lease
    budget_rereserve(hold=hold, amount_micros=300_000, local=False)  # more than the slice
    assert hold.lease is None
    assert sorted(Reservation.objects.values_list("lease", "amount_micros")) == [
        (False, 300_000), (True, 200_000),
    ]  # fmt: skip
    budget_settle(hold=hold, cost_micros=5000)
    assert budget_leases_return(idle_seconds=0) == 1
    budget = reload(team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (5000, 0)


def test_reconcile_leaves_spent_alone_while_a_lease_holds_costs(member, team, team_budget):
    """The lease's costs are in the ledger already and charged when it goes
    back: re-deriving spent meanwhile would count them twice."""
    Budget.objects.filter(pk=team_budget.pk).update(limit_micros=10_000_000)
    hold = _leased_reserve(member, 1000)
    UsageRecord.objects.create(
        team=team, user=member.user, requested_model="m", status="ok", cost_micros=400
    )
    budget_settle_many(settlements=[(hold, 400)])
    budget = budget_reconcile(budget=team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (0, 200_000)
    budget_leases_return(idle_seconds=0)
    budget = budget_reconcile(budget=team_budget)
    assert (budget.spent_micros, budget.reserved_micros) == (400, 0)


def test_a_process_leases_at_most_a_fiftieth_of_a_budget_however_many_sets_share_it(
    member, team, outsider
):
    """Each user or key under the organisation budget has a set of budgets of
    its own; their leases together stay within 1/50 of the organisation's
    allowance, so leases never crowd out other requests."""
    org = set_budget("org", limit=10_000_000)
    set_budget(team=team, limit=10_000_000)
    assert _leased_reserve(member, 1000).lease is not None  # org + team: 200,000 leased
    other = _leased_reserve(outsider, 1000)  # org alone: its share is taken
    assert other.lease is None
    assert reload(org).reserved_micros == 200_000 + 1000
    budget_settle_many(settlements=[(other, 0)])
    budget_leases_return(idle_seconds=60)  # the first lease is in use: nothing goes back
    assert reload(org).reserved_micros == 200_000
