from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest

register = template.Library()


@register.filter
def dollars(micros: Any) -> str:
    """Micro-dollars as dollars: cents, or four places under a dollar."""
    if not isinstance(micros, int):
        return "" if micros is None else str(micros)
    value = micros / 1_000_000
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:,.4f}"


@register.simple_tag
def csv_url(request: HttpRequest, name: str) -> str:
    query = request.GET.copy()
    query["format"], query["table"] = "csv", name
    return f"{request.path}?{query.urlencode()}"


@register.simple_tag
def drill_url(request: HttpRequest, link: str) -> str:
    """The dashboard filtered by a row's link (``user=…&team=…``)."""
    query = request.GET.copy()
    for part in link.split("&"):
        key, _, value = part.partition("=")
        query[key] = value
    return f"{request.path}?{query.urlencode()}"
