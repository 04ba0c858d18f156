"""Accounts: API key lifecycle. Keyword-only services, one transaction each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from .models import ApiKey, Membership, Team

KEY_PREFIX = "hh"
# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # the full key: shown once, never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    user: User,
    team: Team,
    name: str,
    expires_at: datetime | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    scope: str = ApiKey.Scope.INFERENCE,
    strict_model: bool = False,
) -> IssuedKey:
    if not Membership.objects.filter(user=user, team=team).exists():
        raise ValidationError(f"{user} is not a member of {team}.")
    if not name.strip():
        raise ValidationError("Give the key a name.")
    if scope not in ApiKey.Scope.values:
        raise ValidationError(f"A key's scope is one of {', '.join(ApiKey.Scope.values)}.")
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        user=user, team=team, name=name.strip(), prefix=prefix, secret_hash=_digest(secret),
        expires_at=expires_at, rpm_limit=rpm_limit, tpm_limit=tpm_limit, scope=scope,
        strict_model=strict_model,
    )  # fmt: skip
    return IssuedKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


def api_keys_with_membership() -> QuerySet[ApiKey]:
    """Keys annotated with ``is_member``: whether the owner is still in the key's team.

    A key acts for its owner within its team, so it works only while that
    membership exists: removing someone from a team stops their keys at once,
    without touching the keys (adding them back brings the keys back).
    """
    membership = Membership.objects.filter(user=OuterRef("user"), team=OuterRef("team"))
    return ApiKey.objects.annotate(is_member=Exists(membership))


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The active key for ``secret`` (with user and team loaded), or None.

    Active: not revoked, its user active and still a member of its team.
    """
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    api_key = (
        api_keys_with_membership()
        .select_related("user", "team")
        .filter(prefix=parts[1], revoked_at__isnull=True, user__is_active=True)
        .filter(is_member=True)  # type: ignore[misc]  # an annotation django-stubs cannot see
        .first()
    )
    if (
        api_key is None
        or api_key.is_expired
        or not hmac.compare_digest(api_key.secret_hash, _digest(secret))
    ):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
