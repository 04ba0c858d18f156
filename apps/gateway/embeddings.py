"""Embeddings through the same door as chat: classified, routed by the
published policy's levels and zones, guarded on the way out, in the ledger.

The caller names the embedding model; the policy decides the level of the
texts. The named model embeds them if its zone may receive that level;
otherwise the first of its fallbacks that may (an on-prem model, typically),
so sensitive text embeds on the machine. No redaction: an embedding of
placeholders would not be the embedding the caller asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from apps.policy.engine import AUTO, Decision
from apps.policy.services import policy_aget
from apps.providers.adapters import Embeddings, ProviderError, adapter_for
from apps.providers.catalog import Catalog, ModelSpec, catalog_aget
from apps.providers.egress import Egress, embedding_fields, outgoing_texts, texts_digest
from apps.providers.specs import unsupported_features

from . import budgeting
from .budgeting import Spend
from .errors import GatewayError
from .models import UsageRecord
from .services import (
    Attempts,
    Caller,
    ChatRequest,
    Tally,
    _check_requested_model,
    _decide_now,
    _facts,
    usage_record,
)


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    end_user: str = ""
    sensitivity: str = ""


@dataclass(frozen=True)
class EmbeddingResult:
    model: ModelSpec
    embeddings: Embeddings
    decision: Decision


async def embeddings_create(*, caller: Caller, request: EmbeddingRequest) -> EmbeddingResult:
    messages, params = embedding_fields(request.inputs)
    chat = ChatRequest(
        model=request.model, messages=tuple(messages), params=params,
        end_user=request.end_user, sensitivity=request.sensitivity,
    )  # fmt: skip
    tally = Tally(started=time.perf_counter(), prompt_tokens=chat.estimated_tokens())
    catalog, policy = await catalog_aget(), await policy_aget()
    attempts = Attempts(None, [], spend=Spend())
    try:
        if request.model == AUTO:
            raise GatewayError(
                "Name the embedding model to use; 'auto' routes chat only.",
                status=400, code="invalid_value", param="model",
            )  # fmt: skip

        def admit_and_decide() -> Decision:  # one database hop, like chat's admission
            _check_requested_model(catalog, request.model, caller.team_id)
            used = budgeting.admit(
                who=caller.who, rpm=caller.rpm_limit, tpm=caller.tpm_limit,
                prompt_tokens=tally.prompt_tokens, spend=attempts.spend,
            )  # fmt: skip
            return _decide_now(policy, catalog, _facts(policy, caller, chat, used), chat)

        decision = await sync_to_async(admit_and_decide)()
        attempts.decision = decision
        attempts.reasons = [decision.reasons[0]] if decision.reasons else []
        if decision.action == "block":
            raise GatewayError(
                decision.block_message, status=403, code="blocked_by_policy", type="policy_error"
            )
        candidates = _candidates(catalog, request.model, caller.team_id, decision, attempts)
        await sync_to_async(budgeting.reserve)(
            who=caller.who, model=candidates[0], prompt_tokens=tally.prompt_tokens,
            max_tokens=0, spend=attempts.spend,
        )  # fmt: skip
    except GatewayError as exc:
        attempts.reasons.append(exc.message)
        await usage_record(
            caller=caller, request=chat, model=None, attempts=attempts, tally=tally,
            status=UsageRecord.Status.REJECTED, error_type=exc.code,
        )  # fmt: skip
        raise
    digest = texts_digest(outgoing_texts(messages, params))
    egress = Egress(decision.level_name, decision.allowed_zones, digest)
    return await _embed(caller, chat, request, candidates, egress, attempts, tally, decision)


def _candidates(
    catalog: Catalog, name: str, team_id: int | None, decision: Decision, attempts: Attempts
) -> list[ModelSpec]:
    """The named model and its fallbacks that may receive this level and can embed."""
    named = catalog.get(name)
    assert named is not None  # checked by _check_requested_model
    chosen = []
    for model in [named, *filter(None, map(catalog.get, named.fallback_names))]:
        if not model.allowed_for(team_id):
            continue
        if model.provider.privacy_zone not in decision.allowed_zones:
            attempts.reasons.append(
                f"skipped {model.name}: {model.provider.privacy_zone} zone not allowed "
                f"for {decision.level_name} data"
            )
        elif unsupported_features(model, frozenset({"embeddings"})):
            attempts.reasons.append(f"skipped {model.name}: cannot embed")
        else:
            chosen.append(model)
    if not chosen:
        raise GatewayError(
            f"No model this request may use can embed {decision.level_name} data "
            f"({'; '.join(attempts.reasons[1:]) or name}).",
            status=400, code="model_not_available", param="model",
        )  # fmt: skip
    attempts.reasons.append(f"→ {chosen[0].name}")
    return chosen


async def _embed(
    caller: Caller,
    chat: ChatRequest,
    request: EmbeddingRequest,
    candidates: list[ModelSpec],
    egress: Egress,
    attempts: Attempts,
    tally: Tally,
    decision: Decision,
) -> EmbeddingResult:
    last: ProviderError | None = None
    for model in candidates:
        try:
            result: Embeddings = await adapter_for(model).embed(  # type: ignore[attr-defined]
                list(request.inputs), request.dimensions, egress
            )
        except ProviderError as exc:
            last = exc
            attempts.failed.append({"model": model.name, "error": exc.code})
            if not exc.fallback:
                break
            continue
        tally.prompt_tokens, tally.exact = result.prompt_tokens, True
        tally.finish_reason = "stop"
        await usage_record(
            caller=caller, request=chat, model=model, attempts=attempts, tally=tally,
            status=UsageRecord.Status.OK, error_type="",
        )  # fmt: skip
        return EmbeddingResult(model, result, decision)
    assert last is not None
    await usage_record(
        caller=caller, request=chat, model=None, attempts=attempts, tally=tally,
        status=UsageRecord.Status.ERROR, error_type=last.code,
    )  # fmt: skip
    status = last.status if last.status in (400, 404, 409, 422, 429) else 502
    raise GatewayError(
        f"No model could embed the input: {last.message}", status=status, code=last.code,
        type="invalid_request_error" if status < 500 else "server_error",
    )  # fmt: skip
