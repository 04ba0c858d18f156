"""Turning decisions and rules into text and safe HTML for the console."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from apps.policy.engine import Located

DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def conditions_text(when: dict[str, Any], level_names: Sequence[str]) -> str:
    parts = []
    if when.get("teams"):
        parts.append(f"teams {', '.join(map(str, when['teams']))}")
    if when.get("users"):
        parts.append(f"users {', '.join(map(str, when['users']))}")
    if when.get("api_keys"):
        parts.append(f"keys {', '.join(map(str, when['api_keys']))}")
    if when.get("sources"):
        parts.append("from " + "/".join(when["sources"]))
    if when.get("min_level") is not None:
        parts.append(f"level ≥ {level_names[when['min_level']]}")
    if when.get("max_level") is not None:
        parts.append(f"level ≤ {level_names[when['max_level']]}")
    if when.get("min_complexity") is not None:
        parts.append(f"complexity ≥ {when['min_complexity']}")
    if when.get("max_complexity") is not None:
        parts.append(f"complexity ≤ {when['max_complexity']}")
    if when.get("min_tokens") is not None:
        parts.append(f"≥ {when['min_tokens']} tokens")
    if when.get("max_tokens") is not None:
        parts.append(f"≤ {when['max_tokens']} tokens")
    if when.get("requested_models"):
        parts.append("asks for " + ", ".join(when["requested_models"]))
    if when.get("days"):
        parts.append(", ".join(DAY_NAMES[d] for d in when["days"]))
    if when.get("start_hour") is not None:
        parts.append(f"{when['start_hour']:02d}:00-{when['end_hour']:02d}:00")
    if when.get("min_budget_used") is not None:
        parts.append(f"budget ≥ {when['min_budget_used']:.0%} used")
    return " · ".join(parts) or "always"


def highlighted(text: str, findings: Sequence[Located], message: int) -> SafeString:
    """The text, escaped, with each finding wrapped in <mark> naming its type."""
    spans = sorted((f.finding for f in findings if f.message == message), key=lambda f: f.start)
    out, cursor = [], 0
    for finding in spans:
        if finding.start < cursor:
            continue
        out.append(escape(text[cursor : finding.start]))
        out.append(
            format_html(
                '<mark class="finding" title="{} ({})">{}</mark>',
                finding.label,
                finding.detector,
                text[finding.start : finding.end],
            )
        )
        cursor = finding.end
    out.append(escape(text[cursor:]))
    return mark_safe("".join(out))  # every piece above is escaped
