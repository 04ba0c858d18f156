"""Provider adapters: one class per runtime kind behind one small interface.

Only this package imports ``ctransformers``, ``llama_cpp`` or ``openai``, and
only when a model of that kind is used.
"""

from __future__ import annotations

from ..catalog import ModelSpec
from ..models import Provider
from .base import (
    Adapter,
    ChatMessage,
    GenerationParams,
    PromptTokens,
    ProviderError,
    TextDelta,
    Usage,
)

__all__ = [
    "Adapter",
    "ChatMessage",
    "GenerationParams",
    "PromptTokens",
    "ProviderError",
    "TextDelta",
    "Usage",
    "adapter_for",
    "local_load",
]

_adapters: dict[tuple[int, str], Adapter] = {}


def adapter_for(model: ModelSpec) -> Adapter:
    """The warm adapter for ``model``, built on first use and after edits."""
    key = (model.id, model.version)
    adapter = _adapters.get(key)
    if adapter is None:
        for stale in [k for k in _adapters if k[0] == model.id]:
            _adapters.pop(stale).close()
        adapter = _adapters[key] = _build(model)
    return adapter


def _build(model: ModelSpec) -> Adapter:
    kind = model.provider.kind
    if kind == Provider.Kind.OPENAI_COMPATIBLE:
        from .openai_compatible import OpenAICompatibleAdapter

        return OpenAICompatibleAdapter(model)
    if kind == Provider.Kind.LOCAL_CTRANSFORMERS:
        from .local import LocalAdapter
        from .local_ctransformers import CTransformersEngine

        return LocalAdapter(model, CTransformersEngine)
    if kind == Provider.Kind.LOCAL_LLAMA_CPP:
        from .local import LocalAdapter
        from .local_llama_cpp import LlamaCppEngine

        return LocalAdapter(model, LlamaCppEngine)
    raise ValueError(f"Unknown provider kind {kind!r}")


def local_load() -> dict[str, int]:
    """Requests running or waiting per loaded local model, in this process."""
    loads = {}
    for adapter in list(_adapters.values()):
        in_flight = getattr(adapter, "in_flight", None)
        if isinstance(in_flight, int):
            loads[adapter.model.name] = in_flight  # type: ignore[attr-defined]
    return loads


def adapters_close() -> None:
    """Free every loaded model now, while the runtimes are still importable."""
    while _adapters:
        _adapters.popitem()[1].close()
