from django import template

from apps.budgets.services import dollars

register = template.Library()


@register.filter
def usd(micros: int) -> str:
    """Integer micro-dollars as dollars: 1234567 → $1.23."""
    return dollars(int(micros))
