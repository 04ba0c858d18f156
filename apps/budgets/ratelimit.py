"""Per-key requests-per-minute and tokens-per-minute limits.

Counted per clock minute in a shared store so every server process sees the
same numbers: the database (one conditional UPDATE per request) or Redis
when ``REDIS_URL`` is set (INCR on a key that expires with its minute).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .errors import RateLimited
from .models import RateWindow


@dataclass(frozen=True)
class RateTicket:
    """An admitted request; its tokens are added to its minute when it ends."""

    api_key_id: int
    minute: datetime


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def _refuse(what: str, limit: int, now: datetime) -> RateLimited:
    wait = 60 - now.second
    return RateLimited(
        f"This API key is limited to {limit} {what} per minute; try again in {wait} s.",
        retry_after=wait,
    )


def rate_admit(
    *, api_key_id: int, rpm: int | None, tpm: int | None, tokens: int, now: datetime | None = None
) -> RateTicket | None:
    """Count one request of ``tokens`` (its prompt) or raise RateLimited."""
    if not rpm and not tpm:
        return None
    now = now or timezone.now()
    minute = _minute(now)
    if settings.REDIS_URL:
        _redis_admit(api_key_id, minute, rpm, tpm, tokens, now)
    else:
        _db_admit(api_key_id, minute, rpm, tpm, tokens, now)
    return RateTicket(api_key_id, minute)


def rate_tokens_add(*, ticket: RateTicket, tokens: int) -> None:
    if tokens <= 0:
        return
    if settings.REDIS_URL:
        _redis().incrby(_redis_key(ticket.api_key_id, ticket.minute, "tok"), tokens)
        return
    RateWindow.objects.filter(api_key_id=ticket.api_key_id, minute=ticket.minute).update(
        tokens=F("tokens") + tokens
    )


def rate_windows_prune(*, now: datetime | None = None) -> int:
    cutoff = _minute(now or timezone.now()) - timedelta(minutes=5)
    return RateWindow.objects.filter(minute__lt=cutoff).delete()[0]


def _db_admit(
    key: int, minute: datetime, rpm: int | None, tpm: int | None, tokens: int, now: datetime
) -> None:
    with transaction.atomic():
        window, _ = RateWindow.objects.get_or_create(api_key_id=key, minute=minute)
        rows = RateWindow.objects.filter(pk=window.pk)
        if rpm:
            rows = rows.filter(requests__lt=rpm)
        if tpm:
            rows = rows.filter(tokens__lt=tpm)
        if rows.update(requests=F("requests") + 1, tokens=F("tokens") + tokens):
            return
        window.refresh_from_db()
    if rpm and window.requests >= rpm:
        raise _refuse("requests", rpm, now)
    raise _refuse("tokens", tpm or 0, now)


# --- Redis --------------------------------------------------------------------------

_client: Any = None


def _redis() -> Any:
    global _client
    if _client is None:
        import redis  # installed with channels-redis

        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


def _redis_key(key: int, minute: datetime, what: str) -> str:
    return f"hybridhub:rate:{key}:{minute:%Y%m%d%H%M}:{what}"


# Check and count in one step on the server, as the database path's
# conditional UPDATE does: a refused request counts nothing, and two
# processes cannot both take the last slot.
_ADMIT_LUA = """
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) > 0 and requests >= tonumber(ARGV[1]) then return 1 end
if tonumber(ARGV[2]) > 0 and tokens >= tonumber(ARGV[2]) then return 2 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 120)
redis.call('INCRBY', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], 120)
return 0
"""


def _redis_admit(
    key: int, minute: datetime, rpm: int | None, tpm: int | None, tokens: int, now: datetime
) -> None:
    keys = [_redis_key(key, minute, "req"), _redis_key(key, minute, "tok")]
    refused = int(_redis().eval(_ADMIT_LUA, 2, *keys, rpm or 0, tpm or 0, max(tokens, 0)))
    if refused == 1:
        raise _refuse("requests", rpm or 0, now)
    if refused == 2:
        raise _refuse("tokens", tpm or 0, now)
