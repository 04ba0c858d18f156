"""The gateway's side of budgets and key rate limits (apps/budgets).

Called from services.py at four marked places: admit the key (rate limits)
and read the budget signal before deciding, reserve after the decision and
before dispatch, re-check a fallback model, settle where the ledger row is
written. Budget refusals become 429s in OpenAI's error shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.utils import timezone

from apps.budgets import ratelimit
from apps.budgets import services as budgets
from apps.budgets.errors import BudgetExceeded, RateLimited
from apps.budgets.selectors import Who, budget_signal

__all__ = ["Spend", "Who", "admit", "recheck", "reserve", "settle", "signal"]
from apps.providers.catalog import ModelSpec

from .errors import GatewayError

# The prompt's token count is estimated (about four characters a token)
# before any tokenizer has seen it: reserve a quarter more to be safe.
_PROMPT_MARGIN = 1.25


@dataclass
class Spend:
    """What a request holds: its budget reservation and its rate-limit ticket."""

    hold: budgets.Hold | None = None
    held_model_id: int | None = None
    ticket: ratelimit.RateTicket | None = None

    @property
    def warnings(self) -> list[str]:
        return self.hold.warnings if self.hold else []


def worst_case_micros(model: ModelSpec, prompt_tokens: int, max_tokens: int | None) -> int:
    prompt = math.ceil(prompt_tokens * _PROMPT_MARGIN)
    answer = max_tokens if max_tokens else max(model.context_window - prompt_tokens, 0)
    return model.cost_micros(prompt, answer)


async def admit(
    *, who: Who, rpm: int | None, tpm: int | None, prompt_tokens: int, spend: Spend
) -> None:
    if who.api_key_id is None or not (rpm or tpm):
        return
    try:
        spend.ticket = await sync_to_async(ratelimit.rate_admit)(
            api_key_id=who.api_key_id, rpm=rpm, tpm=tpm, tokens=prompt_tokens
        )
    except RateLimited as exc:
        raise GatewayError(
            exc.message, status=429, code="rate_limited", type="rate_limit_error",
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc  # fmt: skip


async def signal(*, who: Who) -> float:
    return await sync_to_async(budget_signal)(who)


async def reserve(
    *, who: Who, model: ModelSpec, prompt_tokens: int, max_tokens: int | None, spend: Spend
) -> None:
    amount = worst_case_micros(model, prompt_tokens, max_tokens)
    try:
        spend.hold = await sync_to_async(budgets.budget_reserve)(
            who=who, amount_micros=amount, local=model.provider.is_local
        )
    except BudgetExceeded as exc:
        raise _exceeded(exc) from exc
    spend.held_model_id = model.id


async def recheck(
    *, model: ModelSpec, prompt_tokens: int, max_tokens: int | None, spend: Spend
) -> GatewayError | None:
    """Move the hold to a fallback model's worst case; the refusal if it does not fit."""
    if spend.hold is None or spend.held_model_id == model.id:
        return None
    amount = worst_case_micros(model, prompt_tokens, max_tokens)
    try:
        await sync_to_async(budgets.budget_rereserve)(
            hold=spend.hold, amount_micros=amount, local=model.provider.is_local
        )
    except BudgetExceeded as exc:
        return _exceeded(exc)
    spend.held_model_id = model.id
    return None


def settle(*, spend: Spend, cost_micros: int, completion_tokens: int) -> None:
    """Charge the real cost, release the rest (sync: called beside the ledger write)."""
    if spend.hold is not None:
        budgets.budget_settle(hold=spend.hold, cost_micros=cost_micros)
    if spend.ticket is not None:
        ratelimit.rate_tokens_add(ticket=spend.ticket, tokens=completion_tokens)
        spend.ticket = None


def _exceeded(exc: BudgetExceeded) -> GatewayError:
    headers = {}
    if exc.resets_at is not None:
        wait = (exc.resets_at - timezone.now()).total_seconds()
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return GatewayError(
        exc.message, status=429, code="budget_exceeded", type="insufficient_quota",
        headers=headers,
    )  # fmt: skip
