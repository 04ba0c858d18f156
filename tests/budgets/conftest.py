import pytest

from apps.budgets.models import Budget
from apps.budgets.services import BudgetTarget, budget_set


def set_budget(scope="team", *, team=None, user=None, api_key=None, limit=1000, **options):
    """A budget of ``limit`` micro-dollars (default: a team's, blocking, per month)."""
    options.setdefault("period", Budget.Period.MONTH)
    target = BudgetTarget(scope, team=team, user=user, api_key=api_key)
    return budget_set(target=target, limit_micros=limit, **options)


@pytest.fixture
def team_budget(team):
    return set_budget(team=team, limit=1000)


@pytest.fixture
def api(hub, member):
    """The official openai client, as the member, against the live server."""
    import openai

    return openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)
