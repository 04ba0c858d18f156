"""Ledger rows written by group commit: one writer per event loop.

Every request ends with its ledger row and its budget settlement
(docs/decisions/0006: the second database hop). Here a request queues its
row and waits; one batch at a time goes to the database, and the rows that
queued meanwhile go together in the next: one transaction, one multi-row
insert. Alone, a request writes at once; under load the cost per row falls
with the batch.

The analytics rollups are not on this path (docs/decisions/0010): rows are
written unfolded, and the writer folds them into the rollups in the
background, on a thread of its own, once ``FOLD_ROWS`` rows are waiting or
``FOLD_DELAY`` seconds after the first (``apps.analytics.fold.ledger_fold``,
which folds every unfolded row, whoever wrote it). Readers of the rollups
fold what is still pending first, so they never see stale totals, and rows
left unfolded by a process that died are folded by the next fold anywhere.

What stays true:
- A request's ``ledger_append`` returns only after its row committed (or
  failed and was logged), so a caller that got its answer finds its row.
- A row is never half-written. If the batch fails, every row is retried in
  a transaction of its own, so one bad row does not take the others with it.
- Settlement is ``budgeting.settle_many`` for the batch, just before the rows'
  commit, which also makes it durable (the budget SQL stays in
  apps/budgets; decision 0009). A process that
  dies with rows queued loses them like any request in flight; their holds
  expire and are swept (``budget_sweep_maybe``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, transaction
from django.db.models import Field

from apps.analytics.fold import FOLD_MAX, ledger_fold

from . import budgeting
from .budgeting import Spend
from .models import UsageRecord

logger = logging.getLogger(__name__)

# Rows per transaction; more wait for the next one. Bounds the statement's
# parameters (SQLite allows 32,766) and the time one batch holds the thread.
BATCH_MAX = 100
# Fold into the analytics rollups once this many rows written here wait for
# it, or this many seconds after the first: the fold's fixed cost (a dozen
# statements) is shared by the rows, and readers fold the rest themselves.
FOLD_ROWS = 1000
FOLD_DELAY = 1.0
# One folding thread per process (its own database connection): a fold never
# holds the shared sync thread that the requests' hops use.
_FOLDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollup-fold")


@dataclass
class _Entry:
    row: UsageRecord
    spend: Spend
    done: asyncio.Future[None]
    # The queuing request's context: its batch runs there, so the database
    # work lands on the thread that request's own hop would have used.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


@dataclass
class _Writer:
    queue: list[_Entry] = field(default_factory=list)
    # The batch being written (held here: the loop keeps only weak references).
    task: asyncio.Task[None] | None = None
    unfolded: int = 0  # rows written since the last fold began
    fold_timer: asyncio.TimerHandle | None = None
    fold: asyncio.Task[None] | None = None
    # While the process holds budget leases: their next return check.
    lease_timer: asyncio.TimerHandle | None = None


class _PerThread(threading.local):
    loop: asyncio.AbstractEventLoop | None = None
    writer: _Writer | None = None


_current = _PerThread()  # a thread runs one loop at a time


async def ledger_append(row: UsageRecord, spend: Spend) -> None:
    """Write the row with its rollups, then settle its spend; returns when done.
    Failures are logged, never raised (the caller has its answer or error)."""
    loop = asyncio.get_running_loop()
    if _current.loop is not loop or _current.writer is None:
        _current.loop, _current.writer = loop, _Writer()
    writer = _current.writer
    entry = _Entry(row, spend, loop.create_future())
    writer.queue.append(entry)
    if writer.task is None:
        _batch_start(loop, writer)
    # Shielded: a request cancelled while waiting still gets its row written.
    await asyncio.shield(entry.done)


def _batch_start(loop: asyncio.AbstractEventLoop, writer: _Writer) -> None:
    batch, writer.queue = writer.queue[:BATCH_MAX], writer.queue[BATCH_MAX:]
    run = _batch_run(loop, writer, batch)
    writer.task = loop.create_task(run, context=batch[0].context.copy())


async def _batch_run(loop: asyncio.AbstractEventLoop, writer: _Writer, batch: list[_Entry]) -> None:
    cancelled = False
    try:
        await sync_to_async(ledger_batch_write)([(e.row, e.spend) for e in batch])
    except asyncio.CancelledError:  # the loop is shutting down; the thread finishes the write
        cancelled = True
        raise
    except Exception:  # ledger_batch_write logs its own; this is the hop itself failing
        logger.exception("Could not write %d usage records", len(batch))
    finally:
        for entry in batch:
            if not entry.done.done():
                entry.done.set_result(None)
        writer.task = None
        if not cancelled:
            writer.unfolded += len(batch)
            _fold_maybe(loop, writer)
            _leases_check_later(loop, writer)
            if writer.queue:
                _batch_start(loop, writer)


def _fold_maybe(loop: asyncio.AbstractEventLoop, writer: _Writer) -> None:
    """Start a fold now if enough rows wait, else in FOLD_DELAY seconds; one
    at a time (the rows written meanwhile are counted for the next)."""
    if writer.fold is not None or not writer.unfolded:
        return
    if writer.unfolded >= FOLD_ROWS:
        _fold_start(loop, writer)
    elif writer.fold_timer is None:
        writer.fold_timer = loop.call_later(FOLD_DELAY, _fold_start, loop, writer)


def _fold_start(loop: asyncio.AbstractEventLoop, writer: _Writer) -> None:
    if writer.fold_timer is not None:
        writer.fold_timer.cancel()
        writer.fold_timer = None
    writer.unfolded = 0
    writer.fold = loop.create_task(_fold_run(loop))
    writer.fold.add_done_callback(lambda task: _fold_done(loop, writer, task))


async def _fold_run(loop: asyncio.AbstractEventLoop) -> None:
    # A task, so a loop shutting down cancels the wait (the thread finishes
    # the fold) instead of the thread reporting to a closed loop.
    await loop.run_in_executor(_FOLDER, ledger_fold_pending)


def _fold_done(loop: asyncio.AbstractEventLoop, writer: _Writer, task: asyncio.Task[None]) -> None:
    writer.fold = None
    if not task.cancelled():
        _fold_maybe(loop, writer)


def _leases_check_later(loop: asyncio.AbstractEventLoop, writer: _Writer) -> None:
    """While this process holds budget leases, give back the idle ones every
    LEASE_IDLE_SECONDS, on the folding thread (its own connection), so an
    idle process holds no headroom for long and the shared thread never
    waits for it (apps/budgets/leases.py, decision 0011)."""
    if writer.lease_timer is None and budgeting.leases_held():
        writer.lease_timer = loop.call_later(
            budgeting.LEASE_IDLE_SECONDS, _leases_check, loop, writer
        )


def _leases_check(loop: asyncio.AbstractEventLoop, writer: _Writer) -> None:
    writer.lease_timer = None
    task = loop.create_task(_leases_run(loop))
    task.add_done_callback(
        lambda done: None if done.cancelled() else _leases_check_later(loop, writer)
    )
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _leases_run(loop: asyncio.AbstractEventLoop) -> None:
    await loop.run_in_executor(_FOLDER, _leases_return)


def _leases_return() -> None:
    close_old_connections()  # the folding thread's connection, past its age or broken
    budgeting.leases_return()


# Lease-return tasks in flight (the loop keeps only weak references to tasks).
_background: set[asyncio.Task[None]] = set()


def ledger_fold_pending() -> None:
    """Synchronous, on the folding thread: fold the unfolded rows into the
    rollups. A failure is logged; the rows stay for the next fold or reader."""
    close_old_connections()  # this thread's connection, past its age or broken
    try:
        while ledger_fold() == FOLD_MAX:
            pass
    except Exception:
        logger.exception("Could not fold ledger rows into the rollups; the next fold will")


def ledger_batch_write(batch: list[tuple[UsageRecord, Spend]]) -> None:
    """Synchronous: each row's settlement, then the rows and their rollups in
    one transaction. A failed batch is retried row by row."""
    rows = [row for row, _ in batch]
    # --- budgets first: settle each hold to its row's real cost and release
    # the rest. The rows' commit right after on this connection makes the
    # settlements durable too, so they need not wait for a flush of their own
    # (decision 0009); a budget that charged a row the ledger then failed to
    # write errs on the side of spend.
    # One statement for the whole batch on PostgreSQL (budget_settle_many).
    settlements = [(spend, row.cost_micros, row.completion_tokens) for row, spend in batch]
    budgeting.settle_many(settlements=settlements, flushed_by_next=True)
    try:
        _rows_commit(rows)
    except Exception:
        if len(rows) == 1:
            logger.exception("Could not write the usage record for a %s request", rows[0].status)
        else:
            logger.warning("A batch of %d usage records failed; writing them one by one", len(rows))
            for row in rows:
                ledger_batch_write_one(row)


def ledger_batch_write_one(row: UsageRecord) -> None:
    try:
        _rows_commit([row])
    except Exception:
        logger.exception("Could not write the usage record for a %s request", row.status)


def _rows_commit(rows: list[UsageRecord]) -> None:
    """The ledger rows, unfolded (the analytics rollups count them later),
    in one transaction whose commit also makes the settlements durable."""
    with transaction.atomic():
        _rows_insert(rows)


@cache
def _insert_fields() -> tuple[tuple[Field[Any, Any], str], ...]:
    """(field, column) of every column the insert fills (all but the id)."""
    fields = UsageRecord._meta.local_concrete_fields
    return tuple((f, str(f.column)) for f in fields if not f.primary_key)


def _rows_insert(rows: list[UsageRecord]) -> None:
    """One INSERT for all rows, values prepared by each field as ``save()``
    would (``auto_now_add``, UUIDs, JSON), without the ORM's per-call query
    building. The rows keep no primary key: nothing on the path reads it."""
    fields = _insert_fields()
    quote = connection.ops.quote_name
    one = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {quote(UsageRecord._meta.db_table)} "
        f"({', '.join(quote(c) for _, c in fields)}) VALUES {', '.join([one] * len(rows))}"
    )
    params = [
        f.get_db_prep_save(f.pre_save(row, True), connection) for row in rows for f, _ in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
