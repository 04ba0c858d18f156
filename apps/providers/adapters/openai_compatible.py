"""Any OpenAI-compatible vendor (OpenAI, OpenRouter, Together, Groq, vLLM…).

The SDK builds and authenticates requests and maps HTTP errors; its raw
response API hands us the body, which we parse as plain JSON (see
``_sse_events``). The SDK's own retries are off: the gateway retries and falls over in one
place for every adapter, using ``retryable`` and ``retry_after`` from here.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from ..catalog import ModelSpec, ProviderSpec
from ..egress import Egress
from ..guards import api_key_env_problem, base_url_problem, provider_key_read
from ..replicas import pool_for
from ..tokens import estimate_tokens
from .base import ChatMessage, GenerationParams, PromptTokens, ProviderError, TextDelta, Usage

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date), or None."""
    value = headers.get("retry-after-ms") if headers else None
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after") if headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


async def _sse_events(response: Any) -> AsyncIterator[dict[str, Any]]:
    """JSON payloads of a server-sent event stream, until ``[DONE]``.

    Parsed here rather than by the SDK's typed models: building a pydantic
    object per token was most of the gateway's CPU time on streamed answers.
    """
    async for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, ": keep-alive" comments, event names
        data = line[5:].strip()
        if data == "[DONE]":
            return
        payload = json.loads(data)
        if "error" in payload:
            error = payload["error"] or {}
            raise ProviderError(
                f"The vendor reported an error mid-stream: {error.get('message', 'unknown')}",
                code="upstream_stream_error",
                retryable=True,
            )
        yield payload


def _message(message: ChatMessage) -> dict[str, str]:
    out = {"role": message.role, "content": message.content}
    if message.name:
        out["name"] = message.name
    return out


def _checked_key(provider: ProviderSpec) -> str:
    """The provider's key, after re-checking the row (see ..guards): a row
    saved around the admin form must not read any variable or reach any URL."""
    problem = base_url_problem(provider.base_url) or api_key_env_problem(provider.api_key_env)
    if problem:
        raise ProviderError(
            f"{provider.name}: {problem}", code="provider_misconfigured", status=503
        )
    return provider_key_read(name=provider.api_key_env) if provider.api_key_env else "none"


def _replica_fault(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None)
    return status is None or status >= 500  # connection errors and timeouts have none


class OpenAICompatibleAdapter:
    def __init__(self, model: ModelSpec) -> None:
        import openai

        self.model = model
        self._openai = openai
        self._clients: dict[str, Any] = {}  # base URL -> SDK client
        self._client_key: str | None = None
        self._pool = pool_for(model.provider.name, model.provider.base_urls)

    def _client_get(self, url: str = "") -> Any:
        """The SDK client for ``url`` (a replica; default the base URL),
        rebuilt if the key in the environment changed."""
        provider = self.model.provider
        url = url or provider.base_url
        key = _checked_key(provider)
        if not key:
            raise ProviderError(
                f"{provider.name}: its API key variable {provider.api_key_env} is not set.",
                code="provider_misconfigured",
                status=503,
            )
        if key != self._client_key:
            self._clients, self._client_key = {}, key
        client = self._clients.get(url)
        if client is None:
            problem = base_url_problem(url)
            if problem:  # a replica URL saved around the admin form
                raise ProviderError(f"{provider.name}: {problem}", code="provider_misconfigured")
            client = self._clients[url] = self._openai.AsyncOpenAI(
                base_url=url,
                api_key=key,
                max_retries=0,
                timeout=provider.timeout_seconds,
            )
        return client

    async def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)  # vendors' tokenizers are not available offline

    async def health(self) -> dict[str, object]:
        replicas = {url: {"outstanding": n, "up": up} for url, (n, up) in self._pool.load().items()}
        return {"base_url": self.model.provider.base_url, "replicas": replicas}

    def close(self) -> None:
        pass  # the HTTP pool closes with the process; nothing native to free

    def _arguments(self, messages: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model.upstream_id,
            "messages": [_message(m) for m in messages],
        }
        if params.max_tokens is not None:
            arguments["max_tokens"] = params.max_tokens
        if params.temperature is not None:
            arguments["temperature"] = params.temperature
        if params.top_p is not None:
            arguments["top_p"] = params.top_p
        if params.stop:
            arguments["stop"] = list(params.stop)
        return arguments

    async def stream_chat(
        self, messages: list[ChatMessage], params: GenerationParams, egress: Egress
    ) -> AsyncIterator[TextDelta | PromptTokens | Usage]:
        # The egress guard (egress.GuardedAdapter) has checked this call:
        # adapter_for never hands out this adapter unguarded.
        arguments = self._arguments(messages, params)
        replica = self._pool.pick()
        try:
            with self._pool.using(replica):
                if params.stream:
                    async for item in self._stream(arguments, messages, replica.url):
                        yield item
                else:
                    async for item in self._complete(arguments, replica.url):
                        yield item
            self._pool.succeeded(replica)
        except self._openai.APIError as exc:
            if _replica_fault(exc):  # the gateway's retry goes to another replica
                self._pool.failed(replica)
            raise self._error(exc) from None
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ProviderError(
                f"{self.model.provider.name} sent a malformed response ({type(exc).__name__}).",
                code="upstream_bad_response",
                retryable=True,
            ) from None

    async def _complete(
        self, arguments: dict[str, Any], url: str = ""
    ) -> AsyncIterator[TextDelta | Usage]:
        chat = self._client_get(url).chat.completions
        async with chat.with_streaming_response.create(**arguments) as response:
            body = json.loads(await response.read())
        choice = (body.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        usage = body.get("usage")
        if usage:
            prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
        else:
            prompt = estimate_tokens("".join(m["content"] for m in arguments["messages"]))
            completion = estimate_tokens(text)
        yield TextDelta(text, tokens=completion)
        yield Usage(prompt, completion, choice.get("finish_reason") or "stop", estimated=not usage)

    async def _stream(
        self, arguments: dict[str, Any], messages: list[ChatMessage], url: str = ""
    ) -> AsyncIterator[TextDelta | Usage]:
        chat = self._client_get(url).chat.completions
        text_parts: list[str] = []
        finish_reason: str | None = None
        usage = None
        request = {**arguments, "stream": True, "stream_options": {"include_usage": True}}
        async with chat.with_streaming_response.create(**request) as response:
            async for chunk in _sse_events(response):
                usage = chunk.get("usage") or usage
                for choice in (chunk.get("choices") or [])[:1]:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        text_parts.append(content)
                        yield TextDelta(content)
                    finish_reason = choice.get("finish_reason") or finish_reason
        if finish_reason is None:
            raise ProviderError(
                f"{self.model.provider.name} ended the stream before the answer finished.",
                code="upstream_stream_truncated",
                retryable=True,
            )
        if usage:
            yield Usage(usage["prompt_tokens"], usage["completion_tokens"], finish_reason)
            return
        # The vendor sent no usage: count what we can, and say it is an estimate.
        prompt = "".join(m.content for m in messages)
        yield Usage(
            estimate_tokens(prompt),
            estimate_tokens("".join(text_parts)),
            finish_reason,
            estimated=True,
        )

    def _error(self, exc: Exception) -> ProviderError:
        openai = self._openai
        name = self.model.provider.name
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError(
                f"{name} timed out.", code="upstream_timeout", status=504, retryable=True
            )
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(
                f"{name} is unreachable.", code="upstream_unreachable", retryable=True
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            return ProviderError(
                f"{name} answered HTTP {status}.",
                code="upstream_rate_limited" if status == 429 else f"upstream_http_{status}",
                status=503 if status in (429, 503) else 502,
                retryable=status in RETRYABLE_STATUS,
                # A request the vendor calls malformed would fail everywhere,
                # except when it is too long for this model's window.
                fallback=status >= 429 or status in (401, 403, 404) or "context" in str(exc),
                retry_after=retry_after_seconds(exc.response.headers),
            )
        return ProviderError(f"{name} failed: {type(exc).__name__}.", code="upstream_error")
