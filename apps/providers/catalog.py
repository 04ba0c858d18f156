"""A read-only snapshot of providers and models, as plain data.

The gateway routes and dispatches against this snapshot, never against ORM
rows: routing stays a pure function, and the request path does no queries.
The snapshot is re-read after ``HYBRIDHUB_CATALOG_TTL_SECONDS``, and at once
(in every process, apps.core.shared) when a provider or model changes.
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from apps.core.shared import SharedVersion

from .models import LanguageModel, ModelFallback, Provider
from .specs import Catalog, LocalSpec, ModelSpec, ProviderSpec

__all__ = ["Catalog", "LocalSpec", "ModelSpec", "ProviderSpec", "catalog_aget", "catalog_load"]


def _provider_spec(p: Provider) -> ProviderSpec:
    return ProviderSpec(
        id=p.pk,
        name=p.name,
        kind=p.kind,
        privacy_zone=p.privacy_zone,
        base_url=p.base_url,
        api_key_env=p.api_key_env,
        timeout_seconds=p.timeout_seconds,
        max_retries=p.max_retries,
        version=p.updated_at.isoformat(),
        replica_urls=tuple(p.replica_url_list),
    )


def model_spec(m: LanguageModel, fallbacks: tuple[str, ...] = ()) -> ModelSpec:
    """A model row as routing sees it (its provider and teams read from the row)."""
    provider = _provider_spec(m.provider)
    local = None
    if provider.in_process:
        local = LocalSpec(
            model_file=m.model_file,
            model_type=m.model_type,
            gpu_layers=m.gpu_layers,
            threads=m.threads,
            context_length=m.context_window,
            chat_template=m.chat_template,
            custom_chat_template=m.custom_chat_template,
            max_queue=m.max_queue,
            queue_timeout_seconds=m.queue_timeout_seconds,
        )
    return ModelSpec(
        id=m.pk,
        name=m.name,
        provider=provider,
        upstream_id=m.upstream_id,
        context_window=m.context_window,
        input_price_per_mtok=m.input_price_per_mtok,
        output_price_per_mtok=m.output_price_per_mtok,
        team_ids=frozenset(t.pk for t in m.teams.all()),
        fallback_names=fallbacks,
        local=local,
        version=f"{m.updated_at.isoformat()}/{provider.version}",
        tier=m.tier,
        unable=frozenset(
            name
            for name, able in (
                ("tools", m.can_call_tools),
                ("structured_output", m.can_structured_output),
            )
            if not able
        ),
    )


def catalog_load() -> Catalog:
    rows = list(
        LanguageModel.objects.filter(enabled=True, provider__enabled=True)
        .select_related("provider")
        .prefetch_related("teams")
    )
    enabled = {m.pk: m.name for m in rows}
    fallbacks: dict[int, list[str]] = {}
    for link in ModelFallback.objects.order_by("model_id", "position", "pk"):
        if link.fallback_id in enabled:
            fallbacks.setdefault(link.model_id, []).append(enabled[link.fallback_id])
    models = {m.name: model_spec(m, tuple(fallbacks.get(m.pk, ()))) for m in rows}
    return Catalog(models=models, loaded_at=time.monotonic())


_cached = Catalog()
_cached_version: tuple[int, str | None] = (0, None)
catalog_version = SharedVersion("catalog")


def catalog_invalidate() -> None:
    global _cached
    _cached = Catalog()


def catalog_changed(**_: object) -> None:
    """Every process re-reads the catalogue, once this change is committed."""
    transaction.on_commit(catalog_version.bump)


def _stale() -> tuple[int, str | None] | None:
    """The shared version to load under, if the snapshot is too old or another
    process changed the catalogue; None while it is good."""
    version = catalog_version.current()  # read first: a change during the load reloads
    ttl = settings.HYBRIDHUB_CATALOG_TTL_SECONDS
    stale = not _cached.loaded_at or time.monotonic() - _cached.loaded_at > ttl
    return version if stale or version != _cached_version else None


async def catalog_aget() -> Catalog:
    global _cached, _cached_version
    version = _stale()
    if version is not None:
        _cached = await sync_to_async(catalog_load)()
        _cached_version = version
    return _cached


def catalog_get() -> Catalog:
    """The same snapshot as catalog_aget, for synchronous callers (the chat's
    routing preview and history budget): no database read while it is fresh."""
    global _cached, _cached_version
    version = _stale()
    if version is not None:
        _cached = catalog_load()
        _cached_version = version
    return _cached
