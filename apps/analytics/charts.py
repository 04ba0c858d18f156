"""Chart.js configurations built from the same Tables the page lists, so a
chart's total is its table's total. Pure: no database here."""

from __future__ import annotations

from typing import Any

from .selectors import Table

PALETTE = (
    "#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2",
    "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488",
)  # fmt: skip
ROUTE_COLOURS = {
    "local": "#16a34a", "cloud": "#2563eb", "Local": "#16a34a", "Cloud": "#2563eb",
    "No model": "#9ca3af",
}  # fmt: skip


def _colour(index: int, label: str = "") -> str:
    return ROUTE_COLOURS.get(label, PALETTE[index % len(PALETTE)])


def _value(table: Table, column: int, cell: Any) -> Any:
    return cell / 1_000_000 if column in table.money and cell is not None else cell


def _chart(
    table: Table, kind: str, labels: list[Any], datasets: list[dict[str, Any]], **options: Any
) -> dict[str, Any]:
    return {
        "id": f"chart-{table.name}",
        "data_id": f"chart-{table.name}-data",
        "title": table.title,
        "type": kind,
        "labels": labels,
        "datasets": datasets,
        "stacked": options.get("stacked", False),
        "money": bool(table.money) and options.get("money", True),
        "horizontal": options.get("horizontal", False),
    }


def series(table: Table, kind: str = "bar", stacked: bool = True) -> dict[str, Any]:
    """A pivoted table (period, series…, Total) as one dataset per series."""
    labels = [row[0] for row in table.rows]
    datasets = [
        {
            "label": name,
            "data": [_value(table, i, row[i]) for row in table.rows],
            "backgroundColor": _colour(i - 1, name),
            "borderColor": _colour(i - 1, name),
        }
        for i, name in enumerate(table.columns[1:-1], start=1)
    ]
    return _chart(table, kind, labels, datasets, stacked=stacked)


def columns(
    table: Table, picks: list[int], kind: str = "bar", label_columns: int = 1, **options: Any
) -> dict[str, Any]:
    """Rows as labels (their first columns), the picked columns as datasets."""
    labels = [" ".join(str(cell) for cell in row[:label_columns]) for row in table.rows]
    datasets = [
        {
            "label": table.columns[i],
            "data": [_value(table, i, row[i]) for row in table.rows],
            "backgroundColor": _colour(n, table.columns[i]),
            "borderColor": _colour(n, table.columns[i]),
        }
        for n, i in enumerate(picks)
    ]
    money = all(i in table.money for i in picks)
    return _chart(table, kind, labels, datasets, **{"money": money, **options})


def doughnut(table: Table, column: int) -> dict[str, Any]:
    labels = [row[0] for row in table.rows]
    colours = [_colour(i, str(label)) for i, label in enumerate(labels)]
    datasets = [{"label": table.columns[column], "data": [r[column] for r in table.rows],
                 "backgroundColor": colours}]  # fmt: skip
    return _chart(table, "doughnut", labels, datasets, money=False)


def latency_lines(table: Table, offset: int, title: str) -> dict[str, Any]:
    """Per model, p50/p95/p99 lines over the periods; ``offset`` picks
    total latency (3) or time to first token (6)."""
    periods = sorted({row[0] for row in table.rows})
    models = sorted({row[1] for row in table.rows})
    cells = {(row[0], row[1]): row for row in table.rows}
    datasets = []
    for m, model in enumerate(models):
        for q, (name, dash) in enumerate((("p50", []), ("p95", [6, 3]), ("p99", [2, 2]))):
            datasets.append(
                {
                    "label": f"{model} {name}",
                    "data": [_cell(cells.get((p, model)), offset + q) for p in periods],
                    "borderColor": _colour(m),
                    "backgroundColor": _colour(m),
                    "borderDash": dash,
                    "spanGaps": True,
                }
            )
    chart = _chart(table, "line", periods, datasets, money=False)
    chart["id"] += f"-{offset}"
    chart["data_id"] = chart["id"] + "-data"
    chart["title"] = title
    return chart


def _cell(row: list[Any] | None, index: int) -> Any:
    return None if row is None else row[index]
