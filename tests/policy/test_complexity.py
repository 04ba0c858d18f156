"""The legacy noisy-OR scorer: still rescores ledger rows recorded before
the learned estimator (tests/policy/test_difficulty.py) and is the report's
baseline."""

import pytest

from apps.policy.complexity import LEGACY_WEIGHTS as DEFAULT_WEIGHTS
from apps.policy.complexity import legacy_features_of as features_of
from apps.policy.complexity import legacy_score as score


def of(*texts, tokens=None, max_tokens=None):
    estimate = tokens if tokens is not None else sum(len(t) // 4 for t in texts)
    return score(
        features_of(list(texts), estimated_tokens=estimate, max_tokens=max_tokens),
        DEFAULT_WEIGHTS,
    )


def test_small_talk_is_simple():
    result = of("hi, what's the capital of France?")
    assert result.score < 0.1


def test_hard_analytical_request_is_complex():
    prompt = (
        "Analyze the trade-offs between these two database designs and recommend one. "
        "Explain why, step by step, and compare their failure modes.\n"
        "1. It must handle 10k writes/s\n2. It should keep p99 under 5 ms\n"
        "3. Ensure no data loss\n```sql\nCREATE TABLE events (id bigint primary key);\n```\n"
        "Write a detailed report."
    )
    result = of(prompt)
    assert result.score > 0.6
    assert set(result.top(3)) & {"reasoning", "code", "constraints"}


@pytest.mark.parametrize(
    ("feature", "text"),
    [
        ("code", "```python\nprint(1)\n```"),
        ("math", "Prove the theorem: solve for x in x^2 = 4 and compute the integral"),
        ("reasoning", "Analyze, compare and critique this plan"),
        ("constraints", "- one\n- two\n- three\nmust be short, at least 3 items"),
        ("output_length", "Write a comprehensive essay"),
    ],
)
def test_each_feature_responds_to_its_signal(feature, text):
    assert features_of([text], estimated_tokens=10, max_tokens=None)[feature] > 0
    assert features_of(["hello there"], estimated_tokens=10, max_tokens=None)[feature] == 0


def test_length_depth_and_max_tokens_saturate():
    features = features_of(["x"] * 30, estimated_tokens=10_000, max_tokens=100_000)
    assert features["length"] == features["depth"] == features["output_length"] == 1.0


def test_signals_combine_as_a_noisy_or_and_weights_are_tunable():
    features = {"code": 1.0, "reasoning": 0.5, "math": 0.0}
    result = score(features, {"code": 0.5, "reasoning": 0.6, "math": 0.5})
    assert result.score == pytest.approx(1 - (1 - 0.5) * (1 - 0.3))
    assert sum(result.contributions.values()) == pytest.approx(result.score, abs=1e-3)
    assert result.contributions["code"] > result.contributions["reasoning"] > 0
    assert result.contributions["math"] == 0
    only_reasoning = score(features, {"reasoning": 1.0})
    assert only_reasoning.score == 0.5 and only_reasoning.contributions["code"] == 0
    assert score(features, {}).score == 0
    assert score({"code": 1.0}, {"code": 1.0}).score == 1.0


def test_default_weights_cover_every_feature():
    assert set(DEFAULT_WEIGHTS) == set(features_of(["x"], estimated_tokens=1, max_tokens=None))
