"""The OpenAI wire format, as far as HybridHub speaks it."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)


def _valid_unicode(value: str) -> str:
    """JSON may spell lone UTF-16 surrogates ("\\ud800"); no UTF-8 text holds them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone UTF-16 surrogate, which is not valid Unicode") from None
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _valid_json_strings(value: Any) -> Any:
    """Every key and string inside free-form JSON (schemas, metadata) is valid Unicode."""
    if isinstance(value, str):
        _valid_unicode(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _valid_unicode(key)
            _valid_json_strings(item)
    elif isinstance(value, list):
        for item in value:
            _valid_json_strings(item)
    return value


class WireIn(Schema):
    """A request body's part, validated from the parsed JSON object itself.

    ninja's ``Schema`` wraps whatever it validates in a ``DjangoGetter``, so
    that ORM objects validate too: each field is then read through a Python
    ``__getattr__``, and each field the caller left out raises and catches an
    AttributeError: a completion's body took about 100 µs to validate, on
    every request. A JSON object (a plain dict) needs none of it and goes
    straight to pydantic (18 µs); anything else still takes ninja's path, so
    every answer, error or not, stays what it was
    (tests/api/test_request_bodies.py, docs/decisions/0008).
    """

    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(
        cls, values: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        if type(values) is dict:
            return handler(values)
        return Schema._run_root_validator.__func__(cls, values, handler, info)  # type: ignore[attr-defined]


# Strict types: "yes" is not a boolean, "10" not an integer (OpenAI refuses both).
Text = Annotated[StrictStr, AfterValidator(_valid_unicode)]
Name = Annotated[StrictStr, AfterValidator(_valid_unicode), AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_valid_json_strings)]
FunctionName = Annotated[Name, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
INT32 = 2**31 - 1
INT64 = 2**63 - 1


def _number(low: float, high: float) -> Any:
    return Field(default=None, ge=low, le=high, allow_inf_nan=False)


class ContentPart(WireIn):
    type: StrictStr
    text: Text | None = None


class FunctionCallIn(WireIn):
    name: FunctionName
    arguments: Text = Field(description="The arguments as JSON text, as the model wrote them.")


class ToolCallIn(WireIn):
    id: Annotated[Name, Field(min_length=1, max_length=200)]
    type: Literal["function"] = "function"
    function: FunctionCallIn


class MessageIn(WireIn):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[ContentPart] | None = None
    name: Annotated[Name, Field(max_length=200)] | None = None
    tool_calls: list[ToolCallIn] | None = Field(default=None, max_length=128)
    tool_call_id: Annotated[Name, Field(min_length=1, max_length=200)] | None = None

    @field_validator("content")
    @classmethod
    def text_parts_only(cls, value: Any) -> Any:
        if isinstance(value, list) and any(p.type != "text" for p in value):
            raise ValueError("only text content parts are supported")
        return value

    @model_validator(mode="after")
    def tool_turns_say_which_call(self) -> MessageIn:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a message with role 'tool' needs tool_call_id")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content)
        return self.content or ""


class StreamOptions(WireIn):
    include_usage: StrictBool = False


class FunctionDefIn(WireIn):
    name: FunctionName
    description: Text | None = Field(default=None, max_length=100_000)
    parameters: JsonObject | None = Field(default=None, description="A JSON Schema object.")
    strict: StrictBool | None = None


class ToolIn(WireIn):
    type: Literal["function"]
    function: FunctionDefIn


class NamedFunction(WireIn):
    name: FunctionName


class ToolChoiceNamed(WireIn):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(WireIn):
    name: FunctionName
    description: Text | None = None
    schema_: JsonObject | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormatIn(WireIn):
    type: Literal["text", "json_object", "json_schema"]
    json_schema_: JsonSchemaFormat | None = Field(default=None, alias="json_schema")

    @model_validator(mode="after")
    def schema_with_json_schema(self) -> ResponseFormatIn:
        if (self.type == "json_schema") != (self.json_schema_ is not None):
            raise ValueError("json_schema is required with type 'json_schema', and only then")
        return self

    def as_json(self) -> str:
        """The format as JSON text ("" for plain text, which is the default)."""
        if self.type == "text":
            return ""
        return json.dumps(self.model_dump(by_alias=True, exclude_none=True))


class ChatCompletionIn(WireIn):
    model: Annotated[Name, Field(min_length=1, max_length=100)]
    messages: list[MessageIn] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1, le=INT32)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1, le=INT32)
    temperature: StrictFloat | None = _number(0, 2)
    top_p: StrictFloat | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    stop: Text | list[Text] | None = None
    n: StrictInt = Field(default=1, ge=1, le=1, description="Only one choice is supported.")
    user: Annotated[Name, Field(max_length=200)] | None = None
    tools: list[ToolIn] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceNamed | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormatIn | None = None
    seed: StrictInt | None = Field(default=None, ge=-INT64 - 1, le=INT64)
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(default=None, ge=0, le=20)
    presence_penalty: StrictFloat | None = _number(-2, 2)
    frequency_penalty: StrictFloat | None = _number(-2, 2)
    logit_bias: dict[Annotated[StrictStr, Field(pattern=r"^[0-9]{1,9}$")], StrictFloat] | None = (
        Field(default=None, max_length=1024, description="Token id -> bias (-100 to 100).")
    )
    metadata: (
        dict[Annotated[Name, Field(max_length=64)], Annotated[Name, Field(max_length=512)]] | None
    ) = Field(default=None, max_length=16)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    sensitivity: Annotated[Name, Field(max_length=30)] | None = Field(
        default=None,
        description="HybridHub only: raise this request to a sensitivity level "
        "(never lower). Same as the X-HybridHub-Sensitivity header.",
    )

    @field_validator("stop")
    @classmethod
    def at_most_four_stops(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @field_validator("logit_bias")
    @classmethod
    def biases_in_range(cls, value: Any) -> Any:
        if value and any(not -100 <= bias <= 100 for bias in value.values()):
            raise ValueError("biases must be between -100 and 100")
        return value

    @model_validator(mode="after")
    def tool_fields_need_tools(self) -> ChatCompletionIn:
        if self.tool_choice is not None and not self.tools:
            raise ValueError("tool_choice is only allowed when tools are specified")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class EmbeddingIn(WireIn):
    model: Annotated[Name, Field(min_length=1, max_length=100)]
    input: Annotated[Text, Field(min_length=1)] | list[Annotated[Text, Field(min_length=1)]] = (
        Field(description="A text, or up to 2048 texts (token arrays are not accepted).")
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = Field(default=None, ge=1, le=65_536)
    user: Annotated[Name, Field(max_length=200)] | None = None
    sensitivity: Annotated[Name, Field(max_length=30)] | None = None

    @field_validator("input")
    @classmethod
    def bounded_batch(cls, value: Any) -> Any:
        if isinstance(value, list) and not 1 <= len(value) <= 2048:
            raise ValueError("between 1 and 2048 inputs")
        return value

    def texts(self) -> tuple[str, ...]:
        return (self.input,) if isinstance(self.input, str) else tuple(self.input)


class EmbeddingOut(Schema):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsageOut(Schema):
    prompt_tokens: int
    total_tokens: int


class EmbeddingListOut(Schema):
    object: Literal["list"] = "list"
    data: list[EmbeddingOut]
    model: str
    usage: EmbeddingUsageOut


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
    confidence: float | None = Field(
        default=None,
        description="How sure a local model was of its answer: the geometric mean, over "
        "its tokens, of the probability of its likeliest next token (runtimes that say; "
        "streamed: on the chunk that ends the answer; low values are worth asking a "
        "stronger model).",
    )
    cascaded_from: dict[str, Any] | None = Field(
        default=None,
        description="With X-HybridHub-Cascade: the local model whose unsure answer was "
        "replaced by this one, and its confidence.",
    )


class FunctionCallOut(Schema):
    name: str
    arguments: str


class ToolCallOut(Schema):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class MessageOut(Schema):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCallOut] | None = None


class LogprobsOut(Schema):
    content: list[dict[str, Any]] | None = None


class ChoiceOut(Schema):
    index: int
    message: MessageOut
    finish_reason: str
    logprobs: LogprobsOut | None = None


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
