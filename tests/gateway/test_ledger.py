"""Group commit of ledger rows (apps/gateway/ledger.py): rows that queue
while a batch is being written go together in the next one, every row lands
with its rollups exactly once, and each caller returns only after its row
committed and its hold was settled."""

import asyncio

import pytest
from django.utils import timezone

from apps.analytics.fold import rollups_refresh
from apps.analytics.models import TeamRollup
from apps.budgets.leases import leases_held
from apps.budgets.models import Budget
from apps.budgets.selectors import budgets_applicable_now
from apps.budgets.services import budget_reserve
from apps.gateway import budgeting, ledger
from apps.gateway.budgeting import Spend, Who
from apps.gateway.models import UsageRecord
from tests.budgets.conftest import set_budget

pytestmark = pytest.mark.django_db(transaction=True)


def _row(member, **fields):
    values = {
        "user_id": member.user.pk, "team_id": member.team.pk, "requested_model": "m",
        "model_name": "m", "provider_name": "p", "privacy_zone": "vendor", "status": "ok",
        "prompt_tokens": 10, "completion_tokens": 5, "cost_micros": 7, "latency_ms": 40,
    } | fields  # fmt: skip
    return UsageRecord(**values)


@pytest.fixture
def hops(monkeypatch):
    """The batches written: one entry (its row count) per database hop."""
    sizes = []
    real = ledger.ledger_batch_write

    def counting(batch):
        sizes.append(len(batch))
        real(batch)

    monkeypatch.setattr(ledger, "ledger_batch_write", counting)
    return sizes


def test_concurrent_rows_share_batches_and_each_lands_once_with_its_rollups(member, hops):
    async def run():
        await asyncio.gather(*(ledger.ledger_append(_row(member), Spend()) for _ in range(30)))

    asyncio.run(run())

    assert UsageRecord.objects.count() == 30
    assert sum(hops) == 30
    assert hops[0] == 1 and len(hops) < 30  # the first alone, the rest queued behind it
    rollups_refresh()
    rollup = TeamRollup.objects.get()
    assert (rollup.requests, rollup.ok, rollup.cost_micros) == (30, 30, 30 * 7)
    assert rollup.prompt_tokens == 300 and rollup.completion_tokens == 150


def test_a_row_alone_is_written_at_once_and_readable_when_append_returns(member, hops):
    async def run():
        await ledger.ledger_append(_row(member, status="rejected", error_type="x"), Spend())
        return await asyncio.to_thread(lambda: list(UsageRecord.objects.values_list("status")))

    assert asyncio.run(run()) == [("rejected",)]
    assert hops == [1]
    row = UsageRecord.objects.get()
    assert row.created_at is not None and row.code is not None and row.route_reasons == []


def test_a_bad_row_does_not_take_the_rest_of_its_batch_with_it(member, hops, caplog):
    async def run():
        first = asyncio.ensure_future(ledger.ledger_append(_row(member), Spend()))
        await asyncio.sleep(0)  # the first batch starts; these three queue behind it
        await asyncio.gather(
            ledger.ledger_append(_row(member, end_user="a"), Spend()),
            ledger.ledger_append(_row(member, prompt_tokens=-1), Spend()),  # breaks a CHECK
            ledger.ledger_append(_row(member, end_user="b"), Spend()),
        )
        await first

    asyncio.run(run())

    assert hops == [1, 3]
    assert sorted(UsageRecord.objects.values_list("end_user", flat=True)) == ["", "a", "b"]
    rollups_refresh()
    assert TeamRollup.objects.get().requests == 3  # the failed batch left nothing behind
    assert "one by one" in caplog.text


def test_every_row_of_a_batch_settles_its_own_hold(member, hops):
    budget = set_budget(team=member.team, limit=10_000)
    who = Who(member.team.pk, member.user.pk, None)
    spends = [
        Spend(hold=budget_reserve(who=who, amount_micros=1000, local=False)) for _ in range(5)
    ]
    assert Budget.objects.get(pk=budget.pk).reserved_micros == 5000

    async def run():
        await asyncio.gather(
            *(ledger.ledger_append(_row(member, cost_micros=100), s) for s in spends)
        )

    asyncio.run(run())

    budget = Budget.objects.get(pk=budget.pk)
    assert (budget.reserved_micros, budget.spent_micros) == (0, 500)
    assert all(s.hold is not None and s.hold.settled for s in spends)
    assert len(hops) < 5


def test_a_caller_cancelled_while_waiting_still_gets_its_row(member):
    async def run():
        waiting = asyncio.ensure_future(ledger.ledger_append(_row(member), Spend()))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # the batch goes on without its caller; a later row waits behind it
        await ledger.ledger_append(_row(member, end_user="later"), Spend())

    asyncio.run(run())
    assert UsageRecord.objects.count() == 2


def _folded_rows():
    return list(UsageRecord.objects.filter(folded=True).values_list("end_user", flat=True))


def test_rows_are_folded_into_the_rollups_in_the_background_not_on_the_way(member, monkeypatch):
    """A request returns with its row written but not folded; the writer
    folds it FOLD_DELAY later on its own thread, with no reader involved."""
    # Long enough that a busy machine still reads before the fold.
    monkeypatch.setattr(ledger, "FOLD_DELAY", 1.5)

    async def run():
        await asyncio.gather(*(ledger.ledger_append(_row(member), Spend()) for _ in range(3)))
        returned = await asyncio.to_thread(_folded_rows)
        for _ in range(150):
            await asyncio.sleep(0.05)
            if len(await asyncio.to_thread(_folded_rows)) == 3:
                break
        return returned

    assert asyncio.run(run()) == []  # not folded when the requests returned
    assert len(_folded_rows()) == 3
    assert TeamRollup.objects.get().requests == 3  # read as it is, no reader's fold


def test_enough_waiting_rows_are_folded_at_once(member, monkeypatch):
    monkeypatch.setattr(ledger, "FOLD_ROWS", 5)
    monkeypatch.setattr(ledger, "FOLD_DELAY", 60.0)  # never, in this test

    async def run():
        await asyncio.gather(*(ledger.ledger_append(_row(member), Spend()) for _ in range(30)))
        for _ in range(100):
            if len(await asyncio.to_thread(_folded_rows)) == 30:
                return
            await asyncio.sleep(0.05)

    asyncio.run(run())
    assert len(_folded_rows()) == 30
    assert TeamRollup.objects.get().requests == 30


def test_a_lease_idle_after_its_requests_goes_back_by_itself(member, monkeypatch):
    """Requests on a budget lease settle into it (no statement); once it has
    been idle for LEASE_IDLE_SECONDS the writer gives it back on its own
    thread, its costs charged as spent, with no request involved."""
    monkeypatch.setattr(budgeting, "LEASE_IDLE_SECONDS", 0.2)
    budget = set_budget(team=member.team, limit=10_000_000)
    who = Who(member.team.pk, member.user.pk, None)
    applicable = budgets_applicable_now(who, timezone.now())
    spends = [
        Spend(hold=budget_reserve(who=who, amount_micros=1000, local=False, applicable=applicable))
        for _ in range(3)
    ]
    assert all(s.hold is not None and s.hold.lease is not None for s in spends)

    async def run():
        await asyncio.gather(
            *(ledger.ledger_append(_row(member, cost_micros=100), s) for s in spends)
        )
        settled = await asyncio.to_thread(lambda: Budget.objects.get(pk=budget.pk).spent_micros)
        for _ in range(100):
            if not leases_held():
                break
            await asyncio.sleep(0.05)
        return settled

    assert asyncio.run(run()) == 0  # when the requests returned: still in the lease
    budget = Budget.objects.get(pk=budget.pk)
    assert (budget.spent_micros, budget.reserved_micros) == (300, 0)
    assert not leases_held()


def test_the_server_gives_its_leases_back_when_it_shuts_down(member):
    """Not left to expire, when an abandoned lease counts as spent in full."""
    from hybridhub.asgi import lifespan

    budget = set_budget(team=member.team, limit=10_000_000)
    who = Who(member.team.pk, member.user.pk, None)
    applicable = budgets_applicable_now(who, timezone.now())
    hold = budget_reserve(who=who, amount_micros=1000, local=False, applicable=applicable)
    assert hold.lease is not None
    budgeting.settle_many(settlements=[(Spend(hold=hold), 400, 10)])
    sent = []

    async def receive():
        return {"type": "lifespan.shutdown"}

    async def send(message):
        sent.append(message["type"])

    asyncio.run(lifespan({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.shutdown.complete"]
    budget = Budget.objects.get(pk=budget.pk)
    assert (budget.spent_micros, budget.reserved_micros) == (400, 0)
    assert not leases_held()
