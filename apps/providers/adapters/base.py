from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..egress import Egress

# Field metadata: a fixed vocabulary validated at the door, not user text,
# so the classifier need not read it (see egress.outgoing_texts).
VOCABULARY = "vocabulary"


@dataclass(frozen=True)
class ChatMessage:
    role: str = field(metadata={VOCABULARY: True})
    content: str = ""
    name: str = ""  # the participant's name (OpenAI's ``name``); user text like any other


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    stream: bool = True  # a hint: cloud adapters make one plain call when False


@dataclass(frozen=True)
class TextDelta:
    text: str
    tokens: int = 1  # completion tokens this piece stands for


@dataclass(frozen=True)
class PromptTokens:
    """The exact prompt size, as soon as the runtime knows it."""

    count: int


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop" or "length"
    estimated: bool = False  # True when the runtime could not count exactly


class ProviderError(Exception):
    """A model call failed.

    ``retryable``: the same call may succeed later (429, 5xx, timeouts).
    ``fallback``: another model may serve the request (False for errors in the
    request itself, which every model would reject).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int = 502,
        retryable: bool = False,
        fallback: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable
        self.fallback = fallback
        self.retry_after = retry_after


class Adapter(Protocol):
    def stream_chat(
        self, messages: list[ChatMessage], params: GenerationParams, egress: Egress
    ) -> AsyncIterator[TextDelta | PromptTokens | Usage]:
        """Yield text deltas, then exactly one Usage; raise ProviderError.

        ``egress`` is required: an adapter that sends data off the machine
        passes it to ``egress_check`` before anything leaves.
        """
        ...

    async def count_tokens(self, text: str) -> int: ...

    async def health(self) -> dict[str, object]: ...

    def close(self) -> None: ...
