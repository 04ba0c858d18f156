"""The gateway's side of budgets and key rate limits (apps/budgets).

Called from services.py at three marked places: ``admit`` before deciding
(the key's rate limits, the budgets that apply and how used up they are)
and ``reserve`` after the decision, both inside the request's one database
round before dispatch; ``recheck`` for a fallback model; ``settle_many`` where
the ledger rows are written. Budget refusals become 429s in OpenAI's error
shape.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.utils import timezone

from apps.budgets import ratelimit
from apps.budgets import services as budgets
from apps.budgets.errors import BudgetExceeded, RateLimited
from apps.budgets.leases import LEASE_IDLE_SECONDS, leases_held
from apps.budgets.selectors import Applicable, Who, budget_signal, budgets_applicable_now
from apps.providers.catalog import ModelSpec

from .errors import GatewayError

__all__ = [
    "Spend", "Who", "admit", "leases_held", "leases_return", "recheck", "reserve", "settle_many",
]  # fmt: skip

logger = logging.getLogger(__name__)

# The prompt's token count is estimated (about four characters a token)
# before any tokenizer has seen it: reserve a quarter more to be safe.
_PROMPT_MARGIN = 1.25


@dataclass
class Spend:
    """What a request holds: its budget reservation and its rate-limit ticket,
    and (between admit and reserve) the budgets that apply to it."""

    hold: budgets.Hold | None = None
    held_model_id: int | None = None
    ticket: ratelimit.RateTicket | None = None
    applicable: list[Applicable] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return self.hold.warnings if self.hold else []


def worst_case_micros(model: ModelSpec, prompt_tokens: int, max_tokens: int | None) -> int:
    prompt = math.ceil(prompt_tokens * _PROMPT_MARGIN)
    answer = max_tokens if max_tokens else max(model.context_window - prompt_tokens, 0)
    return model.cost_micros(prompt, answer)


def admit(*, who: Who, rpm: int | None, tpm: int | None, prompt_tokens: int, spend: Spend) -> float:
    """Count the request against its key's rate limits (or raise a 429), read
    the budgets it falls under, and return the budget signal for the policy.
    Synchronous: part of the request's one database round before dispatch."""
    now = timezone.now()
    budgets.budget_sweep_maybe(now=now)
    if who.api_key_id is not None and (rpm or tpm):
        try:
            spend.ticket = ratelimit.rate_admit(
                api_key_id=who.api_key_id, rpm=rpm, tpm=tpm, tokens=prompt_tokens, now=now
            )
        except RateLimited as exc:
            raise GatewayError(
                exc.message, status=429, code="rate_limited", type="rate_limit_error",
                headers={"Retry-After": str(exc.retry_after)},
            ) from exc  # fmt: skip
    spend.applicable = budgets_applicable_now(who, now)
    return budget_signal(who, now, applicable=spend.applicable)


def reserve(
    *, who: Who, model: ModelSpec, prompt_tokens: int, max_tokens: int | None, spend: Spend
) -> None:
    """Hold the worst case at the chosen model's prices (synchronous, like admit).

    A request that fell under no budget when admitted holds nothing and
    skips the reservation's transaction (on SQLite, a write lock).
    """
    if not spend.applicable:
        return
    amount = worst_case_micros(model, prompt_tokens, max_tokens)
    try:
        spend.hold = budgets.budget_reserve(
            who=who, amount_micros=amount, local=model.provider.is_local,
            applicable=spend.applicable,
        )  # fmt: skip
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


def settle_many(
    *, settlements: list[tuple[Spend, int, int]], flushed_by_next: bool = False
) -> None:
    """For each (spend, cost, completion tokens) of a batch of finished
    requests: charge the real cost, release the rest, count the tokens
    against the key's rate limit (sync: called beside the ledger write).
    The holds go in one statement (budget_settle_many); if it fails, each
    is settled on its own, so one bad hold does not keep the others held
    until they expire. ``flushed_by_next``: the ledger rows' commit comes
    right after, on this connection, and makes the settlements durable too."""
    holds = [(spend.hold, cost) for spend, cost, _ in settlements if spend.hold is not None]
    try:
        budgets.budget_settle_many(settlements=holds, flushed_by_next=flushed_by_next)
    except Exception:
        logger.warning("Settling %d holds at once failed; settling them one by one", len(holds))
        for hold, cost in holds:
            try:
                budgets.budget_settle(hold=hold, cost_micros=cost, flushed_by_next=flushed_by_next)
            except Exception:
                logger.exception("Could not settle a budget hold")
    for spend, _, completion_tokens in settlements:
        if spend.ticket is None:
            continue
        try:
            ratelimit.rate_tokens_add(ticket=spend.ticket, tokens=completion_tokens)
        except Exception:
            logger.exception("Could not count a request's tokens against its rate limit")
        spend.ticket = None


def leases_return(idle_seconds: float | None = None) -> None:
    """Give back this process's leases idle for ``idle_seconds`` (synchronous;
    the ledger writer runs it on its folding thread, every LEASE_IDLE_SECONDS
    while it holds any, by default, and the server's shutdown with 0).
    Failures are logged: the leases' rows then expire."""
    if idle_seconds is None:
        idle_seconds = LEASE_IDLE_SECONDS
    try:
        budgets.budget_leases_return(idle_seconds=idle_seconds)
    except Exception:
        logger.exception("Could not give budget leases back")


def _exceeded(exc: BudgetExceeded) -> GatewayError:
    headers = {}
    if exc.resets_at is not None:
        wait = (exc.resets_at - timezone.now()).total_seconds()
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return GatewayError(
        exc.message, status=429, code="budget_exceeded", type="insufficient_quota",
        headers=headers,
    )  # fmt: skip
