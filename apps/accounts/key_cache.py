"""API keys this process has recently authenticated, so that a completion's
authentication needs no database hop of its own.

A cached key is never trusted on its own: the caller re-checks it with
``api_key_recheck`` in the same database round as the rest of the request's
work (apps/gateway/services.py, ``Caller.verify``). So a key revoked or
expired, a user deactivated or removed from the key's team, stops working on
the very next request, in every process, exactly as without the cache.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from .models import ApiKey, Membership
from .services import LAST_USED_RESOLUTION

# Only what never changes for a key (its id, user and team) is read from
# here; the limits come fresh from api_key_recheck on every request.
_TTL_SECONDS = 300.0
_MAX_KEYS = 10_000
_seen: dict[str, tuple[float, ApiKey]] = {}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_cached(*, secret: str) -> ApiKey | None:
    """The key this secret authenticated recently in this process, unverified."""
    entry = _seen.get(_digest(secret))
    if entry is None or time.monotonic() - entry[0] > _TTL_SECONDS:
        return None
    return entry[1]


def api_key_remember(*, secret: str, api_key: ApiKey) -> None:
    if len(_seen) >= _MAX_KEYS:
        _seen.pop(next(iter(_seen)))  # the oldest
    _seen[_digest(secret)] = (time.monotonic(), api_key)


def api_key_cache_clear() -> None:
    _seen.clear()


@dataclass(frozen=True)
class KeyLimits:
    rpm_limit: int | None
    tpm_limit: int | None
    strict_model: bool = False


def api_key_recheck(*, api_key_id: int) -> KeyLimits | None:
    """Whether the key still works (not revoked or expired, its user active
    and still in its team), with its current limits; one statement, plus the
    last-use stamp at most once a minute like api_key_authenticate.

    Plain SQL: it runs on every completion, and building the equivalent ORM
    query (an Exists subquery) cost more than running it.
    """
    now = timezone.now()
    moment = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _RECHECK, [moment(now - LAST_USED_RESOLUTION), api_key_id, True, moment(now)]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    rpm, tpm, strict, stale = row
    if stale:
        ApiKey.objects.filter(pk=api_key_id).update(last_used_at=now)
    return KeyLimits(rpm_limit=rpm, tpm_limit=tpm, strict_model=bool(strict))


_RECHECK = (
    "SELECT k.rpm_limit, k.tpm_limit, k.strict_model,"
    " CASE WHEN k.last_used_at IS NULL OR k.last_used_at < %s THEN 1 ELSE 0 END"
    f" FROM {ApiKey._meta.db_table} k"
    f" JOIN {get_user_model()._meta.db_table} u ON u.id = k.user_id"
    " WHERE k.id = %s AND k.revoked_at IS NULL AND u.is_active = %s"
    " AND (k.expires_at IS NULL OR k.expires_at > %s)"
    f" AND EXISTS (SELECT 1 FROM {Membership._meta.db_table} m"
    " WHERE m.user_id = k.user_id AND m.team_id = k.team_id)"
)
