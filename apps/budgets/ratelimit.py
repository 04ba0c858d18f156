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


def _redis_admit(
    key: int, minute: datetime, rpm: int | None, tpm: int | None, tokens: int, now: datetime
) -> None:
    req_key, tok_key = _redis_key(key, minute, "req"), _redis_key(key, minute, "tok")
    client = _redis()
    if tpm and int(client.get(tok_key) or 0) >= tpm:
        raise _refuse("tokens", tpm, now)
    pipe = client.pipeline()
    pipe.incr(req_key)
    pipe.expire(req_key, 120)
    pipe.incrby(tok_key, tokens)
    pipe.expire(tok_key, 120)
    count = pipe.execute()[0]
    if rpm and count > rpm:
        raise _refuse("requests", rpm, now)
