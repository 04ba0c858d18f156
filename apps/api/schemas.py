"""The OpenAI wire format, as far as HybridHub speaks it."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import Field, field_validator


class ContentPart(Schema):
    type: str
    text: str | None = None


class MessageIn(Schema):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    @field_validator("content")
    @classmethod
    def text_parts_only(cls, value: Any) -> Any:
        if isinstance(value, list) and any(p.type != "text" for p in value):
            raise ValueError("only text content parts are supported")
        return value

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content)
        return self.content or ""


class StreamOptions(Schema):
    include_usage: bool = False


class ChatCompletionIn(Schema):
    model: str = Field(min_length=1, max_length=100)
    messages: list[MessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is supported.")
    user: str | None = Field(default=None, max_length=200)
    sensitivity: str | None = Field(
        default=None,
        max_length=30,
        description="HybridHub only: raise this request to a sensitivity level "
        "(never lower). Same as the X-HybridHub-Sensitivity header.",
    )

    @field_validator("stop")
    @classmethod
    def at_most_four_stops(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class UsageOut(Schema):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RouteOut(Schema):
    route: str = Field(description="local:<model> or cloud:<model>")
    model: str
    provider: str
    privacy_zone: str
    level: str = Field(description="The request's sensitivity level")
    policy_version: int
    rule: str = Field(description="The routing rule that decided")
    reasons: list[str]


class MessageOut(Schema):
    role: Literal["assistant"] = "assistant"
    content: str


class ChoiceOut(Schema):
    index: int
    message: MessageOut
    finish_reason: str
    logprobs: None = None


class ChatCompletionOut(Schema):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    hybridhub: RouteOut = Field(description="Where the request ran and why (not in OpenAI's API).")


class ModelOut(Schema):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelListOut(Schema):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ErrorDetail(Schema):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorOut(Schema):
    error: ErrorDetail
