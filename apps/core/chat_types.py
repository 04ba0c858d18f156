"""The values a chat request and its answer are made of.

Plain frozen dataclasses with no Django, ORM or provider code behind them:
the front doors (API, chat), the gateway, the policy and the provider
adapters all import them from here without loading the catalogue, the
models or any runtime. (apps/providers/adapters re-exports them, for code
that still imports them from there.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Field metadata: a fixed vocabulary validated at the door, not user text,
# so the classifier need not read it (see providers/egress.outgoing_texts).
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
