from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

# The request and answer values live in apps/core/chat_types.py (every layer
# imports them without loading providers); re-exported here for older imports.
from apps.core.chat_types import (
    VOCABULARY,
    ChatMessage,
    Embeddings,
    GenerationParams,
    Piece,
    PromptTokens,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

if TYPE_CHECKING:
    from ..egress import Egress

__all__ = [
    "VOCABULARY",
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
]


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
    ) -> AsyncIterator[Piece]:
        """Yield text deltas, then exactly one Usage; raise ProviderError.

        ``egress`` is required: an adapter that sends data off the machine
        passes it to ``egress_check`` before anything leaves.
        """
        ...

    async def count_tokens(self, text: str) -> int: ...

    async def health(self) -> dict[str, object]: ...

    def close(self) -> None: ...
