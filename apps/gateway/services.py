"""The gateway pipeline that both front doors call.

authenticate (done by the caller) → decide (classify, score, apply the
published policy) → dispatch, retrying and falling over until a first piece
of the answer arrives → stream → record one ledger row, whatever happens
(success, error, refusal, client gone).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import secrets
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from apps.budgets.selectors import budget_signal
from apps.core.chat_types import (
    ChatMessage,
    GenerationParams,
    Piece,
    PromptTokens,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from apps.policy import difficulty
from apps.policy.capability import tier_of
from apps.policy.detectors import ner
from apps.policy.engine import AUTO, CompiledPolicy, Decision, Facts, decide
from apps.policy.escalation import escalated
from apps.policy.models import SecurityEvent
from apps.policy.redaction import StreamRestorer, redact_texts
from apps.policy.services import policy_aget, policy_get
from apps.providers.adapters import ProviderError, adapter_for
from apps.providers.catalog import Catalog, ModelSpec, catalog_aget, catalog_get
from apps.providers.egress import (
    Egress,
    EgressRefused,
    outgoing_fields,
    outgoing_texts,
    texts_digest,
    with_texts,
)
from apps.providers.specs import unsupported_features
from apps.providers.tokens import estimate_tokens

from . import budgeting
from .budgeting import Spend
from .errors import GatewayError
from .ledger import ledger_append
from .models import UsageRecord

logger = logging.getLogger(__name__)

# Prompts above this many characters are decided on a thread of their own, not
# in the database hop (_decides_inline).
_INLINE_DECIDE_CHARS = 32_000
# While the NER model is on: the longest request whose decision may share the
# database hop, if the model would read none of it (_decides_inline).
_INLINE_NER_CHECK_CHARS = 2_000


@dataclass(frozen=True)
class Caller:
    user_id: int | None
    team_id: int | None
    api_key_id: int | None = None
    source: str = UsageRecord.Source.API
    rpm_limit: int | None = None  # the key's requests per minute
    tpm_limit: int | None = None  # and tokens per minute
    strict_model: bool = False  # the key's option: never another model than the one named
    # A front door that authenticated from a cache passes the database check
    # here; it runs in the gateway's first database hop and returns the
    # caller as the database has it now, or None if the key no longer works.
    verify: Callable[[], Caller | None] | None = field(default=None, compare=False)

    @property
    def who(self) -> budgeting.Who:
        return budgeting.Who(self.team_id, self.user_id, self.api_key_id)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    end_user: str = ""
    sensitivity: str = ""  # a level name the caller raises the request to
    sticky_level: int = 0  # the highest level the conversation reached before
    strict_model: bool = False  # an error rather than another model than ``model``
    # The chat's conversations: the gateway drops the oldest turns that the
    # chosen model's context cannot hold and sizes the answer (fit_context).
    fit_context: bool = False
    # "Ask a stronger model": only the decision's models of a higher capability
    # tier than this one may answer (apps/policy/escalation.py); 0: no escalation.
    above_tier: int = 0
    escalation_why: str = ""  # the escalation's reason, if not a person's ask (a cascade)

    def estimated_tokens(self) -> int:
        return sum(estimate_tokens(m.content) + 4 for m in self.messages)


# A fitted conversation keeps a quarter of the chosen model's context for its
# history and at most as much for the answer, so the answer still fits when
# the next turn sends it back (four characters a token runs low on code).
FIT_SHARE = 4
FIT_ANSWER_MAX_TOKENS = 1024


def context_fit(request: ChatRequest, model: ModelSpec) -> ChatRequest:
    """The latest turns that fit in ``model``'s share of context (at least the
    last one), and an answer length for it. The chat's sticky level still
    remembers what the dropped turns contained."""
    budget = model.context_window // FIT_SHARE
    kept: list[ChatMessage] = []
    for message in reversed(request.messages):
        budget -= estimate_tokens(message.content) + 4
        if budget < 0 and kept:
            break
        kept.append(message)
    max_tokens = request.params.max_tokens or min(
        FIT_ANSWER_MAX_TOKENS, model.context_window // FIT_SHARE
    )
    return dataclasses.replace(
        request,
        messages=tuple(reversed(kept)),
        params=dataclasses.replace(request.params, max_tokens=max_tokens),
    )


@dataclass
class Tally:
    """Tokens and timings of one request, as far as it got."""

    started: float
    prompt_tokens: int
    completion_tokens: int = 0
    exact: bool = False
    finish_reason: str = ""
    first_token_at: float | None = None
    confidence: float | None = None  # the local model's, in its own answer (Usage)

    def add(self, item: Piece) -> None:
        if isinstance(item, TextDelta):
            self.completion_tokens += item.tokens
            if self.first_token_at is None and item.text:
                self.first_token_at = time.perf_counter()
        elif isinstance(item, ToolCallDelta):
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
        elif isinstance(item, PromptTokens):
            self.prompt_tokens, self.exact = item.count, True
        else:
            self.prompt_tokens = item.prompt_tokens
            self.completion_tokens = item.completion_tokens
            self.finish_reason = item.finish_reason
            self.exact = not item.estimated
            self.confidence = item.confidence

    def ms_since_start(self, moment: float | None) -> int | None:
        return None if moment is None else round((moment - self.started) * 1000)


@dataclass
class Attempts:
    """What the dispatcher tried, for the ledger and the explanation.
    ``decision`` is None for requests refused before the policy decided."""

    decision: Decision | None
    reasons: list[str]
    failed: list[dict[str, str]] = field(default_factory=list)
    spend: Spend = field(default_factory=Spend)  # budget hold and rate ticket


@dataclass
class Completion:
    """A completion whose route is settled and whose answer has begun."""

    caller: Caller
    request: ChatRequest
    model: ModelSpec
    attempts: Attempts
    tally: Tally
    _stream: AsyncIterator[Piece]
    _first: TextDelta | ToolCallDelta | Usage
    _restorer: StreamRestorer | None = None
    id: str = field(default_factory=lambda: "chatcmpl-" + secrets.token_hex(12))
    created: int = field(default_factory=lambda: int(time.time()))
    ledger_code: uuid.UUID = field(default_factory=uuid.uuid4)  # its UsageRecord's code
    _recorded: bool = False
    _call_restorers: dict[int, StreamRestorer] = field(default_factory=dict)

    @property
    def decision(self) -> Decision:
        assert self.attempts.decision is not None  # a started completion was decided
        return self.attempts.decision

    @property
    def reasons(self) -> list[str]:
        return self.attempts.reasons

    @property
    def route(self) -> str:
        where = "local" if self.model.provider.is_local else "cloud"
        return f"{where}:{self.model.name}"

    async def events(self) -> AsyncGenerator[TextDelta, None]:
        """The answer's text (tool calls, which only API callers ask for, left out)."""
        async with aclosing(self.pieces()) as pieces:
            async for piece in pieces:
                if isinstance(piece, TextDelta):
                    yield piece

    async def pieces(self) -> AsyncGenerator[TextDelta | ToolCallDelta, None]:
        """The answer's pieces (text, and tool calls where the caller offered
        tools); records the ledger row when it ends, however."""
        status, error_type = UsageRecord.Status.OK, ""
        try:
            if not isinstance(self._first, Usage):
                yield self._restored(self._first)
            async for item in self._stream:
                self.tally.add(item)
                if isinstance(item, TextDelta | ToolCallDelta):
                    yield self._restored(item)
            if self._restorer and (rest := self._restorer.flush()):
                yield TextDelta(rest, tokens=0)
            for index, restorer in self._call_restorers.items():
                if rest := restorer.flush():
                    yield ToolCallDelta(index, arguments=rest)
        except ProviderError as exc:
            status, error_type = UsageRecord.Status.ERROR, exc.code
            raise GatewayError(
                exc.message, status=exc.status, code=exc.code, type="server_error"
            ) from exc
        except (asyncio.CancelledError, GeneratorExit):
            status, error_type = UsageRecord.Status.CANCELLED, "client_disconnected"
            raise
        except Exception:  # a bug, not the caller: the row must not say "ok"
            status, error_type = UsageRecord.Status.ERROR, "internal_error"
            raise
        finally:
            await _aclose(self._stream)
            await self._record(status, error_type)

    def _restored(self, piece: TextDelta | ToolCallDelta) -> TextDelta | ToolCallDelta:
        if self._restorer is None:
            return piece
        if isinstance(piece, ToolCallDelta):  # each call's arguments are a stream of their own
            restorer = self._call_restorers.setdefault(
                piece.index, StreamRestorer(self._restorer.mapping)
            )
            return dataclasses.replace(piece, arguments=restorer.feed(piece.arguments))
        return dataclasses.replace(piece, text=self._restorer.feed(piece.text))

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
            caller=self.caller, request=self.request, model=self.model, attempts=self.attempts,
            tally=self.tally, status=status, error_type=error_type, code=self.ledger_code,
        )  # fmt: skip


async def completion_start(*, caller: Caller, request: ChatRequest) -> Completion:
    """Decide where the request may and should go, and start the answer there.

    Raises GatewayError (recorded in the ledger) when the policy blocks it or
    no model can start. Retries and fallbacks happen only before the first
    piece arrives: after that, the caller has part of one model's answer.

    The database work before dispatch (the key's re-check, rate limits,
    budget signal, reservation) is one thread hop, with the decision inside
    it; the ledger row, its rollups and the settlement are one more at the
    end (usage_record). Long prompts and the NER model are decided on a
    thread of their own between two hops, so they never hold the shared one.
    """
    tally = Tally(started=time.perf_counter(), prompt_tokens=request.estimated_tokens())
    catalog, policy = await catalog_aget(), await policy_aget()
    admission = _Admission(caller, request, catalog, policy, tally)
    try:
        if _decides_inline(request):
            caller = await sync_to_async(admission.run)()
        else:
            await sync_to_async(admission.admit)()
            admission.decision = await asyncio.to_thread(admission.decide)
            caller = await sync_to_async(admission.reserve)()
    except GatewayError as exc:
        if admission.unauthenticated:
            raise  # a key that stopped working: nobody to charge, no ledger row
        decision = admission.decision
        reasons = [*(decision.reasons if decision else ()), exc.message]
        attempts = Attempts(decision, reasons, spend=admission.spend)
        await usage_record(
            caller=caller, request=request, model=None, attempts=attempts, tally=tally,
            status=UsageRecord.Status.REJECTED, error_type=exc.code,
        )  # fmt: skip
        raise
    assert admission.decision is not None
    attempts = Attempts(admission.decision, list(admission.decision.reasons), spend=admission.spend)
    return await _dispatch(caller, admission.request, attempts, tally)


def _decides_inline(request: ChatRequest) -> bool:
    """Short prompts are decided inside the database hop; long prompts cost
    many milliseconds, and so does the NER model where it reads, so those get
    a thread. Whether the model would read a short request is its gate's
    question (a capitalised word that may be a name): about 0.1 ms per
    kilobyte, less than the hops it saves, and asked again in the decision."""
    chars = sum(len(m.content) for m in request.messages)
    if not ner.active():
        return chars <= _INLINE_DECIDE_CHARS
    return chars <= _INLINE_NER_CHECK_CHARS and not any(
        ner.reads(m.content) for m in request.messages
    )


@dataclass
class _Admission:
    """Everything between authentication and dispatch, synchronous, so that
    it runs in one thread hop: re-check the key, admit it (rate limits,
    budget signal), decide, reserve. Keeps the decision for the ledger when
    a step refuses the request."""

    caller: Caller
    request: ChatRequest
    catalog: Catalog
    policy: CompiledPolicy
    tally: Tally
    spend: Spend = field(default_factory=Spend)
    decision: Decision | None = None
    budget_used: float = 0.0
    unauthenticated: bool = False

    def run(self) -> Caller:
        self.admit()
        self.decision = self.decide()
        return self.reserve()

    def admit(self) -> None:
        if self.caller.verify is not None:
            fresh = self.caller.verify()
            if fresh is None:
                self.unauthenticated = True
                raise GatewayError(
                    "Missing or invalid API key. Send 'Authorization: Bearer <key>'.",
                    status=401, code="invalid_api_key",
                )  # fmt: skip
            self.caller = fresh
        _check_requested_model(self.catalog, self.request.model, self.caller.team_id)
        # --- budgets: the key's rate limits, and how used up its budgets are
        self.budget_used = budgeting.admit(
            who=self.caller.who, rpm=self.caller.rpm_limit, tpm=self.caller.tpm_limit,
            prompt_tokens=self.tally.prompt_tokens, spend=self.spend,
        )  # fmt: skip

    def decide(self) -> Decision:
        facts = _facts(self.policy, self.caller, self.request, self.budget_used)
        if not (self.request.fit_context and self.request.messages):
            return _decide_now(self.policy, self.catalog, facts, self.request)
        # The gateway owns context fitting. Any model that can hold the latest
        # turn may be chosen (a sensitive chat may stay on a small on-prem
        # model); the history is then cut to what the chosen one holds.
        latest = estimate_tokens(self.request.messages[-1].content) + 4
        decision = _decide_now(
            self.policy, self.catalog, dataclasses.replace(facts, estimated_tokens=latest),
            self.request,
        )  # fmt: skip
        if not decision.candidates:
            return decision
        fitted = context_fit(self.request, decision.candidates[0])
        trimmed = fitted.messages != self.request.messages
        self.request = fitted
        if trimmed:  # findings are offsets in the texts decided on: decide on these
            self.tally.prompt_tokens = fitted.estimated_tokens()
            facts = _facts(self.policy, self.caller, fitted, self.budget_used)
            return _decide_now(self.policy, self.catalog, facts, fitted)
        # Nothing dropped: the same texts; keep only the models that hold them all.
        need = fitted.estimated_tokens() + (fitted.params.max_tokens or 0)
        holding = tuple(m for m in decision.candidates if m.context_window >= need)
        return dataclasses.replace(decision, candidates=holding or decision.candidates[:1])

    def reserve(self) -> Caller:
        decision = self.decision
        assert decision is not None
        if decision.action == "block":
            raise GatewayError(
                decision.block_message, status=403, code="blocked_by_policy", type="policy_error"
            )
        if decision.problem:
            _problem_raise(decision, self.catalog, self.caller, self.request)
        strict = self.request.strict_model or self.caller.strict_model
        if strict and self.request.model != AUTO:
            decision = self.decision = _strict(decision, self.request.model)
        if not decision.candidates:
            raise GatewayError(
                "No model on this route is available to your team.",
                status=503, code="no_model_available", type="server_error",
            )  # fmt: skip
        # --- budgets: hold the worst case at the chosen model's prices
        budgeting.reserve(
            who=self.caller.who, model=decision.candidates[0],
            prompt_tokens=self.tally.prompt_tokens, max_tokens=self.request.params.max_tokens,
            spend=self.spend,
        )  # fmt: skip
        return self.caller


def _problem_raise(
    decision: Decision, catalog: Catalog, caller: Caller, request: ChatRequest
) -> None:
    """Why no model fits, in the caller's terms (the field to change)."""
    models = catalog.for_team(caller.team_id)
    max_tokens = request.params.max_tokens
    if decision.problem == "unsupported_parameter":
        fields = request.params.features()
        lacking = sorted(fields & set().union(*(unsupported_features(m, fields) for m in models)))
        param = lacking[0] if lacking else None
        raise GatewayError(
            f"No model this request may use supports {', '.join(lacking) or 'these fields'}.",
            status=400, code="unsupported_parameter", param=param,
        )  # fmt: skip
    if decision.problem != "context_length_exceeded":
        return
    largest = max((m.context_window for m in models), default=0)
    if max_tokens is not None and max_tokens >= largest:
        raise GatewayError(
            f"max_tokens is too large: {max_tokens}. The largest context window of a model "
            f"you may use is {largest} tokens.",
            status=400, code="invalid_value", param="max_completion_tokens"
            if request.params.max_tokens_field == "max_completion_tokens" else "max_tokens",
        )  # fmt: skip
    raise GatewayError(
        "The conversation is longer than the context window of every model it may use.",
        status=400, code="context_length_exceeded", param="messages",
    )  # fmt: skip


def _strict(decision: Decision, name: str) -> Decision:
    """Only the model the caller named, and no fallback: the caller asked
    (X-HybridHub-Strict-Model) for an error rather than a substitute."""
    chosen = decision.candidates[0] if decision.candidates else None
    if chosen is None or chosen.name != name:
        why = next((r for r in decision.reasons if r.startswith(f"requested {name} ")), "")
        raise GatewayError(
            f"The model {name!r} cannot serve this request and strict model mode is on"
            + (f" ({why})." if why else "."),
            status=400, code="model_not_available", param="model",
        )  # fmt: skip
    return dataclasses.replace(decision, candidates=(chosen,))


def _check_requested_model(catalog: Catalog, name: str, team_id: int | None) -> None:
    model = catalog.get(name)
    if name != AUTO and (model is None or not model.allowed_for(team_id)):
        raise GatewayError(
            f"The model {name!r} does not exist or your team may not use it.",
            status=404,
            code="model_not_found",
        )


def _level_index(policy: CompiledPolicy, name: str) -> int:
    if not name:
        return 0
    if name not in policy.level_names:
        raise GatewayError(
            f"Unknown sensitivity {name!r}; use one of: {', '.join(policy.level_names)}.",
            status=400,
            code="invalid_sensitivity",
        )
    return policy.level_names.index(name)


def _facts(
    policy: CompiledPolicy, caller: Caller, request: ChatRequest, budget_used: float = 0.0
) -> Facts:
    return Facts(
        team_id=caller.team_id,
        user_id=caller.user_id,
        api_key_id=caller.api_key_id,
        source=caller.source,
        requested_model=request.model,
        estimated_tokens=request.estimated_tokens(),
        max_tokens=request.params.max_tokens,
        now=timezone.localtime(),
        raised_level=_level_index(policy, request.sensitivity),
        features=request.params.features(),
        sticky_level=request.sticky_level,
        budget_used=budget_used,
    )


def _decide_now(
    policy: CompiledPolicy, catalog: Catalog, facts: Facts, request: ChatRequest
) -> Decision:
    """Classify every text that would leave (contents, names, stop strings:
    ``outgoing_fields``), score the conversation, apply the rules."""
    fields = list(outgoing_fields(request.messages, request.params))
    texts = [text for _, text in fields]
    turns = [index for index, (where, _) in enumerate(fields) if where.endswith(".content")]
    decision = decide(policy, catalog, texts, facts, turns=turns)
    if not request.above_tier:
        return decision
    return escalated(decision, catalog, request.above_tier, why=request.escalation_why)


def cascade_request(request: ChatRequest, first: Completion) -> ChatRequest | None:
    """``request`` again for a stronger model, when ``first``'s model was
    unsure of its answer (X-HybridHub-Cascade): narrowed to models of a
    higher tier than it (policy.escalation: never beyond what the policy
    permits), the reason recorded; None when it was sure or did not say."""
    confidence = first.tally.confidence
    if confidence is None or not difficulty.is_unsure(confidence):
        return None
    why = f"cascade: {first.model.name} was unsure of its answer (confidence {confidence:.2f})"
    return dataclasses.replace(request, above_tier=tier_of(first.model), escalation_why=why)


def decision_preview(*, caller: Caller, request: ChatRequest) -> Decision:
    """What the published policy would decide for this request, without
    sending it: on the same cached snapshots as the requests themselves."""
    policy = policy_get()
    facts = _facts(policy, caller, request, budget_signal(caller.who))
    return _decide_now(policy, catalog_get(), facts, request)


@dataclass(frozen=True)
class Outgoing:
    """What may be sent, the egress ticket it travels with (its level, its
    zones and the digest of exactly these texts), and how to put redacted
    values back into the answer."""

    messages: list[ChatMessage]
    params: GenerationParams
    egress: Egress
    restorer: StreamRestorer | None


def _outgoing(decision: Decision, request: ChatRequest) -> Outgoing:
    messages, params = list(request.messages), request.params
    texts, restorer = list(outgoing_texts(messages, params)), None
    if decision.redact:
        texts, mapping = redact_texts(texts, decision.findings)
        messages, params = with_texts(messages, params, texts)
        restorer = StreamRestorer(mapping)
    egress = Egress(decision.egress_level_name, decision.egress_zones, texts_digest(texts))
    return Outgoing(messages, params, egress, restorer)


async def _dispatch(
    caller: Caller, request: ChatRequest, attempts: Attempts, tally: Tally
) -> Completion:
    decision = attempts.decision
    assert decision is not None
    out = _outgoing(decision, request)
    last: ProviderError | None = None
    refused: GatewayError | None = None
    waits: list[float | None] = []  # Retry-After of each failure
    for model in decision.candidates:
        # --- budgets: a fallback model is re-checked before it runs
        over = await budgeting.recheck(
            model=model, prompt_tokens=tally.prompt_tokens,
            max_tokens=request.params.max_tokens, spend=attempts.spend,
        )  # fmt: skip
        if over is not None:
            refused = over
            attempts.reasons.append(f"skipped {model.name}: over budget")
            continue
        for attempt in range(model.provider.max_retries + 1):
            stream = adapter_for(model).stream_chat(out.messages, out.params, out.egress)
            try:
                first = await _first_piece(stream, tally)
            except ProviderError as exc:
                await _aclose(stream)
                last = exc
                waits.append(exc.retry_after if exc.status in (429, 503) else None)
                attempts.failed.append({"model": model.name, "error": exc.code})
                if isinstance(exc, EgressRefused):
                    await _security_event(caller, model, out.egress)
                    attempts.reasons.append(f"{model.name} refused by the egress guard")
                    break
                if exc.retryable and attempt < model.provider.max_retries:
                    await asyncio.sleep(_backoff(attempt, exc.retry_after))
                    continue
                if not exc.fallback:
                    await _record_failure(caller, request, model, attempts, tally, exc)
                    raise GatewayError(
                        exc.message, status=exc.status, code=exc.code, headers=_retry_after(waits)
                    ) from exc
                attempts.reasons.append(f"{model.name} failed ({exc.code}), trying the next model")
                break
            except BaseException:
                await _aclose(stream)
                tally.finish_reason = "cancelled"
                await usage_record(
                    caller=caller, request=request, model=model, attempts=attempts, tally=tally,
                    status=UsageRecord.Status.CANCELLED, error_type="client_disconnected",
                )  # fmt: skip
                raise
            return Completion(caller, request, model, attempts, tally, stream, first, out.restorer)
    if refused is not None:  # what could have answered was over budget
        await usage_record(
            caller=caller, request=request, model=None, attempts=attempts, tally=tally,
            status=UsageRecord.Status.REJECTED, error_type=refused.code,
        )  # fmt: skip
        raise refused
    assert last is not None
    await _record_failure(caller, request, None, attempts, tally, last)
    tried = ", ".join(m.name for m in decision.candidates)
    status = _final_status(attempts.failed, last)
    raise GatewayError(
        f"No model on the route could answer (tried {tried}): {last.message}",
        status=status,
        code=last.code,
        type="rate_limit_error" if status == 429 else "server_error",
        headers=_retry_after(waits) if status in (429, 503) else {},
    ) from last


def _final_status(failed: list[dict[str, str]], last: ProviderError) -> int:
    """429 when every try was rate-limited (so SDKs wait, not hammer); the
    vendor's own status when it called the request itself wrong."""
    if failed and all(f["error"] == "upstream_rate_limited" for f in failed):
        return 429
    if last.status in (400, 404, 409, 422):
        return last.status
    return 503 if last.status in (503, 429) else 502


def _retry_after(waits: list[float | None]) -> dict[str, str]:
    known = [w for w in waits if w is not None]
    return {"Retry-After": str(math.ceil(max(known)))} if known else {}


async def _first_piece(
    stream: AsyncIterator[Piece], tally: Tally
) -> TextDelta | ToolCallDelta | Usage:
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


async def _security_event(caller: Caller, model: ModelSpec, egress: Egress) -> None:
    event = SecurityEvent(
        kind="egress_refused",
        team_id=caller.team_id,
        user_id=caller.user_id,
        api_key_id=caller.api_key_id,
        detail={
            "level": egress.level_name,
            "provider": model.provider.name,
            "zone": model.provider.privacy_zone,
            "model": model.name,
        },
    )
    await sync_to_async(event.save)()


async def _record_failure(
    caller: Caller,
    request: ChatRequest,
    model: ModelSpec | None,
    attempts: Attempts,
    tally: Tally,
    exc: ProviderError,
) -> None:
    await usage_record(
        caller=caller, request=request, model=model, attempts=attempts, tally=tally,
        status=UsageRecord.Status.ERROR, error_type=exc.code,
    )  # fmt: skip


def _policy_fields(decision: Decision | None) -> dict[str, object]:
    if decision is None:
        return {}
    signals = decision.signals
    counts: dict[tuple[str, str], int] = {}
    for located in decision.findings:
        key = (located.finding.detector, located.finding.label)
        counts[key] = counts.get(key, 0) + 1
    return {
        "policy_version": decision.policy_version,
        "rule_id": decision.rule_id,
        "rule_name": decision.rule_name[:80],
        "level": decision.level,
        "level_name": decision.level_name,
        "found_level": signals.found_level,
        "floor_level": signals.floor_level,
        "findings": [
            {"detector": d, "label": label, "count": n} for (d, label), n in counts.items()
        ],
        "complexity": signals.complexity.score,
        "complexity_features": signals.complexity.features,
        "redacted": decision.redact,
        "budget_used": signals.facts.budget_used,
    }


async def usage_record(
    *,
    caller: Caller,
    request: ChatRequest,
    model: ModelSpec | None,
    attempts: Attempts,
    tally: Tally,
    status: str,
    error_type: str,
    code: uuid.UUID | None = None,
) -> None:
    """Write the request's ledger row. Failures here are logged, never raised:
    the caller already has (part of) an answer or an error of its own."""
    now = time.perf_counter()
    row = UsageRecord(
        code=code or uuid.uuid4(),
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
        route_reasons=attempts.reasons,
        attempts=attempts.failed,
        stream=request.params.stream,
        estimated_tokens=request.estimated_tokens(),
        max_tokens=request.params.max_tokens,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        tokens_estimated=not tally.exact,
        cost_micros=model.cost_micros(tally.prompt_tokens, tally.completion_tokens) if model else 0,
        ttft_ms=tally.ms_since_start(tally.first_token_at),
        latency_ms=tally.ms_since_start(now) or 0,
        status=status,
        error_type=error_type,
        finish_reason=tally.finish_reason,
        answer_confidence=tally.confidence,
        **_policy_fields(attempts.decision),
    )
    # The row, its rollups and the settlement: the second hop, shared with
    # the rows of concurrent requests (group commit, ledger.py).
    await ledger_append(row, attempts.spend)


async def local_models_warm() -> None:
    """Load every enabled local model now, so the first request finds it warm."""
    catalog = await catalog_aget()
    for model in catalog.models.values():
        if model.provider.in_process:
            try:
                await adapter_for(model).warm()  # type: ignore[attr-defined]
            except ProviderError as exc:
                logger.error("Could not warm %s: %s", model.name, exc.message)


async def models_for_team(*, team_id: int | None) -> list[tuple[str, str]]:
    """(model name, who serves it) that a team may ask for, ``auto`` first."""
    catalog = await catalog_aget()
    return [(AUTO, "hybridhub")] + [(m.name, m.provider.name) for m in catalog.for_team(team_id)]
