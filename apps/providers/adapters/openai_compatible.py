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
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..catalog import ModelSpec, ProviderSpec
from ..egress import Egress
from ..guards import api_key_env_problem, base_url_problem, provider_key_read
from ..replicas import pool_for
from ..tokens import estimate_tokens
from .base import (
    ChatMessage,
    Embeddings,
    GenerationParams,
    Piece,
    ProviderError,
    TextDelta,
    Tool,
    ToolCallDelta,
    Usage,
)
from .json_post import JsonPoster

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
    async for line in response.aiter_lines():
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


def _message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    out["content"] = None if message.content_null else message.content
    if message.name:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def _tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    if tool.parameters:
        function["parameters"] = json.loads(tool.parameters)
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def request_body(
    model: str, messages: list[ChatMessage], params: GenerationParams
) -> dict[str, Any]:
    """The JSON body of a chat completion, built as a plain dict: the fields
    were validated at the door, and the SDK's typed-parameter transforms were
    over a third of the gateway's CPU on a non-streamed request."""
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in messages]}
    if params.max_tokens is not None:
        body[params.max_tokens_field] = params.max_tokens
    optional = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "parallel_tool_calls": params.parallel_tool_calls,
        "seed": params.seed,
        "logprobs": params.logprobs,
        "top_logprobs": params.top_logprobs,
        "presence_penalty": params.presence_penalty,
        "frequency_penalty": params.frequency_penalty,
        "reasoning_effort": params.reasoning_effort or None,
        "service_tier": params.service_tier or None,
        "user": params.user or None,
    }
    body.update((name, value) for name, value in optional.items() if value is not None)
    if params.stop:
        body["stop"] = list(params.stop)
    if params.tools:
        body["tools"] = [_tool(t) for t in params.tools]
    for name in ("tool_choice", "response_format", "metadata"):
        if text := getattr(params, name):
            body[name] = json.loads(text)
    if params.logit_bias:
        body["logit_bias"] = {str(token): bias for token, bias in params.logit_bias}
    return body


def _tool_call_pieces(calls: list[dict[str, Any]]) -> Iterator[ToolCallDelta]:
    for position, call in enumerate(calls):
        function = call.get("function") or {}
        yield ToolCallDelta(
            index=call.get("index", position),
            id=call.get("id") or "",
            name=function.get("name") or "",
            arguments=function.get("arguments") or "",
        )


def _logprobs(choice: dict[str, Any]) -> tuple[dict[str, Any], ...] | None:
    content = (choice.get("logprobs") or {}).get("content")
    return tuple(content) if content else None


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
        import httpx2
        import openai

        self.model = model
        self._openai = openai
        self._httpx = httpx2
        self._clients: dict[str, Any] = {}  # base URL -> SDK client
        self._posters: dict[int, JsonPoster] = {}  # SDK client's id -> its JSON poster
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
            self._clients, self._posters, self._client_key = {}, {}, key
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

    async def stream_chat(
        self, messages: list[ChatMessage], params: GenerationParams, egress: Egress
    ) -> AsyncIterator[Piece]:
        # The egress guard (egress.GuardedAdapter) has checked this call:
        # adapter_for never hands out this adapter unguarded.
        try:
            body = request_body(self.model.upstream_id, messages, params)
        except ValueError:  # a JSON text field no longer parses (a redacted value in it)
            raise ProviderError(
                "A JSON field of the request (tools, tool_choice, response_format, metadata) "
                "is not valid JSON after redaction.",
                code="unsendable_request", status=400, fallback=True,
            ) from None  # fmt: skip
        replica = self._pool.pick()
        try:
            with self._pool.using(replica):
                if params.stream:
                    async for item in self._stream(body, messages, replica.url):
                        yield item
                else:
                    async for item in self._complete(body, replica.url):
                        yield item
            self._pool.succeeded(replica)
        except self._openai.APIError as exc:
            if _replica_fault(exc):  # the gateway's retry goes to another replica
                self._pool.failed(replica)
            raise self._error(exc) from None
        except self._httpx.TransportError as exc:  # the connection broke while reading
            self._pool.failed(replica)
            raise ProviderError(
                f"{self.model.provider.name} broke the connection ({type(exc).__name__}).",
                code="upstream_stream_truncated",
                retryable=True,
            ) from None
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderError(
                f"{self.model.provider.name} sent a malformed response ({type(exc).__name__}).",
                code="upstream_bad_response",
                retryable=True,
            ) from None

    async def embed(self, texts: list[str], dimensions: int | None, egress: Egress) -> Embeddings:
        body: dict[str, Any] = {
            "model": self.model.upstream_id, "input": texts, "encoding_format": "float"
        }  # fmt: skip
        if dimensions is not None:
            body["dimensions"] = dimensions
        replica = self._pool.pick()
        try:
            with self._pool.using(replica):
                response = await self._post(body, "/embeddings", replica.url)
                try:
                    reply = json.loads(await response.aread())
                finally:
                    await response.aclose()
            self._pool.succeeded(replica)
            data = sorted(reply["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in data]
            usage = reply.get("usage") or {}
            tokens = usage.get("prompt_tokens") or sum(estimate_tokens(t) for t in texts)
        except self._openai.APIError as exc:
            if _replica_fault(exc):
                self._pool.failed(replica)
            raise self._error(exc) from None
        except self._httpx.TransportError:
            self._pool.failed(replica)
            raise ProviderError(
                f"{self.model.provider.name} broke the connection.",
                code="upstream_unreachable", retryable=True,
            ) from None  # fmt: skip
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ProviderError(
                f"{self.model.provider.name} sent a malformed response ({type(exc).__name__}).",
                code="upstream_bad_response",
            ) from None
        if len(vectors) != len(texts):
            raise ProviderError(
                f"{self.model.provider.name} returned {len(vectors)} embeddings for "
                f"{len(texts)} inputs.",
                code="upstream_bad_response",
            )
        return Embeddings(vectors, int(tokens))

    async def _post(
        self, body: dict[str, Any], path: str = "/chat/completions", url: str = ""
    ) -> Any:
        """The raw HTTP response, unread: the SDK's auth, base URL (``url``: a
        replica's), timeouts and error mapping, without its typed request and
        response models."""
        return await self._client_get(url).post(
            path,
            body=body,
            cast_to=self._httpx.Response,
            stream=True,
            stream_cls=self._openai.AsyncStream,
        )

    def _poster(self, url: str) -> JsonPoster:
        client = self._client_get(url)  # checks the key and URL; a new key, new clients
        poster = self._posters.get(id(client))
        if poster is None or poster.client is not client:
            timeout = self.model.provider.timeout_seconds
            poster = self._posters[id(client)] = JsonPoster(client, "/chat/completions", timeout)
        return poster

    async def _complete(self, body: dict[str, Any], url: str = "") -> AsyncIterator[Piece]:
        # The SDK's URL, headers and errors on a cheaper HTTP client (json_post.py).
        reply = json.loads(await self._poster(url).post(body))
        choice = (reply.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        usage = reply.get("usage")
        if usage:
            prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
        else:
            prompt = estimate_tokens("".join(str(m["content"] or "") for m in body["messages"]))
            completion = estimate_tokens(text + json.dumps(message.get("tool_calls") or ""))
        if text or not message.get("tool_calls"):
            yield TextDelta(text, tokens=completion, logprobs=_logprobs(choice))
        for piece in _tool_call_pieces(message.get("tool_calls") or []):
            yield piece
        yield Usage(prompt, completion, choice.get("finish_reason") or "stop", estimated=not usage)

    async def _stream(
        self, body: dict[str, Any], messages: list[ChatMessage], url: str = ""
    ) -> AsyncIterator[Piece]:
        text_parts: list[str] = []
        finish_reason: str | None = None
        usage = None
        response = await self._post(
            {**body, "stream": True, "stream_options": {"include_usage": True}}, url=url
        )
        try:
            async for chunk in _sse_events(response):
                usage = chunk.get("usage") or usage
                for choice in (chunk.get("choices") or [])[:1]:
                    delta = choice.get("delta") or {}
                    content = delta.get("content")
                    if content:
                        text_parts.append(content)
                        yield TextDelta(content, logprobs=_logprobs(choice))
                    for piece in _tool_call_pieces(delta.get("tool_calls") or []):
                        text_parts.append(piece.arguments)
                        yield piece
                    finish_reason = choice.get("finish_reason") or finish_reason
        finally:
            await response.aclose()
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
            return _status_error(name, exc.status_code, exc.body, exc.response.headers)
        return ProviderError(f"{name} failed: {type(exc).__name__}.", code="upstream_error")


# Statuses that say the request itself is wrong: the caller gets the vendor's
# status and message, not a 502 that SDKs would retry.
PASSTHROUGH_STATUS = {400, 404, 409, 422}


def _status_error(name: str, status: int, body: object, headers: Any) -> ProviderError:
    detail = body.get("message") if isinstance(body, dict) else None
    message = f"{name} answered HTTP {status}" + (f": {detail}" if detail else ".")
    context = "context" in str(detail or "")
    passthrough = status in PASSTHROUGH_STATUS or status in (429, 503)
    status_out = status if passthrough else 502
    return ProviderError(
        message,
        code="upstream_rate_limited" if status == 429 else f"upstream_http_{status}",
        status=status_out,
        retryable=status in RETRYABLE_STATUS,
        # A request the vendor calls malformed would fail everywhere, except
        # when it is too long for this model's window or the model is gone.
        fallback=status >= 429 or status in (401, 403, 404) or context,
        retry_after=retry_after_seconds(headers),
    )
