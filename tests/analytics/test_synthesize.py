"""The rollups are computed in SQL from ledger rows (apps/analytics/fold.py):
by ledger_synthesize from the rows it wrote, and by the background fold and
every reader from the rows the gateway recorded. They must be exactly what
the old request path (rollups_add, as analytics_rebuild replays the ledger
through it) would have written, on SQLite and on PostgreSQL, and every row
must be counted exactly once whoever folds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.analytics.models import AskedAgain, StayLocalCandidate
from apps.gateway.models import UsageRecord
from tests.analytics.conftest import NOW, cloud, local, record
from tests.analytics.rollup_state import differences, rollup_state
from tests.support.postgres import postgres_bin, temporary_postgres

ROOT = Path(__file__).resolve().parents[2]


def _rebuilt() -> dict:
    call_command("analytics_rebuild")
    return rollup_state()


def test_synthesized_rollups_equal_the_request_paths(db):
    call_command("ledger_synthesize", rows=4000, days=6, batch=900, seed=5)
    folded = rollup_state()
    assert differences(folded, _rebuilt()) == {}
    # the fixture exercises every table, the review's signals included
    assert all(folded[table] for table in folded), {t: len(r) for t, r in folded.items()}
    assert StayLocalCandidate.objects.exists() and AskedAgain.objects.exists()


def test_synthesize_adds_to_existing_history(member, outsider):
    """Rows recorded before it stay counted (the fold upserts, it does not
    replace); a second run into the same days adds up again."""
    for n, who in enumerate((member, outsider)):
        record(created_at=NOW - timedelta(days=5 + n), user=who.user, team_id=who.team.pk,
               source="chat", cost_micros=11, estimated_tokens=77, **local())  # fmt: skip
    call_command("ledger_synthesize", rows=1500, days=3, seed=1)
    assert differences(rollup_state(), _rebuilt()) == {}
    call_command("ledger_synthesize", rows=1500, days=3, seed=2)
    assert UsageRecord.objects.count() == 3002
    # The second run's requests fall between the first run's: which request
    # followed which (AskedAgain) is then not what a replay in time order
    # finds; every counter still is.
    found = differences(rollup_state(), _rebuilt())
    assert set(found) <= {"AskedAgain"}, found


def _edge_rows(member, *, folded: bool) -> list[UsageRecord]:
    """Rows the synthetic history does not produce: no team, no model, odd
    statuses, latencies on bucket bounds, a re-ask exactly at the window's
    end and just past it, microsecond timestamps."""
    from apps.analytics.management.commands.ledger_synthesize import own_timestamps

    base = NOW.replace(microsecond=250_000) - timedelta(days=1)
    rows = [
        dict(created_at=base, latency_ms=50, ttft_ms=50, level=0, complexity=0.34,
             estimated_tokens=1000, cost_micros=3, **cloud()),
        dict(created_at=base, latency_ms=51, ttft_ms=0, status="cancelled", **local()),
        dict(created_at=base, latency_ms=60_001, ttft_ms=60_000, status="error",
             error_type="", rule_name="r" * 80, **local()),
        dict(created_at=base, latency_ms=10, status="rejected", error_type="budget_exceeded"),
        dict(created_at=base, latency_ms=5, ttft_ms=9, completion_tokens=4, **local()),
        dict(created_at=base, level=1, complexity=0.35, **cloud()),
        dict(created_at=base, user=member.user, source="chat", estimated_tokens=5, **local()),
        dict(created_at=base + timedelta(minutes=10), user=member.user, source="chat",
             estimated_tokens=5, **cloud()),
        dict(created_at=base + timedelta(minutes=10, microseconds=1), user=member.user,
             source="chat", estimated_tokens=5, **cloud()),
        dict(created_at=base + timedelta(minutes=11), user=member.user, source="chat",
             estimated_tokens=5, **local()),
        dict(created_at=base + timedelta(minutes=21, microseconds=1), user=member.user,
             source="chat", estimated_tokens=5, **local()),
    ]  # fmt: skip
    with own_timestamps(UsageRecord._meta.get_field("created_at")):
        return [
            UsageRecord.objects.create(
                requested_model="auto", status=r.pop("status", "ok"), folded=folded, **r
            )
            for r in rows
        ]


def test_the_fold_matches_the_request_path_on_edge_rows(member):
    from apps.analytics.fold import rollups_fold

    written = _edge_rows(member, folded=True)  # as ledger_synthesize writes them
    # in two folds, the second starting with the re-ask: its question is
    # then found in LastChatRequest, as the request path finds it
    split = written[6].pk
    rollups_fold(first_id=written[0].pk - 1, last_id=split, now=NOW)
    rollups_fold(first_id=split, last_id=written[-1].pk, now=NOW)
    folded = rollup_state()
    assert len(folded["AskedAgain"]) == 1  # the re-ask at exactly ten minutes
    assert differences(folded, _rebuilt()) == {}


def test_folding_unfolded_rows_matches_the_request_path_on_edge_rows(member):
    """The gateway's rows, folded by the background fold in two batches, the
    second starting with the re-ask; then nothing is left to fold, and a
    reader adds nothing."""
    from apps.analytics.fold import ledger_fold

    written = _edge_rows(member, folded=False)
    assert ledger_fold(limit=7) == 7
    assert ledger_fold() == len(written) - 7
    assert ledger_fold() == 0 and not UsageRecord.objects.filter(folded=False).exists()
    folded = rollup_state()
    assert len(folded["AskedAgain"]) == 1
    assert differences(folded, _rebuilt()) == {}


def test_folding_synthetic_history_in_batches_matches_the_request_path(db):
    """Four thousand rows of every kind, recorded unfolded and folded a few
    hundred at a time: the same rollups, row for row, as rollups_add."""
    from apps.analytics.fold import ledger_fold
    from apps.analytics.management.commands.analytics_rebuild import ROLLUPS

    call_command("ledger_synthesize", rows=4000, days=6, batch=900, seed=5)
    expected = _rebuilt()  # rollups_add's, row by row in time order
    for model in ROLLUPS:
        model.objects.all().delete()
    UsageRecord.objects.update(folded=False)  # as the gateway records them
    while ledger_fold(limit=700):
        pass
    assert differences(rollup_state(), expected) == {}


def test_synthesize_refuses_nonsense(db):
    with pytest.raises(CommandError, match="positive"):
        call_command("ledger_synthesize", rows=0)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package; .ci/run has it)")
    pytest.importorskip("psycopg", reason="install the postgres extra (psycopg)")
    with temporary_postgres() as url:
        yield url


def _script(url: str, *args: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "hybridhub.settings"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tests.analytics.rollup_state", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.timeout(300)
def test_synthesized_rollups_equal_the_request_paths_on_postgresql(postgres_url):
    result = _script(postgres_url, "synthesize", "4000", "6")
    assert result["differences"] == {}
    assert all(result["sizes"].values()), result["sizes"]


@pytest.mark.timeout(300)
def test_writer_processes_on_postgresql_lose_no_increment(postgres_url):
    """Four processes record into the same rollup rows at the same moment,
    as the gateway does (a row per transaction, folding every few rows): no
    increment is lost or counted twice and no transaction deadlocks."""
    before = _script(postgres_url, "totals", "refresh")
    env = {**os.environ, "DATABASE_URL": postgres_url, "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "hybridhub.settings"}  # fmt: skip
    start_at = str(time.time() + 4)  # once every process has started Django
    command = [sys.executable, "-m", "tests.analytics.rollup_state", "record", "40", start_at]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    writers = [subprocess.Popen(command, cwd=ROOT, env=env, **pipes) for _ in range(4)]
    for writer in writers:
        _, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err[-3000:]
    after = _script(postgres_url, "totals", "refresh")
    assert after["ledger"]["n"] - before["ledger"]["n"] == 160 and after["pending"] == 0
    for name, sums in after["rollups"].items():
        old = before["rollups"][name]
        assert (sums["n"] or 0) - (old["n"] or 0) == 160, name
        assert (sums["cost"] or 0) - (old["cost"] or 0) == 160 * 7, name


@pytest.mark.timeout(300)
def test_concurrent_folders_on_postgresql_fold_each_row_exactly_once(postgres_url):
    """Two processes fold the same 3,000 unfolded rows at the same moment, 40
    at a time: each row is taken by one of them (SKIP LOCKED), so the
    rollups count every row once, with no reader's help, and none is left."""
    before = _script(postgres_url, "totals", "refresh")
    _script(postgres_url, "pending", "3000")
    env = {**os.environ, "DATABASE_URL": postgres_url, "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "hybridhub.settings"}  # fmt: skip
    start_at = str(time.time() + 4)
    command = [sys.executable, "-m", "tests.analytics.rollup_state", "fold", start_at, "40"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    folders = [subprocess.Popen(command, cwd=ROOT, env=env, **pipes) for _ in range(2)]
    folded = []
    for folder in folders:
        out, err = folder.communicate(timeout=240)
        assert folder.returncode == 0, err[-3000:]
        folded.append(json.loads(out.strip().splitlines()[-1])["folded"])
    assert sum(folded) == 3000, folded
    after = _script(postgres_url, "totals")  # no refresh: what the folders wrote
    assert after["pending"] == 0
    assert after["ledger"]["n"] - before["ledger"]["n"] == 3000
    for name, sums in after["rollups"].items():
        old = before["rollups"][name]
        assert (sums["n"] or 0) - (old["n"] or 0) == 3000, name
        assert (sums["cost"] or 0) - (old["cost"] or 0) == 3000 * 7, name
