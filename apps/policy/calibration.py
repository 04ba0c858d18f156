"""Choosing the difficulty threshold from an operating point.

Pure functions over recent traffic's recorded signals (each request's
difficulty score; the score is the estimated chance the small local model
fails, so the scores below a threshold sum to the hard prompts expected to
stay local). The console shows the curve and writes the chosen threshold
into the draft; nothing here publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Target = Literal["share", "spend", "quality"]
STEPS = 50
QUALITY_KEPT = 0.10  # "quality first": at most this share of hard prompts stays local


@dataclass(frozen=True)
class Point:
    threshold: float
    cloud_share: float  # of requests sent up at this threshold
    hard_kept_local: float  # expected share of the hard prompts that stay local


def curve(scores: Sequence[float], steps: int = STEPS) -> list[Point]:
    """Cloud share against expected hard prompts kept local, threshold 0 → 1."""
    total = len(scores)
    expected_hard = sum(scores)
    points = []
    for i in range(steps + 1):
        t = i / steps
        up = sum(1 for s in scores if s >= t)
        kept = sum(s for s in scores if s < t)
        points.append(
            Point(
                round(t, 4),
                up / total if total else 0.0,
                kept / expected_hard if expected_hard else 0.0,
            )
        )
    return points


def threshold_for(
    scores: Sequence[float],
    target: Target,
    value: float = 0.0,
    *,
    cloud_cost_per_request: float = 0.0,
    requests_per_month: float = 0.0,
) -> float:
    """The lowest threshold that keeps within the target.

    share: cloud share ≤ ``value`` (0-1); spend: expected monthly cloud
    spend ≤ ``value`` (same unit as the cost per request); quality: the
    highest threshold that keeps at most QUALITY_KEPT of hard prompts local.
    """
    points = curve(scores)
    if target == "quality":
        fits = [p.threshold for p in points if p.hard_kept_local <= QUALITY_KEPT]
        return max(fits) if fits else 0.0
    if target == "spend":
        monthly_per_share = cloud_cost_per_request * requests_per_month
        value = value / monthly_per_share if monthly_per_share > 0 else 1.0
    fits = [p.threshold for p in points if p.cloud_share <= value]
    return min(fits) if fits else 1.0


def auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """ROC AUC: P(a random hard item scores above a random easy one), ties half."""
    pairs = sorted(zip(scores, labels, strict=True))
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    # Rank-sum (Mann-Whitney) with average ranks for ties: O(n log n).
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average = (i + j + 1) / 2  # ranks i+1 … j
        rank_sum += average * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
