"""Capability tiers: which models can do a request, relative to what the
organisation has. 1 small local (≈ 135M-3B: chit-chat, simple look-ups),
2 mid-size local (≈ 7B+: substantive work), 3 frontier cloud model.

A model's tier is set by an admin, or follows from what it is (``tier_of``).
``@capable`` in a rule lists the permitted models cheapest first, those
whose tier covers the request's estimated need ahead of the rest (so the
best weaker model is still a fallback when privacy or an outage removes
the capable ones).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from apps.providers.specs import ModelSpec

TIERS = {1: "small", 2: "mid-size", 3: "frontier"}
_SIZE = re.compile(r"(?<![0-9.])(\d+(?:\.\d+)?)\s*([mb])(?![a-z])", re.IGNORECASE)


def default_tier(is_local: bool, *names: str) -> int:
    """From what the model is: cloud models are frontier; a local model by
    the parameter count in its name or file (SmolLM2-135M → 1, a 7B → 2)."""
    if not is_local:
        return 3
    for name in names:
        found = _SIZE.search(name or "")
        if found:
            size = float(found.group(1)) * (1e6 if found.group(2).lower() == "m" else 1e9)
            return 2 if size >= 6e9 else 1
    return 1


def tier_of(model: ModelSpec) -> int:
    if model.tier:
        return model.tier
    local = model.local.model_file if model.local else ""
    return default_tier(model.provider.is_local, model.name, model.upstream_id, local)


def capable(by_cost: Sequence[ModelSpec], need: int) -> list[ModelSpec]:
    """Covering models cheapest first, then the others strongest first."""
    covering = [m for m in by_cost if tier_of(m) >= need]
    weaker = sorted((m for m in by_cost if tier_of(m) < need), key=lambda m: -tier_of(m))
    return [*covering, *weaker]
