"""OpenAI-compatible endpoints: parse, call the gateway once, shape the reply."""

from __future__ import annotations

import json
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
from apps.core.chat_types import ChatMessage, GenerationParams
from apps.gateway.errors import GatewayError
from apps.gateway.services import Caller, ChatRequest, Completion, completion_start, models_for_team

from .auth import UNVERIFIED, ApiKeyAuth
from .errors import error_body
from .schemas import ChatCompletionIn, ChatCompletionOut, ErrorOut, ModelListOut

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
    return replace(caller, rpm_limit=limits.rpm_limit, tpm_limit=limits.tpm_limit, verify=None)


def _chat_request(body: ChatCompletionIn, request: HttpRequest) -> ChatRequest:
    return ChatRequest(
        model=body.model,
        messages=tuple(ChatMessage(m.role, m.text(), m.name or "") for m in body.messages),
        params=GenerationParams(
            max_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=body.stop_sequences(),
            stream=body.stream,
        ),
        end_user=body.user or "",
        sensitivity=body.sensitivity or request.headers.get("X-HybridHub-Sensitivity", ""),
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
    chat = _chat_request(body, request)
    completion = await completion_start(caller=_caller(request), request=chat)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
            _sse(completion, include_usage=include_usage), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
    else:
        text = await completion.collect()
        response = JsonResponse(
            {
                "id": completion.id,
                "object": "chat.completion",
                "created": completion.created,
                "model": completion.model.name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": completion.tally.finish_reason or "stop",
                        "logprobs": None,
                    }
                ],
                "usage": _usage(completion),
                "system_fingerprint": None,
                "hybridhub": _route_info(completion),
            }
        )
    return _route_headers(response, completion)


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

    def delta(content: dict[str, str], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]

    try:
        yield event(delta({"role": "assistant", "content": ""}), hybridhub=_route_info(completion))
        async with aclosing(completion.events()) as pieces:
            async for piece in pieces:
                if piece.text:
                    yield event(delta({"content": piece.text}))
    except GatewayError as exc:
        error = error_body(exc.message, type=exc.type, code=exc.code)
        yield b"data: " + json.dumps(error).encode() + b"\n\n"
        return
    finally:
        await completion.aclose()  # a client gone before events() began still frees the model
    yield event(delta({}, completion.tally.finish_reason or "stop"))
    if include_usage:
        yield event([], usage=_usage(completion))
    yield b"data: [DONE]\n\n"


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
