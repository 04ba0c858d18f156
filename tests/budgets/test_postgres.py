"""The concurrency scenario against a real PostgreSQL and a hub in its own process
(and the lease scenario on a SQLite file too)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.budget_scenario import fire
from tests.support.postgres import postgres_bin, temporary_postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "install Debian's postgresql package, as .ci/run does"
        )
    pytest.importorskip("psycopg", reason="install the postgres extra (psycopg)")
    with temporary_postgres() as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hybridhub.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "tests-only-not-secret",
        "DEBUG": "false",
        "HYBRIDHUB_PRELOAD_LOCAL_MODELS": "false",
        "HYBRIDHUB_CATALOG_TTL_SECONDS": "0",
        "MOCKAI_API_KEY": "sk-mock-test",
        "LOG_LEVEL": "WARNING",
    }


def _last_line(command: list[str], env: dict[str, str], timeout: int = 120) -> str:
    """Run ``command`` (a fresh process on the database) and return the last
    line it printed."""
    done = subprocess.run(
        command, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=timeout
    )
    return done.stdout.strip().splitlines()[-1]


def _scenario(env: dict[str, str], *args: str) -> str:
    return _last_line([sys.executable, "-m", "tests.support.budget_scenario", *args], env)


def _wait_for(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the hub at {url} did not start")


@pytest.mark.timeout(300)
def test_concurrent_requests_never_overspend_postgresql(postgres_url, cloud):
    env = _env(postgres_url)
    cloud.token_delay = 0.01
    key = _scenario(env, "setup", cloud.url, "20")
    port = _free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hybridhub.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--workers", "2"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/v1/models")
        outcomes = fire(f"http://127.0.0.1:{port}/v1", key, count=50)
        for _ in range(200):
            state = json.loads(_scenario(env, "state"))
            if state["ledger_rows"] >= 50 and state["reserved"] == 0:
                break
            time.sleep(0.1)
    finally:
        hub.terminate()
        hub.wait(timeout=20)
    assert set(outcomes) <= {"ok", "budget_exceeded"}, outcomes
    assert 1 <= outcomes.count("ok") <= 5
    assert state["reserved"] == 0
    assert state["spent"] == state["ledger_cost"] <= state["limit"]


# Threads (each its own connection) reserving and settling against the same
# three budgets, with a fallback re-check now and then: every path that
# locks several budgets must lock them in one order, or PostgreSQL aborts one
# of two transactions with "deadlock detected".
PAIRS = """
import threading
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from apps.accounts.models import Team
from apps.budgets.models import Budget, Reservation
from apps.budgets.selectors import Who
from apps.budgets.services import (BudgetTarget, budget_rereserve, budget_reserve, budget_set,
                                   budget_settle)
call_command("migrate", verbosity=0)
team, _ = Team.objects.get_or_create(slug="locks", defaults={"name": "locks"})
user, _ = User.objects.get_or_create(username="locks")
Budget.objects.all().delete()  # the session's server may hold another test's
for target in (BudgetTarget("org"), BudgetTarget("team", team=team),
               BudgetTarget("user", team=team, user=user)):
    budget_set(target=target, limit_micros=10**12, period="month")
before = dict(Budget.objects.values_list("pk", "spent_micros"))  # the ledger's so far
who, errors = Who(team.pk, user.pk), []
def work(n):
    try:
        for i in range(60):
            hold = budget_reserve(who=who, amount_micros=50, local=False)
            if i % 5 == n % 5:
                budget_rereserve(hold=hold, amount_micros=80, local=False)
            budget_settle(hold=hold, cost_micros=40)
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()
threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
totals = sorted({(spent - before[pk], held) for pk, spent, held
                 in Budget.objects.values_list("pk", "spent_micros", "reserved_micros")})
print(errors[:1], totals, Reservation.objects.count())
"""


@pytest.mark.timeout(300)
def test_concurrent_reserves_and_settles_do_not_deadlock(postgres_url):
    last = _last_line([sys.executable, "-c", PAIRS], _env(postgres_url), timeout=240)
    assert last == f"[] [({8 * 60 * 40}, 0)] 0"


# The reservation (and a settlement the ledger row's commit follows) commit
# without waiting for the WAL flush: that must stay with their own one-statement
# transactions, never reach the session (the ledger row's commit) nor a
# transaction the caller opened.
COMMIT_MODE = """
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from apps.accounts.models import Team
from apps.budgets.models import Budget
from apps.budgets.selectors import Who
from apps.budgets.services import BudgetTarget, budget_reserve, budget_set, budget_settle
call_command("migrate", verbosity=0)
team, _ = Team.objects.get_or_create(slug="commit", defaults={"name": "commit"})
user, _ = User.objects.get_or_create(username="commit")
Budget.objects.all().delete()
budget = budget_set(target=BudgetTarget("team", team=team), limit_micros=1000, period="month")
def mode():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        return cursor.fetchone()[0]
with connection.cursor() as cursor:
    cursor.execute("SET synchronous_commit = on")  # the test server's default is off
seen = []
hold = budget_reserve(who=Who(team.pk, user.pk), amount_micros=300, local=False)
seen.append(mode())
budget_settle(hold=hold, cost_micros=100, flushed_by_next=True)
seen.append(mode())
with transaction.atomic():
    budget_reserve(who=Who(team.pk, user.pk), amount_micros=200, local=False)
    seen.append(mode())
budget.refresh_from_db()
print(seen, budget.spent_micros, budget.reserved_micros)
"""


@pytest.mark.timeout(120)
def test_the_reservations_commit_mode_stays_in_its_own_statement(postgres_url):
    last = _last_line([sys.executable, "-c", COMMIT_MODE], _env(postgres_url), timeout=100)
    assert last == "['on', 'on', 'on'] 100 200"


# A batch of holds settles in one statement on PostgreSQL (SQLite runs the
# per-hold ones): each charged once, released by what its rows still held.
BATCH = """
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from apps.accounts.models import Team
from apps.budgets.models import Budget, Reservation
from apps.budgets.selectors import Who
from apps.budgets.services import BudgetTarget, budget_reserve, budget_set, budget_settle_many
call_command("migrate", verbosity=0)
team, _ = Team.objects.get_or_create(slug="batch", defaults={"name": "batch"})
user, _ = User.objects.get_or_create(username="batch")
Budget.objects.all().delete()
for target in (BudgetTarget("org"), BudgetTarget("team", team=team),
               BudgetTarget("user", team=team, user=user)):
    budget_set(target=target, limit_micros=10_000, period="month")
before = dict(Budget.objects.values_list("pk", "spent_micros"))  # the ledger's so far
who = Who(team.pk, user.pk)
holds = [budget_reserve(who=who, amount_micros=300, local=False) for _ in range(3)]
Reservation.objects.filter(hold=holds[0].code).delete()  # as if swept
Budget.objects.update(reserved_micros=600)
budget_settle_many(settlements=[(h, 10 * (i + 1)) for i, h in enumerate(holds)],
                   flushed_by_next=True)
totals = sorted({(spent - before[pk], held) for pk, spent, held
                 in Budget.objects.values_list("pk", "spent_micros", "reserved_micros")})
print(totals, Reservation.objects.count(), all(h.settled for h in holds))
"""


@pytest.mark.timeout(120)
def test_a_batch_of_holds_settles_in_one_statement(postgres_url):
    last = _last_line([sys.executable, "-c", BATCH], _env(postgres_url), timeout=100)
    assert last == "[(60, 0)] 0 True"


# Leases (decision 0011): two processes of eight threads each reserve through
# the gateway's path (admit read, then reserve) against budgets that leases
# serve at first, then, near the warning threshold and the limit, exact
# reservations. The limit holds, every cost is charged once, and idle
# processes hold no lease.
LEASES = """
import json, sys, threading
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from apps.accounts.models import Team
from apps.budgets.errors import BudgetExceeded
from apps.budgets.models import Budget, BudgetEvent, Reservation
from apps.budgets.selectors import Who, budgets_applicable_now
from apps.budgets.services import (BudgetTarget, budget_leases_return, budget_rereserve,
                                   budget_reserve, budget_set, budget_settle_many)
if sys.argv[1] == "setup":
    call_command("migrate", verbosity=0)
team, _ = Team.objects.get_or_create(slug="lease", defaults={"name": "lease"})
user, _ = User.objects.get_or_create(username="lease")
who = Who(team.pk, user.pk)
if sys.argv[1] == "setup":
    Budget.objects.all().delete()
    for target, limit in ((BudgetTarget("org"), 10**9), (BudgetTarget("team", team=team), 600_000),
                          (BudgetTarget("user", team=team, user=user), 10**9)):
        budget_set(target=target, limit_micros=limit, period="month")
    print(json.dumps(dict(Budget.objects.values_list("pk", "spent_micros"))))
elif sys.argv[1] == "run":
    done, lock = {"ok": 0, "refused": 0, "cost": 0, "leased": 0, "errors": []}, threading.Lock()
    def work(n):
        try:
            for i in range(120):
                applicable = budgets_applicable_now(who, timezone.now())
                try:
                    hold = budget_reserve(who=who, amount_micros=1000, local=False,
                                          applicable=applicable)
                except BudgetExceeded:
                    with lock:
                        done["refused"] += 1
                    continue
                try:
                    if i % 7 == n % 7:  # a fallback model's worst case
                        budget_rereserve(hold=hold, amount_micros=1500 + 4000 * (i % 2),
                                         local=False)
                except BudgetExceeded:  # the gateway settles a refused request at 0
                    budget_settle_many(settlements=[(hold, 0)], flushed_by_next=True)
                    with lock:
                        done["refused"] += 1
                    continue
                cost = 500 + (i * 37 + n) % 500
                leased = hold.lease is not None
                budget_settle_many(settlements=[(hold, cost)], flushed_by_next=True)
                with lock:
                    done["ok"] += 1
                    done["cost"] += cost
                    done["leased"] += leased
        except Exception as exc:
            done["errors"].append(repr(exc))
        finally:
            connection.close()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    print("ready", flush=True)  # both processes start together: a late one
    sys.stdin.readline()        # would find the headroom past the warning, no lease
    for t in threads: t.start()
    for t in threads: t.join()
    budget_leases_return(idle_seconds=0)  # what the ledger writer's timer does once idle
    print(json.dumps(done))
else:
    rows = Budget.objects.order_by("pk").values_list("pk", "spent_micros", "reserved_micros",
                                                     "limit_micros")
    warned = BudgetEvent.objects.filter(kind="warning", budget__isnull=False).count()
    print(json.dumps({"budgets": list(rows), "reservations": Reservation.objects.count(),
                      "warned": warned}))
"""


@pytest.fixture(params=["sqlite", "postgres"])
def lease_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The lease scenario runs on both databases: a SQLite file, or the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leases.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.timeout(300)
def test_leases_hold_the_limit_across_processes_and_charge_every_cost_once(lease_database):
    env = _env(lease_database)
    before = {
        int(k): v
        for k, v in json.loads(_last_line([sys.executable, "-c", LEASES, "setup"], env)).items()
    }
    runs = [
        subprocess.Popen([sys.executable, "-c", LEASES, "run"], cwd=ROOT, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    assert [run.stdout.readline().strip() for run in runs] == ["ready", "ready"]
    for run in runs:  # go: neither has reserved anything before the other is ready
        run.stdin.write("go\n")
        run.stdin.flush()
    results = [json.loads(run.communicate(timeout=240)[0].strip().splitlines()[-1]) for run in runs]
    state = json.loads(_last_line([sys.executable, "-c", LEASES, "state"], env))
    assert [r["errors"] for r in results] == [[], []]
    ok, cost = sum(r["ok"] for r in results), sum(r["cost"] for r in results)
    assert all(r["leased"] > 0 for r in results)  # leases served some requests
    assert sum(r["refused"] for r in results) > 0  # and the limit was reached
    assert state["reservations"] == 0 and state["warned"] == 1
    for pk, spent, reserved, limit in state["budgets"]:
        assert (spent - before[pk], reserved) == (cost, 0)
        assert spent <= limit
    assert ok > 0


# A process that dies holding a lease: its costs were never moved to spent,
# so when its rows expire the whole lease counts as spent.
CRASH = """
import django
django.setup()
from datetime import timedelta
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from apps.accounts.models import Team
from apps.budgets.leases import leases_reset
from apps.budgets.models import Budget, Reservation
from apps.budgets.selectors import Who, budgets_applicable_now
from apps.budgets.services import (BudgetTarget, budget_reservations_expire, budget_reserve,
                                   budget_set, budget_settle_many)
call_command("migrate", verbosity=0)
team, _ = Team.objects.get_or_create(slug="crash", defaults={"name": "crash"})
user, _ = User.objects.get_or_create(username="crash")
Budget.objects.all().delete()
budget = budget_set(target=BudgetTarget("team", team=team), limit_micros=10**6, period="month")
start = budget.spent_micros
who = Who(team.pk, user.pk)
applicable = budgets_applicable_now(who, timezone.now())
holds = [budget_reserve(who=who, amount_micros=1000, local=False, applicable=applicable)
         for _ in range(3)]
budget_settle_many(settlements=[(h, 300) for h in holds[:2]], flushed_by_next=True)
leased = list(Reservation.objects.values_list("lease", "amount_micros"))
budget.refresh_from_db()
running = (budget.spent_micros - start, budget.reserved_micros)
leases_reset()  # the process dies with one request in flight
later = timezone.now() + timedelta(seconds=settings.HYBRIDHUB_BUDGET_RESERVATION_TTL_SECONDS + 1)
budget_reservations_expire(now=later)
budget.refresh_from_db()
print(all(h.lease for h in holds), leased, running,
      (budget.spent_micros - start, budget.reserved_micros), Reservation.objects.count())
"""


@pytest.mark.timeout(120)
def test_a_lease_whose_process_died_counts_as_spent(postgres_url):
    last = _last_line([sys.executable, "-c", CRASH], _env(postgres_url), timeout=100)
    assert last == "True [(True, 20000)] (0, 20000) (20000, 0) 0"  # a 50th of the limit
