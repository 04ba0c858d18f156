"""Calibration: the trade-off curve and the threshold for each kind of target."""

import itertools
import random

import pytest

from apps.policy.calibration import QUALITY_KEPT, auc, curve, threshold_for

SCORES = [i / 100 for i in range(100)]


def test_curve_trades_cloud_share_for_hard_prompts_kept_local():
    points = curve(SCORES)
    assert points[0].cloud_share == 1 and points[0].hard_kept_local == 0
    assert points[-1].threshold == 1 and points[-1].cloud_share == 0
    for a, b in itertools.pairwise(points):
        assert b.cloud_share <= a.cloud_share and b.hard_kept_local >= a.hard_kept_local


def test_target_share_gives_the_lowest_threshold_within_it():
    t = threshold_for(SCORES, "share", 0.2)
    assert sum(s >= t for s in SCORES) / len(SCORES) <= 0.2
    assert sum(s >= t - 0.02 for s in SCORES) / len(SCORES) > 0.2


def test_target_spend_is_a_share_of_the_monthly_volume():
    # 1000 requests a month at $0.01 each in the cloud: $2 buys a 20% share.
    spend = threshold_for(
        SCORES, "spend", 2.0, cloud_cost_per_request=0.01, requests_per_month=1000
    )
    assert spend == threshold_for(SCORES, "share", 0.2)
    assert (
        threshold_for(SCORES, "spend", 0.0, cloud_cost_per_request=0.01, requests_per_month=1000)
        == 1.0
    )


def test_quality_first_keeps_few_hard_prompts_local():
    t = threshold_for(SCORES, "quality")
    kept = sum(s for s in SCORES if s < t) / sum(SCORES)
    assert kept <= QUALITY_KEPT and t > 0


def test_auc_matches_the_pairwise_definition():
    rng = random.Random(3)
    scores = [round(rng.random(), 1) for _ in range(60)]
    labels = [int(rng.random() < s) for s in scores]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    brute = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert auc(scores, labels) == pytest.approx(brute)
    assert auc([0.1, 0.2], [1, 1]) is None
