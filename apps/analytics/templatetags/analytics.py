from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from apps.analytics.selectors import Table

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


def _cell(table: Table, index: int, cell: Any) -> str:
    if index in table.money:
        return escape(dollars(cell))
    return "\u2013" if cell is None else escape(cell)  # an en dash


@register.simple_tag
def table_rows(request: HttpRequest, table: Table, link_kind: str = "") -> SafeString:
    """A table's body and totals row. Built here rather than with nested
    template loops: a 90-day latency table is about a thousand rows and
    Django's template engine took most of the page's time on them."""
    if not table.rows:
        return format_html(
            '<tbody><tr><td colspan="{}" class="muted">Nothing in this range.</td></tr></tbody>',
            len(table.columns),
        )
    out = ["<tbody>"]
    for row, link in table.linked_rows:
        cells = []
        for index, cell in enumerate(row):
            text = _cell(table, index, cell)
            if index == 0 and link:
                href = (
                    reverse("analytics:signals", args=[link])
                    if link_kind == "signals"
                    else drill_url(request, link)
                )
                text = f'<a href="{escape(href)}">{text}</a>'
            cells.append(f'<td class="num">{text}</td>' if index else f"<td>{text}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody>")
    if table.summed:
        cells = [
            f'<th class="num">{_cell(table, i, c)}</th>' if i else f"<th>{escape(c)}</th>"
            for i, c in enumerate(table.totals)
        ]
        out.append(f"<tfoot><tr>{''.join(cells)}</tr></tfoot>")
    return mark_safe("".join(out))  # every cell is escaped above
