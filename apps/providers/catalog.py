"""A read-only snapshot of providers and models, as plain data.

The gateway routes and dispatches against this snapshot, never against ORM
rows: routing stays a pure function, and the request path does no queries.
The snapshot is re-read after ``HYBRIDHUB_CATALOG_TTL_SECONDS``.
"""

from __future__ import annotations

import importlib.metadata
import time
from dataclasses import dataclass, field
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings

from .models import LanguageModel, ModelFallback, Provider


@dataclass(frozen=True)
class ProviderSpec:
    id: int
    name: str
    kind: str
    privacy_zone: str
    base_url: str
    api_key_env: str
    timeout_seconds: float
    max_retries: int
    version: str  # changes whenever the row does; adapters rebuild on change

    @property
    def is_local(self) -> bool:
        return self.kind in Provider.LOCAL_KINDS


@dataclass(frozen=True)
class LocalSpec:
    model_file: str
    model_type: str
    gpu_layers: int
    threads: int
    context_length: int
    chat_template: str
    custom_chat_template: str
    max_queue: int
    queue_timeout_seconds: float


@dataclass(frozen=True)
class ModelSpec:
    id: int
    name: str
    provider: ProviderSpec
    upstream_id: str
    context_window: int
    input_price_per_mtok: int
    output_price_per_mtok: int
    team_ids: frozenset[int]  # empty: every team
    fallback_names: tuple[str, ...]
    local: LocalSpec | None
    version: str

    def allowed_for(self, team_id: int | None) -> bool:
        return not self.team_ids or team_id in self.team_ids

    def cost_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        """Integer micro-dollars, rounded up so spend is never under-counted."""
        total = prompt_tokens * self.input_price_per_mtok
        total += completion_tokens * self.output_price_per_mtok
        return -(-total // 1_000_000)


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    loaded_at: float = 0.0

    def get(self, name: str) -> ModelSpec | None:
        return self.models.get(name)

    def for_team(self, team_id: int | None) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.allowed_for(team_id)]


def resolve_model_file(model_file: str) -> Path:
    """A path on disk, or ``package:<distribution>/<file name>`` inside a wheel.

    The package form finds the file through the distribution's metadata, so
    the package's own code is never imported.
    """
    if not model_file.startswith("package:"):
        return Path(model_file).expanduser()
    dist, _, filename = model_file.removeprefix("package:").partition("/")
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(f"Package {dist!r} is not installed.") from exc
    for entry in files:
        if entry.name == filename:
            return Path(str(entry.locate()))
    raise FileNotFoundError(f"{filename!r} is not in package {dist!r}.")


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
    )


def _model_spec(m: LanguageModel, fallbacks: tuple[str, ...]) -> ModelSpec:
    provider = _provider_spec(m.provider)
    local = None
    if provider.is_local:
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
    models = {m.name: _model_spec(m, tuple(fallbacks.get(m.pk, ()))) for m in rows}
    return Catalog(models=models, loaded_at=time.monotonic())


_cached = Catalog()


def catalog_invalidate() -> None:
    global _cached
    _cached = Catalog()


async def catalog_aget() -> Catalog:
    global _cached
    ttl = settings.HYBRIDHUB_CATALOG_TTL_SECONDS
    if not _cached.loaded_at or time.monotonic() - _cached.loaded_at > ttl:
        _cached = await sync_to_async(catalog_load)()
    return _cached
