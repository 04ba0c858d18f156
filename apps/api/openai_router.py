"""OpenAI-compatible endpoints: parse, call the gateway once, shape the reply."""

from __future__ import annotations

import base64
import json
import logging
import struct
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from functools import partial
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Router

from apps.accounts.key_cache import api_key_recheck
from apps.accounts.models import ApiKey
from apps.core.chat_types import (
    ChatMessage,
    GenerationParams,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from apps.gateway.embeddings import EmbeddingRequest, embeddings_create
from apps.gateway.errors import GatewayError
from apps.gateway.services import (
    Caller,
    ChatRequest,
    Completion,
    cascade_request,
    completion_start,
    models_for_team,
)

from .auth import UNVERIFIED, ApiKeyAuth
from .errors import error_body
from .schemas import (
    ChatCompletionIn,
    ChatCompletionOut,
    EmbeddingIn,
    EmbeddingListOut,
    ErrorOut,
    MessageIn,
    ModelListOut,
    ModelOut,
    ToolIn,
)

logger = logging.getLogger(__name__)

router = Router(auth=ApiKeyAuth(), tags=["OpenAI-compatible"])

ERRORS: dict[int, Any] = {code: ErrorOut for code in (400, 401, 404, 413, 429, 502, 503)}


def _caller(request: HttpRequest) -> Caller:
    api_key: ApiKey = request.auth  # type: ignore[attr-defined]
    caller = Caller(
        user_id=api_key.user_id,
        team_id=api_key.team_id,
        api_key_id=api_key.pk,
        rpm_limit=api_key.rpm_limit,
        tpm_limit=api_key.tpm_limit,
        strict_model=api_key.strict_model,
    )
    if getattr(request, UNVERIFIED, False):
        return replace(caller, verify=partial(_verified, caller))
    return caller


def _verified(caller: Caller) -> Caller | None:
    """The cached key's caller as the database has it now (sync: the gateway's hop)."""
    assert caller.api_key_id is not None
    limits = api_key_recheck(api_key_id=caller.api_key_id)
    if limits is None:
        return None
    return replace(
        caller,
        rpm_limit=limits.rpm_limit,
        tpm_limit=limits.tpm_limit,
        strict_model=limits.strict_model,
        verify=None,
    )


def _message(m: MessageIn) -> ChatMessage:
    return ChatMessage(
        m.role,
        m.text(),
        m.name or "",
        tool_calls=tuple(
            ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ()
        ),
        tool_call_id=m.tool_call_id or "",
        content_null=m.content is None and bool(m.tool_calls),
    )


def _tool(t: ToolIn) -> Tool:
    f = t.function
    parameters = json.dumps(f.parameters) if f.parameters is not None else ""
    return Tool(f.name, f.description or "", parameters, f.strict)


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "model_dump"):
        value = value.model_dump(by_alias=True, exclude_none=True)
    return json.dumps(value)


def _params(body: ChatCompletionIn) -> GenerationParams:
    tools = tuple(_tool(t) for t in body.tools or ())
    return GenerationParams(
        max_tokens=body.max_completion_tokens or body.max_tokens,
        max_tokens_field="max_completion_tokens" if body.max_completion_tokens else "max_tokens",
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stop_sequences(),
        stream=body.stream,
        tools=tools,
        tool_choice=_json_text(body.tool_choice),
        parallel_tool_calls=body.parallel_tool_calls if tools else None,
        response_format=body.response_format.as_json() if body.response_format else "",
        seed=body.seed,
        logprobs=body.logprobs,
        top_logprobs=body.top_logprobs,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        logit_bias=tuple((int(k), v) for k, v in (body.logit_bias or {}).items()),
        metadata=_json_text(body.metadata),
        user=body.user or "",
        reasoning_effort=body.reasoning_effort or "",
        service_tier=body.service_tier or "",
    )


def _chat_request(body: ChatCompletionIn, request: HttpRequest, caller: Caller) -> ChatRequest:
    """The request in the gateway's terms. Strict model: the header here, the
    key's option in the gateway (the header can turn it on, never off)."""
    # META, not request.headers: that dictionary of every header costs more than the two reads
    strict = request.META.get("HTTP_X_HYBRIDHUB_STRICT_MODEL", "").strip().lower()
    return ChatRequest(
        model=body.model,
        messages=tuple(_message(m) for m in body.messages),
        params=_params(body),
        end_user=body.user or "",
        sensitivity=body.sensitivity or request.META.get("HTTP_X_HYBRIDHUB_SENSITIVITY", ""),
        # the key's own option joins in the gateway, once the key is re-checked
        strict_model=strict in ("true", "1", "yes"),
    )


def _route_info(completion: Completion) -> dict[str, Any]:
    model = completion.model
    return {
        "route": completion.route,
        "model": model.name,
        "provider": model.provider.name,
        "privacy_zone": model.provider.privacy_zone,
        "level": completion.decision.level_name,
        "policy_version": completion.decision.policy_version,
        "rule": completion.decision.rule_name,
        "reasons": completion.reasons,
    }


def _route_headers(response: HttpResponseBase, completion: Completion) -> HttpResponseBase:
    reason = "; ".join(completion.reasons)
    response["X-HybridHub-Route"] = completion.route
    response["X-HybridHub-Level"] = completion.decision.level_name
    response["X-HybridHub-Policy"] = (
        f"v{completion.decision.policy_version} {completion.decision.rule_id}"
    )
    # Header values are ASCII: the arrows of the reasons become "->".
    ascii_reason = reason.replace("→", "->").encode("ascii", "replace").decode()
    response["X-HybridHub-Reason"] = ascii_reason[:1000]
    response["X-Request-Id"] = completion.id
    if warnings := completion.attempts.spend.warnings:
        text = "; ".join(warnings).encode("ascii", "replace").decode()
        response["X-HybridHub-Budget-Warning"] = text[:500]
    return response


def _usage(completion: Completion) -> dict[str, int]:
    tally = completion.tally
    return {
        "prompt_tokens": tally.prompt_tokens,
        "completion_tokens": tally.completion_tokens,
        "total_tokens": tally.prompt_tokens + tally.completion_tokens,
    }


@router.post(
    "/chat/completions",
    auth=ApiKeyAuth(deferred=True),
    response={200: ChatCompletionOut, **ERRORS},
    summary="Create a chat completion (streamed with stream=true)",
)
async def chat_completions(request: HttpRequest, body: ChatCompletionIn) -> HttpResponseBase:
    caller = _caller(request)
    chat = _chat_request(body, request, caller)
    cascade = _cascade_asked(request, body)
    completion = await completion_start(caller=caller, request=chat)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
            _sse(completion, include_usage=include_usage), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
    else:
        message, logprobs = await _answer(completion)
        route: dict[str, Any] = {"confidence": completion.tally.confidence}
        if cascade and (stronger := await _cascade(caller, chat, completion)):
            route["cascaded_from"] = {
                "model": completion.model.name, "confidence": completion.tally.confidence,
            }  # fmt: skip
            completion, (message, logprobs) = stronger
            route["confidence"] = completion.tally.confidence
        response = JsonResponse(
            {
                "id": completion.id,
                "object": "chat.completion",
                "created": completion.created,
                "model": completion.model.name,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": completion.tally.finish_reason or "stop",
                        "logprobs": logprobs,
                    }
                ],
                "usage": _usage(completion),
                "system_fingerprint": None,
                "hybridhub": {**_route_info(completion), **route},
            }
        )
    return _route_headers(response, completion)


def _cascade_asked(request: HttpRequest, body: ChatCompletionIn) -> bool:
    """``X-HybridHub-Cascade: true``: when a local model answers and was
    unsure of its answer, ask a stronger model the policy permits (_cascade).
    Non-streamed requests only: a streamed answer is on its way before the
    model's confidence in it is known."""
    value = request.META.get("HTTP_X_HYBRIDHUB_CASCADE", "").strip().lower()
    if value not in ("true", "1", "yes"):
        return False
    if body.stream:
        raise GatewayError(
            "X-HybridHub-Cascade works on non-streamed requests: a streamed answer is on "
            "its way before the model's confidence in it is known.",
            status=400, code="unsupported_parameter", param="stream",
        )  # fmt: skip
    return True


async def _cascade(
    caller: Caller, chat: ChatRequest, first: Completion
) -> tuple[Completion, tuple[dict[str, Any], dict[str, Any] | None]] | None:
    """A stronger model's whole answer when ``first``'s model was unsure of
    its own (the gateway's cascade_request). None when it was sure, or no
    stronger model may answer or could (that request's ledger row says why;
    the first answer stands, its reasons saying so)."""
    again = cascade_request(chat, first)
    if again is None:
        return None
    try:
        second = await completion_start(caller=caller, request=again)
        return second, await _answer(second)
    except GatewayError as exc:
        first.reasons.append(f"cascade: no stronger model answered ({exc.message})")
        return None


async def _answer(completion: Completion) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The whole answer as OpenAI's message: text, tool calls put together
    from their pieces, and the token logprobs if the model gave any."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    logprobs: list[dict[str, Any]] | None = None
    async for piece in completion.pieces():
        if isinstance(piece, ToolCallDelta):
            call = calls.setdefault(
                piece.index,
                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
            )
            call["id"] = call["id"] or piece.id
            call["function"]["name"] += piece.name
            call["function"]["arguments"] += piece.arguments
            continue
        text.append(piece.text)
        if piece.logprobs is not None:
            logprobs = [*(logprobs or ()), *piece.logprobs]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    return message, None if logprobs is None else {"content": logprobs, "refusal": None}


async def _sse(completion: Completion, *, include_usage: bool) -> AsyncIterator[bytes]:
    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk: dict[str, Any] = {
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": completion.created,
            "model": completion.model.name,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }
        if include_usage:
            chunk.setdefault("usage", None)
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    def delta(
        content: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": content, "logprobs": logprobs, "finish_reason": finish}]

    try:
        yield event(delta({"role": "assistant", "content": ""}), hybridhub=_route_info(completion))
        async with aclosing(completion.pieces()) as pieces:
            async for piece in pieces:
                if isinstance(piece, ToolCallDelta):
                    yield event(delta({"tool_calls": [_call_delta(piece)]}))
                elif piece.text or piece.logprobs:
                    logprobs = {"content": list(piece.logprobs)} if piece.logprobs else None
                    yield event(delta({"content": piece.text}, logprobs=logprobs))
    except GatewayError as exc:
        error = error_body(exc.message, type=exc.type, code=exc.code)
        yield b"data: " + json.dumps(error).encode() + b"\n\n"
        return
    except Exception:  # the row says "error" (Completion.events); the client must know too
        logger.exception("Streaming %s failed", completion.id)
        error = error_body(
            "The server had an error while streaming the answer.", type="server_error", code=None
        )
        yield b"data: " + json.dumps(error).encode() + b"\n\n"
        return
    finally:
        await completion.aclose()  # a client gone before events() began still frees the model
    # The local model's confidence is known once its answer is: on the last chunk.
    sure = completion.tally.confidence
    extra = {} if sure is None else {"hybridhub": {"confidence": sure}}
    yield event(delta({}, completion.tally.finish_reason or "stop"), **extra)
    if include_usage:
        yield event([], usage=_usage(completion))
    yield b"data: [DONE]\n\n"


def _call_delta(piece: ToolCallDelta) -> dict[str, Any]:
    """A tool call piece in OpenAI's streamed form: id, type and name come
    with the first piece of each call only."""
    out: dict[str, Any] = {"index": piece.index, "function": {"arguments": piece.arguments}}
    if piece.id:
        out["id"], out["type"] = piece.id, "function"
    if piece.name:
        out["function"]["name"] = piece.name
    return out


@router.get("/models", response={200: ModelListOut, 401: ErrorOut}, summary="List models")
async def models(request: HttpRequest) -> dict[str, Any]:
    team_id = _caller(request).team_id
    listed = await models_for_team(team_id=team_id)
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": owner}
            for name, owner in listed
        ],
    }


@router.get(
    "/models/{model_id}", response={200: ModelOut, 401: ErrorOut, 404: ErrorOut},
    summary="Retrieve a model",
)  # fmt: skip
async def model_get(request: HttpRequest, model_id: str) -> dict[str, Any]:
    team_id = _caller(request).team_id
    for name, owner in await models_for_team(team_id=team_id):
        if name == model_id:
            return {"id": name, "object": "model", "created": 0, "owned_by": owner}
    raise GatewayError(
        f"The model {model_id!r} does not exist or your team may not use it.",
        status=404, code="model_not_found", param="model",
    )  # fmt: skip


@router.post(
    "/embeddings", response={200: EmbeddingListOut, **ERRORS},
    summary="Create embeddings (routed by the policy: sensitive text embeds on-prem)",
)  # fmt: skip
async def embeddings(request: HttpRequest, body: EmbeddingIn) -> HttpResponseBase:
    result = await embeddings_create(
        caller=_caller(request),
        request=EmbeddingRequest(
            model=body.model, inputs=body.texts(), dimensions=body.dimensions,
            end_user=body.user or "",
            sensitivity=body.sensitivity or request.headers.get("X-HybridHub-Sensitivity", ""),
        ),
    )  # fmt: skip
    tokens = result.embeddings.prompt_tokens
    response = JsonResponse(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
                for i, v in enumerate(result.embeddings.vectors)
            ],
            "model": result.model.name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
    where = "local" if result.model.provider.is_local else "cloud"
    response["X-HybridHub-Route"] = f"{where}:{result.model.name}"
    response["X-HybridHub-Level"] = result.decision.level_name
    return response


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """OpenAI's base64 form: the float32 values, little-endian."""
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
