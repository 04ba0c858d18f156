"""The gateway pipeline that both front doors call.

authenticate (done by the caller) → decide → dispatch, retrying and falling
over until a first piece of the answer arrives → stream → record one ledger
row, whatever happens (success, error, refusal, client gone).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings

from apps.providers.adapters import (
    ChatMessage,
    GenerationParams,
    PromptTokens,
    ProviderError,
    TextDelta,
    Usage,
    adapter_for,
)
from apps.providers.catalog import ModelSpec, catalog_aget
from apps.providers.tokens import estimate_tokens

from .errors import GatewayError
from .models import UsageRecord
from .routing import AUTO, RouteDecision, route_decide

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    user_id: int | None
    team_id: int | None
    api_key_id: int | None = None
    source: str = UsageRecord.Source.API


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    end_user: str = ""

    def estimated_tokens(self) -> int:
        return sum(estimate_tokens(m.content) + 4 for m in self.messages)


@dataclass
class Tally:
    """Tokens and timings of one request, as far as it got."""

    started: float
    prompt_tokens: int
    completion_tokens: int = 0
    exact: bool = False
    finish_reason: str = ""
    first_token_at: float | None = None

    def add(self, item: TextDelta | PromptTokens | Usage) -> None:
        if isinstance(item, TextDelta):
            self.completion_tokens += item.tokens
            if self.first_token_at is None and item.text:
                self.first_token_at = time.perf_counter()
        elif isinstance(item, PromptTokens):
            self.prompt_tokens, self.exact = item.count, True
        else:
            self.prompt_tokens = item.prompt_tokens
            self.completion_tokens = item.completion_tokens
            self.finish_reason = item.finish_reason
            self.exact = not item.estimated

    def ms_since_start(self, moment: float | None) -> int | None:
        return None if moment is None else round((moment - self.started) * 1000)


@dataclass
class Completion:
    """A completion whose route is settled and whose answer has begun."""

    caller: Caller
    request: ChatRequest
    model: ModelSpec
    reasons: list[str]
    attempts: list[dict[str, str]]
    tally: Tally
    _stream: AsyncIterator[TextDelta | PromptTokens | Usage]
    _first: TextDelta | Usage
    id: str = field(default_factory=lambda: "chatcmpl-" + secrets.token_hex(12))
    created: int = field(default_factory=lambda: int(time.time()))
    _recorded: bool = False

    @property
    def route(self) -> str:
        where = "local" if self.model.provider.is_local else "cloud"
        return f"{where}:{self.model.name}"

    async def events(self) -> AsyncGenerator[TextDelta, None]:
        """The answer's pieces; records the ledger row when it ends, however."""
        status, error_type = UsageRecord.Status.OK, ""
        try:
            if isinstance(self._first, TextDelta):
                yield self._first
            async for item in self._stream:
                self.tally.add(item)
                if isinstance(item, TextDelta):
                    yield item
        except ProviderError as exc:
            status, error_type = UsageRecord.Status.ERROR, exc.code
            raise GatewayError(
                exc.message, status=exc.status, code=exc.code, type="server_error"
            ) from exc
        except (asyncio.CancelledError, GeneratorExit):
            status, error_type = UsageRecord.Status.CANCELLED, "client_disconnected"
            raise
        finally:
            await _aclose(self._stream)
            await self._record(status, error_type)

    async def collect(self) -> str:
        return "".join([piece.text async for piece in self.events()])

    async def aclose(self) -> None:
        """End the completion early (the caller left before or while reading).

        A no-op after events() has finished; otherwise stops the model and
        records the request as cancelled with what it generated so far.
        """
        await _aclose(self._stream)
        await self._record(UsageRecord.Status.CANCELLED, "client_disconnected")

    async def _record(self, status: str, error_type: str) -> None:
        if self._recorded:
            return
        self._recorded = True
        if status == UsageRecord.Status.CANCELLED:
            self.tally.finish_reason = "cancelled"
        await usage_record(
            caller=self.caller,
            request=self.request,
            model=self.model,
            reasons=self.reasons,
            attempts=self.attempts,
            tally=self.tally,
            status=status,
            error_type=error_type,
        )


async def completion_start(*, caller: Caller, request: ChatRequest) -> Completion:
    """Route the request and start the answer; raise GatewayError if none can start.

    Retries and fallbacks happen only before the first piece arrives: after
    that, the caller has part of one model's answer and a switch would show.
    """
    tally = Tally(started=time.perf_counter(), prompt_tokens=request.estimated_tokens())
    catalog = await catalog_aget()
    try:
        decision = route_decide(
            catalog=catalog,
            requested_model=request.model,
            team_id=caller.team_id,
            auto_model=settings.HYBRIDHUB_AUTO_MODEL,
            estimated_tokens=tally.prompt_tokens + (request.params.max_tokens or 0),
        )
    except GatewayError as exc:
        await usage_record(
            caller=caller, request=request, model=None, reasons=[exc.message], attempts=[],
            tally=tally, status=UsageRecord.Status.REJECTED, error_type=exc.code,
        )  # fmt: skip
        raise
    return await _dispatch(caller, request, decision, tally)


async def _dispatch(
    caller: Caller, request: ChatRequest, decision: RouteDecision, tally: Tally
) -> Completion:
    reasons, attempts = list(decision.reasons), []
    last: ProviderError | None = None
    for model in decision.candidates:
        for attempt in range(model.provider.max_retries + 1):
            stream = adapter_for(model).stream_chat(list(request.messages), request.params)
            try:
                first = await _first_piece(stream, tally)
            except ProviderError as exc:
                await _aclose(stream)
                last = exc
                attempts.append({"model": model.name, "error": exc.code})
                if exc.retryable and attempt < model.provider.max_retries:
                    await asyncio.sleep(_backoff(attempt, exc.retry_after))
                    continue
                if not exc.fallback:
                    await _record_failure(caller, request, model, reasons, attempts, tally, exc)
                    raise GatewayError(exc.message, status=exc.status, code=exc.code) from exc
                reasons.append(f"{model.name} failed ({exc.code}), trying the next model")
                break
            except BaseException:
                await _aclose(stream)
                tally.finish_reason = "cancelled"
                await usage_record(
                    caller=caller, request=request, model=model, reasons=reasons,
                    attempts=attempts, tally=tally, status=UsageRecord.Status.CANCELLED,
                    error_type="client_disconnected",
                )  # fmt: skip
                raise
            return Completion(caller, request, model, reasons, attempts, tally, stream, first)
    assert last is not None
    await _record_failure(caller, request, None, reasons, attempts, tally, last)
    tried = ", ".join(m.name for m in decision.candidates)
    raise GatewayError(
        f"No model on the route could answer (tried {tried}): {last.message}",
        status=503 if last.status in (503, 429) else 502,
        code=last.code,
        type="server_error",
    ) from last


async def _first_piece(
    stream: AsyncIterator[TextDelta | PromptTokens | Usage], tally: Tally
) -> TextDelta | Usage:
    async for item in stream:
        tally.add(item)
        if not isinstance(item, PromptTokens):
            return item
    raise ProviderError("The model ended without an answer.", code="empty_response")


def _backoff(attempt: int, retry_after: float | None) -> float:
    cap = settings.HYBRIDHUB_MAX_RETRY_WAIT_SECONDS
    if retry_after is not None:
        return min(retry_after, cap)
    base = settings.HYBRIDHUB_RETRY_BASE_SECONDS * 2**attempt
    return min(base * (0.5 + random.random()), cap)


async def _aclose(stream: AsyncIterator[object]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


async def _record_failure(
    caller: Caller,
    request: ChatRequest,
    model: ModelSpec | None,
    reasons: list[str],
    attempts: list[dict[str, str]],
    tally: Tally,
    exc: ProviderError,
) -> None:
    await usage_record(
        caller=caller, request=request, model=model, reasons=reasons, attempts=attempts,
        tally=tally, status=UsageRecord.Status.ERROR, error_type=exc.code,
    )  # fmt: skip


async def usage_record(
    *,
    caller: Caller,
    request: ChatRequest,
    model: ModelSpec | None,
    reasons: list[str],
    attempts: list[dict[str, str]],
    tally: Tally,
    status: str,
    error_type: str,
) -> None:
    """Write the request's ledger row. Failures here are logged, never raised:
    the caller already has (part of) an answer or an error of its own."""
    now = time.perf_counter()
    row = UsageRecord(
        source=caller.source,
        user_id=caller.user_id,
        team_id=caller.team_id,
        api_key_id=caller.api_key_id,
        end_user=request.end_user[:200],
        requested_model=request.model[:100],
        model_id=model.id if model else None,
        model_name=model.name if model else "",
        provider_id=model.provider.id if model else None,
        provider_name=model.provider.name if model else "",
        privacy_zone=model.provider.privacy_zone if model else "",
        route_reasons=reasons,
        attempts=attempts,
        stream=request.params.stream,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        tokens_estimated=not tally.exact,
        cost_micros=model.cost_micros(tally.prompt_tokens, tally.completion_tokens) if model else 0,
        ttft_ms=tally.ms_since_start(tally.first_token_at),
        latency_ms=tally.ms_since_start(now) or 0,
        status=status,
        error_type=error_type,
        finish_reason=tally.finish_reason,
    )
    try:
        await sync_to_async(row.save)()
    except Exception:
        logger.exception("Could not write the usage record for a %s request", status)


async def local_models_warm() -> None:
    """Load every enabled local model now, so the first request finds it warm."""
    catalog = await catalog_aget()
    for model in catalog.models.values():
        if model.provider.is_local:
            try:
                await adapter_for(model).warm()  # type: ignore[attr-defined]
            except ProviderError as exc:
                logger.error("Could not warm %s: %s", model.name, exc.message)


async def models_for_team(*, team_id: int | None) -> list[tuple[str, str]]:
    """(model name, who serves it) that a team may ask for, ``auto`` first."""
    catalog = await catalog_aget()
    return [(AUTO, "hybridhub")] + [(m.name, m.provider.name) for m in catalog.for_team(team_id)]
