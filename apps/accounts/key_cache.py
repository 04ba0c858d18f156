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

from django.utils import timezone

from .models import ApiKey
from .services import LAST_USED_RESOLUTION, api_keys_with_membership

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


def api_key_recheck(*, api_key_id: int) -> KeyLimits | None:
    """Whether the key still works (not revoked or expired, its user active
    and still in its team), with its current limits; one query, and the
    last-use stamp at most once a minute like api_key_authenticate."""
    row = (
        api_keys_with_membership()
        .filter(pk=api_key_id, revoked_at__isnull=True, user__is_active=True)
        .filter(is_member=True)  # type: ignore[misc]  # an annotation django-stubs cannot see
        .values_list("rpm_limit", "tpm_limit", "expires_at", "last_used_at")
        .first()
    )
    if row is None:
        return None
    rpm, tpm, expires_at, last_used_at = row
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        return None
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key_id).update(last_used_at=now)
    return KeyLimits(rpm_limit=rpm, tpm_limit=tpm)
