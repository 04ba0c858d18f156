from collections.abc import Iterable

from django import template

from apps.accounts.models import ApiKey
from apps.budgets.models import Budget
from apps.budgets.selectors import BudgetState, budget_state
from apps.budgets.services import dollars

register = template.Library()


@register.filter
def usd(micros: int) -> str:
    """Integer micro-dollars as dollars: 1234567 → $1.23."""
    return dollars(int(micros))


@register.simple_tag
def key_budgets(keys: Iterable[ApiKey]) -> dict[int, BudgetState]:
    """The budget of each of these API keys, by key id, in one query (the keys
    page lists them: a key's budget applies to API requests made with it, so
    it shows there rather than in the chat sidebar, which a key never uses)."""
    found = Budget.objects.filter(scope=Budget.Scope.KEY, api_key__in=list(keys))
    found = found.select_related("team", "api_key")
    return {b.api_key_id: budget_state(b) for b in found if b.api_key_id is not None}


@register.filter
def of_key(states: dict[int, BudgetState], key: ApiKey) -> BudgetState | None:
    return states.get(key.pk)
