"""Provider adapters: one class per runtime kind behind one small interface.

Only this package imports ``ctransformers``, ``llama_cpp`` or ``openai``, and
only when a model of that kind is used.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.core.privacy import PrivacyZone

from ..catalog import ModelSpec
from ..models import Provider
from .base import (
    Adapter,
    ChatMessage,
    Embeddings,
    GenerationParams,
    Piece,
    PromptTokens,
    ProviderError,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "Adapter",
    "ChatMessage",
    "Embeddings",
    "GenerationParams",
    "Piece",
    "PromptTokens",
    "ProviderError",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "adapter_for",
    "local_load",
]

_adapters: dict[tuple[int, str], Adapter] = {}


def adapter_for(model: ModelSpec) -> Adapter:
    """The warm adapter for ``model``, built on first use and after edits.

    The only way to get an adapter: one for a provider outside the on-prem
    zone always comes wrapped in the egress guard (egress.GuardedAdapter),
    so no adapter can send data off the machine unchecked.
    """
    key = (model.id, model.version)
    adapter = _adapters.get(key)
    if adapter is None:
        for stale in [k for k in _adapters if k[0] == model.id]:
            _adapters.pop(stale).close()
        adapter = _adapters[key] = _guarded(_build(model), model)
    return adapter


def _guarded(adapter: Adapter, model: ModelSpec) -> Adapter:
    from ..egress import GuardedAdapter

    if PrivacyZone(model.provider.privacy_zone).leaves_the_machine:
        return GuardedAdapter(adapter, model.provider)
    return adapter


Builder = Callable[[ModelSpec], Adapter]


def _openai_compatible(model: ModelSpec) -> Adapter:
    from .openai_compatible import OpenAICompatibleAdapter

    return OpenAICompatibleAdapter(model)


def _ctransformers(model: ModelSpec) -> Adapter:
    from .local import LocalAdapter
    from .local_ctransformers import CTransformersEngine

    return LocalAdapter(model, CTransformersEngine)


def _llama_cpp(model: ModelSpec) -> Adapter:
    from .local import LocalAdapter
    from .local_llama_cpp import LlamaCppEngine

    return LocalAdapter(model, LlamaCppEngine)


# Provider kind -> how to build its adapter. A new vendor or runtime is a new
# entry here (and a Provider.Kind), never an ``if`` in the gateway.
BUILDERS: dict[str, Builder] = {
    Provider.Kind.OPENAI_COMPATIBLE: _openai_compatible,
    Provider.Kind.LOCAL_CTRANSFORMERS: _ctransformers,
    Provider.Kind.LOCAL_LLAMA_CPP: _llama_cpp,
}


def _build(model: ModelSpec) -> Adapter:
    builder = BUILDERS.get(model.provider.kind)
    if builder is None:
        raise ValueError(f"Unknown provider kind {model.provider.kind!r}")
    return builder(model)


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
