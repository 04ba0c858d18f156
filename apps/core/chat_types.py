"""The values a chat request and its answer are made of.

Plain frozen dataclasses with no Django, ORM or provider code behind them:
the front doors (API, chat), the gateway, the policy and the provider
adapters all import them from here without loading the catalogue, the
models or any runtime. (apps/providers/adapters re-exports them, for code
that still imports them from there.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Field metadata: a fixed vocabulary validated at the door, not user text,
# so the classifier need not read it (see providers/egress.outgoing_texts).
VOCABULARY = "vocabulary"


@dataclass(frozen=True)
class ToolCall:
    """A function call the assistant made (OpenAI's ``tool_calls[]``).
    ``arguments`` is the JSON text the model wrote: prompt text like any other."""

    id: str
    name: str
    arguments: str = ""


@dataclass(frozen=True)
class ChatMessage:
    role: str = field(metadata={VOCABULARY: True})
    content: str = ""
    name: str = ""  # the participant's name (OpenAI's ``name``); user text like any other
    tool_calls: tuple[ToolCall, ...] = ()  # on assistant turns
    tool_call_id: str = ""  # on tool turns: which call this is the result of
    content_null: bool = field(default=False, metadata={VOCABULARY: True})  # sent as null


@dataclass(frozen=True)
class Tool:
    """A function the model may call. ``parameters`` is its JSON Schema as
    JSON text, so the classifier and the egress digest read it like prose."""

    name: str
    description: str = ""
    parameters: str = ""
    strict: bool | None = None


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    stream: bool = True  # a hint: cloud adapters make one plain call when False
    # The caller named ``max_completion_tokens`` (reasoning models reject ``max_tokens``).
    max_tokens_field: str = field(default="max_tokens", metadata={VOCABULARY: True})
    tools: tuple[Tool, ...] = ()
    # JSON texts, forwarded as sent (after validation at the door): they may
    # hold user text (a schema's descriptions, a function name), so they are
    # classified and covered by the egress digest like any string field.
    tool_choice: str = ""
    response_format: str = ""
    metadata: str = ""
    user: str = ""
    parallel_tool_calls: bool | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: tuple[tuple[int, float], ...] = ()  # token id -> bias: numbers only
    reasoning_effort: str = field(default="", metadata={VOCABULARY: True})
    service_tier: str = field(default="", metadata={VOCABULARY: True})

    def features(self) -> frozenset[str]:
        """The request fields beyond plain text generation that it uses."""
        used = {
            "tools": bool(self.tools),
            "tool_choice": bool(self.tool_choice),
            "response_format": bool(self.response_format),
            "seed": self.seed is not None,
            "logprobs": bool(self.logprobs),
            "top_logprobs": self.top_logprobs is not None,
            "presence_penalty": self.presence_penalty is not None,
            "frequency_penalty": self.frequency_penalty is not None,
            "logit_bias": bool(self.logit_bias),
            "parallel_tool_calls": self.parallel_tool_calls is not None,
            "reasoning_effort": bool(self.reasoning_effort),
            "service_tier": bool(self.service_tier),
        }
        return frozenset(name for name, on in used.items() if on)


@dataclass(frozen=True)
class TextDelta:
    text: str
    tokens: int = 1  # completion tokens this piece stands for
    logprobs: tuple[dict[str, Any], ...] | None = None  # OpenAI's logprobs.content entries


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call, as OpenAI streams it: the first piece of call
    ``index`` carries its id and name, later ones more of its arguments."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True)
class PromptTokens:
    """The exact prompt size, as soon as the runtime knows it."""

    count: int


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop", "length" or "tool_calls"
    estimated: bool = False  # True when the runtime could not count exactly
    # How sure the local model was of its own answer: the geometric mean, over
    # the tokens it wrote, of the probability of its likeliest next token at
    # that step (greedy: the token it wrote; sampled, however the draw went).
    # None where the runtime does not say (ctransformers, vendors).
    confidence: float | None = None


Piece = TextDelta | ToolCallDelta | PromptTokens | Usage


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int
