"""Provider registry writes that must leave a trace."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from .models import Provider, ProviderChange

security_log = logging.getLogger("hybridhub.security")

AUDITED_FIELDS = (
    "name", "kind", "privacy_zone", "base_url", "replica_urls", "api_key_env", "timeout_seconds",
    "max_retries", "enabled",
)  # fmt: skip


def provider_values(provider: Provider) -> dict[str, Any]:
    return {field: getattr(provider, field) for field in AUDITED_FIELDS}


def provider_change_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    provider: Provider,
    action: str,
    before: dict[str, Any] | None = None,
) -> ProviderChange:
    """Record who added, changed or deleted ``provider`` and what changed."""
    after = provider_values(provider) if action != "deleted" else {}
    before = before or {}
    changes = {
        field: [before.get(field), after.get(field)]
        for field in AUDITED_FIELDS
        if before.get(field) != after.get(field)
    }
    security_log.info(
        "Provider %s %s by %s: %s", provider.name, action, actor, sorted(changes) or "no fields"
    )
    return ProviderChange.objects.create(
        actor=actor if isinstance(actor, User) else None,
        provider_name=provider.name,
        action=action,
        changes=changes,
    )
