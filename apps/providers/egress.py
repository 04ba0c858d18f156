"""The one door out: every call that leaves the machine passes through here.

The routing policy already keeps data away from zones its level does not
allow. This guard re-checks, immediately before a call to any provider whose
zone leaves the machine, two things:

- the data's level may reach the provider's zone (``Egress.allowed_zones``);
- what is about to be sent is exactly what the gateway classified: the
  ticket carries a digest of every text field of the outgoing messages and
  parameters (``outgoing_texts``), so a message, a stop string or a new
  field added after the decision, by a fallback, a retry or a bug, is
  refused rather than sent unclassified.

The guard is structural: ``adapters.adapter_for`` wraps every adapter of a
provider outside the on-prem zone in ``GuardedAdapter``, so an adapter that
forgets to check still cannot send.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from apps.core.chat_types import VOCABULARY, ChatMessage, GenerationParams
from apps.core.privacy import PrivacyZone

from .adapters.base import ProviderError

if TYPE_CHECKING:
    from .adapters.base import Adapter, Embeddings, Piece
    from .specs import ProviderSpec

security_log = logging.getLogger("hybridhub.security")

_Fields = TypeVar("_Fields", ChatMessage, GenerationParams)


@dataclass(frozen=True)
class Egress:
    """The ticket a request's data travels with: its level, the privacy
    zones that level may reach, and the digest of the texts classified."""

    level_name: str
    allowed_zones: frozenset[str]
    digest: str = ""


class EgressRefused(ProviderError):
    """Data was about to leave for a zone its level does not allow, or it
    was not what the policy classified. The gateway falls over to the next
    model on the route (an on-prem one may take it) and records a security
    event."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="egress_refused", status=403, fallback=True)


def outgoing_fields(
    messages: Sequence[ChatMessage], params: GenerationParams
) -> Iterator[tuple[str, str]]:
    """(where, text) for every text an adapter may send: each string field
    (or tuple of strings) of each message and of the parameters — content,
    name, stop … — found by type, so a field added later is classified and
    guarded without anyone remembering to list it here. Fields from a fixed
    vocabulary say so in their metadata (``VOCABULARY``) and are skipped.
    ``where`` reads like ``messages[2].content`` or ``stop[0]``."""
    for index, message in enumerate(messages):
        yield from ((f"messages[{index}].{where}", text) for where, text in _strings(message))
    yield from _strings(params)


def outgoing_texts(messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[str]:
    return (text for _, text in outgoing_fields(messages, params))


def with_texts(
    messages: Sequence[ChatMessage], params: GenerationParams, texts: Sequence[str]
) -> tuple[list[ChatMessage], GenerationParams]:
    """The messages and parameters with their texts replaced, in the order
    ``outgoing_texts`` gave them (how redacted texts go back in place)."""
    remaining = iter(texts)
    replaced = [_with_strings(message, remaining) for message in messages]
    return replaced, _with_strings(params, remaining)


def _text_fields(value: object) -> Iterator[tuple[str, object]]:
    for field in dataclasses.fields(value):  # type: ignore[arg-type]
        if not field.metadata.get(VOCABULARY):
            yield field.name, getattr(value, field.name)


def _strings(value: object) -> Iterator[tuple[str, str]]:
    """Strings, and strings of the dataclasses in tuples (tools, tool calls)."""
    for name, item in _text_fields(value):
        if isinstance(item, str):
            yield name, item
        elif isinstance(item, tuple):
            for k, part in enumerate(item):
                if isinstance(part, str):
                    yield f"{name}[{k}]", part
                elif dataclasses.is_dataclass(part):
                    yield from ((f"{name}[{k}].{w}", t) for w, t in _strings(part))


def _with_strings(value: _Fields, texts: Iterator[str]) -> _Fields:
    changes: dict[str, object] = {}
    for name, item in _text_fields(value):
        if isinstance(item, str):
            changes[name] = next(texts)
        elif isinstance(item, tuple):
            changes[name] = tuple(_part_with_strings(part, texts) for part in item)
    return dataclasses.replace(value, **changes)  # type: ignore[arg-type]


def _part_with_strings(part: object, texts: Iterator[str]) -> object:
    if isinstance(part, str):
        return next(texts)
    if dataclasses.is_dataclass(part) and not isinstance(part, type):
        return _with_strings(part, texts)  # type: ignore[type-var]
    return part


def texts_digest(texts: Sequence[str] | Iterator[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00\xff")  # a separator no UTF-8 text contains
    return digest.hexdigest()


def egress_check(
    *,
    egress: Egress,
    provider: ProviderSpec,
    messages: Sequence[ChatMessage],
    params: GenerationParams,
) -> None:
    """Raise EgressRefused unless this data may go to this provider."""
    zone = provider.privacy_zone
    if zone == PrivacyZone.ON_PREM:
        return
    if zone not in egress.allowed_zones:
        _refuse(f"{egress.level_name} data may not be sent to {provider.name} ({zone} zone).")
    if egress.digest != texts_digest(outgoing_texts(messages, params)):
        _refuse(f"What was about to be sent to {provider.name} is not what was classified.")


def _refuse(message: str) -> None:
    security_log.error("Egress refused: %s", message)
    raise EgressRefused(message)


def embedding_fields(texts: Sequence[str]) -> tuple[list[ChatMessage], GenerationParams]:
    """Texts to embed, in the shape the classifier and the digest read:
    one user message each (the gateway classifies, the guard re-checks)."""
    return [ChatMessage("user", text) for text in texts], GenerationParams(stream=False)


class GuardedAdapter:
    """An adapter of a provider that leaves the machine, behind the guard."""

    def __init__(self, inner: Adapter, provider: ProviderSpec) -> None:
        self.inner = inner
        self.provider = provider

    async def stream_chat(
        self, messages: list[ChatMessage], params: GenerationParams, egress: Egress
    ) -> AsyncIterator[Piece]:
        egress_check(egress=egress, provider=self.provider, messages=messages, params=params)
        async for item in self.inner.stream_chat(messages, params, egress):
            yield item

    async def embed(self, texts: list[str], dimensions: int | None, egress: Egress) -> Embeddings:
        messages, params = embedding_fields(texts)
        egress_check(egress=egress, provider=self.provider, messages=messages, params=params)
        return await self.inner.embed(texts, dimensions, egress)  # type: ignore[attr-defined,no-any-return]

    async def count_tokens(self, text: str) -> int:
        return await self.inner.count_tokens(text)

    async def health(self) -> dict[str, object]:
        return await self.inner.health()

    def close(self) -> None:
        self.inner.close()
