"""Per-process leases of budget headroom (docs/decisions/0011).

An exact reservation writes every budget a request falls under and one
reservation row per budget, and its settlement does it again: two write
transactions per request, on the process's one shared database thread,
where ten requests arriving together wait for each other's. A process may
instead hold a *lease*: a slice of the headroom of one set of budgets,
taken with the ordinary reservation statement (so it is an ordinary hold:
counted as reserved, shown to admins, checked against the limit in the
database). The requests that fall under exactly that set reserve from it
in memory, and their costs stay in it (pending) when they end: no
statement. A lease goes back once it has had no request in flight for
``LEASE_IDLE_SECONDS`` (the ledger writer's timer, off the shared thread),
or once it is retired (stale, short, or its budgets moved) and its last
request ended: its rows are released and its pending costs charged as
spent, so an idle process holds nothing for long, and spent is at most one
lease's lifetime behind. If the process dies, its lease's rows
expire and the sweep counts all of them as spent (it cannot know which
part was), so a crash never lets a budget be overspent.

Whether a lease may be taken or used is decided here, from the admit read
(``Applicable``) the gateway has already made, so it costs no statement:
only block budgets (a downgrade budget's "used" steers routing, so those
stay exact), each in its current period, under its warning threshold even
with the slice counted, and with room for a slice many requests wide (a
budget near its limit falls back to exact reservations, which the
database checks one by one).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .selectors import Applicable

# A slice covers this many requests at their worst case, and at most a
# 1/LEASE_SHARE of any of its budgets' allowance; one narrower than
# LEASE_MIN_REQUESTS requests is not taken (exact reservations instead).
LEASE_REQUESTS = 256
LEASE_MIN_REQUESTS = 4
LEASE_SHARE = 50
# New requests use a lease for at most this long after it was taken (a
# quarter of the reservation TTL at most), so the requests on it end long
# before its rows would count as abandoned.
LEASE_USE_SECONDS = 60.0
# A lease with no request in flight for this long goes back (a busy process
# keeps it from one burst of requests to the next).
LEASE_IDLE_SECONDS = 2.0


@dataclass(eq=False)
class Lease:
    code: uuid.UUID  # its reservation rows' hold
    periods: dict[int, Any]  # budget id → the period it was taken in, as its rows hold it
    granted: int  # what each of its reservation rows holds
    # budget id → that period's start as the admit read gives it (SQLite
    # parses it there, not in the reservation's RETURNING): a request whose
    # admit read shows another period does not use the lease.
    seen: dict[int, Any] = field(default_factory=dict)
    taken_at: float = field(default_factory=time.monotonic)
    inflight: int = 0  # the worst cases of its requests in flight
    pending: int = 0  # the costs of its requests that ended, charged when it goes back
    retired: bool = False  # no new requests; given back when inflight is 0
    idle_since: float | None = None  # monotonic time its last request in flight ended


_lock = threading.Lock()
_leases: dict[tuple[int, ...], Lease] = {}
_returning: list[Lease] = []  # retired with nothing in flight: back at the next settlement
# budget id → what this process's leases not yet given back hold on it: all of
# them together stay within 1/LEASE_SHARE of its allowance, however many sets
# of budgets (users, keys) share it, so leases never crowd out other requests.
_held: dict[int, int] = {}


def leases_enabled() -> bool:
    return bool(settings.HYBRIDHUB_BUDGET_LEASES)


def lease_key(applicable: list[Applicable]) -> tuple[int, ...]:
    return tuple(sorted(a.budget_id for a in applicable))


def lease_returns_pending() -> bool:
    return bool(_returning)


def leases_held() -> bool:
    """Whether this process holds a lease or has one to give back."""
    return bool(_leases or _returning)


def lease_eligible(applicable: list[Applicable], amount: int) -> bool:
    """Whether these budgets, as the admit read saw them, may serve a
    request of ``amount`` from a lease."""
    return (
        bool(applicable)
        and amount > 0
        and all(
            not a.downgrade and a.current and a.headroom >= 0 and a.warn_room >= 0
            for a in applicable
        )
    )


def lease_slice(applicable: list[Applicable], amount: int) -> int | None:
    """How much to lease for requests of about ``amount``, or None when the
    budgets are too close to their limit or threshold for a useful slice (or
    this process's other leases on them already hold their share)."""
    with _lock:
        cap = min(
            min(a.allowance // LEASE_SHARE - _held.get(a.budget_id, 0), a.headroom, a.warn_room)
            for a in applicable
        )
    size = min(amount * LEASE_REQUESTS, cap)
    return size if size >= amount * LEASE_MIN_REQUESTS else None


def lease_take(key: tuple[int, ...], applicable: list[Applicable], amount: int) -> Lease | None:
    """Take ``amount`` from this process's lease on ``key``, or None (no
    lease, or it is stale or short, in which case it is retired)."""
    with _lock:
        lease = _leases.get(key)
        if lease is None:
            return None
        fresh = time.monotonic() - lease.taken_at < _use_seconds()
        same = all(lease.seen.get(a.budget_id) == a.period_start for a in applicable)
        if fresh and same and _room(lease) >= amount:
            lease.inflight += amount
            lease.idle_since = None
            return lease
        _retire(key, lease)
        return None


def lease_install(key: tuple[int, ...], lease: Lease) -> None:
    with _lock:
        old = _leases.get(key)
        if old is not None:
            _retire(key, old)
        _leases[key] = lease
        _count(lease, +1)


def lease_give_back(lease: Lease) -> None:
    """A lease taken but not to be used: back at the next settlement."""
    with _lock:
        lease.retired = True
        _returning.append(lease)
        _count(lease, +1)


def lease_grow(lease: Lease, extra: int) -> bool:
    """Move a request on ``lease`` to a worst case ``extra`` higher (a
    fallback model), if the lease has room."""
    with _lock:
        if _room(lease) < extra:
            return False
        lease.inflight += extra
        return True


def lease_leave(lease: Lease, amount: int) -> None:
    """A request of ``amount`` leaves the lease without settling on it."""
    with _lock:
        lease.inflight -= amount
        _idle_maybe(lease)


def lease_settle(done: list[tuple[Lease, int, int]]) -> list[Lease]:
    """Requests (lease, worst case, real cost) ended: their costs stay in
    the lease (pending). Returns the leases to give back now, their pending
    costs to charge: those retired with nothing left in flight. Call before
    the statement; on its failure, ``lease_forget`` them."""
    with _lock:
        for lease, amount, cost in done:
            lease.inflight -= amount
            lease.pending += cost
            _idle_maybe(lease)
        out = _handed_back()
    return out


def leases_due(idle_seconds: float = LEASE_IDLE_SECONDS) -> list[Lease]:
    """The leases to give back now, retired so that no request takes from
    them again: those idle for ``idle_seconds``, past their use, or retired
    with nothing in flight. Their pending costs are to be charged; on the
    statement's failure, ``lease_forget`` them."""
    now = time.monotonic()
    with _lock:
        for key, lease in list(_leases.items()):
            idle = lease.idle_since is not None and now - lease.idle_since >= idle_seconds
            stale = now - lease.taken_at >= _use_seconds()
            if lease.inflight <= 0 and (idle or stale):
                _retire(key, lease)
        out = _handed_back()
    return out


def _handed_back() -> list[Lease]:
    """The leases waiting to go back, now no longer this process's to count."""
    out = list(_returning)
    _returning.clear()
    for lease in out:
        _count(lease, -1)
    return out


def _count(lease: Lease, sign: int) -> None:
    for budget_id in lease.periods:
        held = _held.get(budget_id, 0) + sign * lease.granted
        if held > 0:
            _held[budget_id] = held
        else:
            _held.pop(budget_id, None)


def lease_forget(leases: list[Lease]) -> None:
    """The database no longer matches these leases (a statement failed):
    use them no more; their rows expire and are released by the sweep."""
    with _lock:
        for lease in leases:
            _retire_now(lease)


def leases_reset() -> None:
    """Forget every lease (tests, and a process that lost its database)."""
    with _lock:
        _leases.clear()
        _returning.clear()
        _held.clear()


def _idle_maybe(lease: Lease) -> None:
    """After a request left ``lease``: back at the next settlement if it is
    retired and idle; otherwise, idle, it waits for the next burst."""
    if lease.inflight > 0:
        return
    if lease.retired:
        if lease not in _returning:
            _returning.append(lease)
    else:
        lease.idle_since = time.monotonic()


def _retire_now(lease: Lease) -> None:
    lease.retired = True
    for key, held in list(_leases.items()):
        if held is lease:
            del _leases[key]
    if lease in _returning:
        _returning.remove(lease)


def _retire(key: tuple[int, ...], lease: Lease) -> None:
    lease.retired = True
    if _leases.get(key) is lease:
        del _leases[key]
    if lease.inflight <= 0 and lease not in _returning:
        _returning.append(lease)


def _room(lease: Lease) -> int:
    return lease.granted - lease.inflight - lease.pending


def _use_seconds() -> float:
    return min(LEASE_USE_SECONDS, settings.HYBRIDHUB_BUDGET_RESERVATION_TTL_SECONDS / 4)
