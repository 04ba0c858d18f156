"""How demanding a conversation is, from 0 to 1: the policy's entry points.

``complexity_of`` and ``score`` now use the learned difficulty estimator
(difficulty.py: the chance a small local model gets the request wrong). A
policy's ``complexity_weights`` override its learned feature weights.

The first scorer, kept below as ``legacy_*``, still rescores ledger rows
recorded before the estimator (their features are the legacy ones) and is
the baseline in the dev-set report (docs/routing.md). It worked like this:

Transparent on purpose: a few cheap features, each in [0, 1], combined as a
"noisy OR": a feature's weight is how complex a request is if that feature
alone is at full strength, and independent signals add up without any one
being diluted by the features a request lacks (a hard proof needs no code).
Each feature's share of the score is shown, so an admin can read why a
request scored what it did and tune the weights in the policy. No model, no
network; microseconds on a 4 KB prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from . import difficulty

LEGACY_WEIGHTS: dict[str, float] = {
    "length": 0.5,
    "code": 0.5,
    "math": 0.5,
    "reasoning": 0.6,
    "constraints": 0.4,
    "depth": 0.3,
    "output_length": 0.4,
}

LEGACY_FEATURE_DESCRIPTIONS: dict[str, str] = {
    "length": "How long the conversation is (tokens, saturating at 3000)",
    "code": "Code blocks or code-like lines",
    "math": "Formulas, equations and mathematical vocabulary",
    "reasoning": "Analysis, comparison, planning or proof language",
    "constraints": "Number of requirements, steps or list items asked for",
    "depth": "Number of turns in the conversation (saturating at 12)",
    "output_length": "A long answer asked for (max_tokens or wording)",
}

# The legacy scorer reads code and list items as the estimator does
# (linear: "[ \t]*" indentation, never "\s*" under MULTILINE).
_CODE_FENCE = difficulty.CODE_FENCE
_COMPARISON = re.compile(r"[=<>≤≥] ?-?\d")
_INLINE_MATH = re.compile(r"\$[^$\n]{1,80}\$")
_WORD = re.compile(r"[a-z][a-z-]*")
# "500 words"; the lookbehind starts a number only at its first digit, so a
# long run of digits is read once, not once per digit.
_WORD_COUNT = re.compile(r"(?<![0-9])[0-9]{3,} words")

# Vocabulary is matched on lower-cased words (a set lookup each) and a few
# phrases (substring counts): an alternation regex with IGNORECASE over the
# whole prompt cost ten times more.
_MATH_WORDS = frozenset(
    "equation equations integral derivative theorem lemma prove proof matrix probability "
    "variance regression polynomial calculate optimise optimize eigenvalue eigenvector".split()
)
_MATH_PHRASES = (
    "\\frac",
    "\\sum",
    "\\int",
    "\\sqrt",
    "\\alpha",
    "\\lambda",
    "\\partial",
    "solve for",
)
_REASONING_WORDS = frozenset(
    "analyse analyze analysis compare comparison evaluate assess trade-off trade-offs "
    "tradeoff tradeoffs justify critique design architecture architect plan strategy "
    "strategic implication implications recommend recommendation recommendations diagnose "
    "diagnosis debug refactor investigate hypothesis hypotheses argue synthesise "
    "synthesize reason reasoning".split()
)
_REASONING_PHRASES = ("pros and cons", "explain why", "step by step", "step-by-step", "root cause")
_CONSTRAINT_WORDS = frozenset(
    "must should without ensure exactly unless require required requires".split()
)
_CONSTRAINT_PHRASES = ("at least", "at most", "no more than", "make sure", "only if")
_LONG_WORDS = frozenset("detailed comprehensive thorough in-depth essay report".split())
_LONG_PHRASES = ("in detail", "in depth", "full implementation", "full document", "full article")


def _vocabulary_hits(
    words: list[str], text: str, vocabulary: frozenset[str], phrases: tuple[str, ...]
) -> int:
    return sum(word in vocabulary for word in words) + sum(text.count(p) for p in phrases)


Complexity = difficulty.Complexity
# What a policy's complexity_weights may name: the estimator's features and
# its bias (any value), or the legacy scorer's (ignored by the estimator).
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "bias": "Log-odds of failing before any feature counts",
    **difficulty.FEATURE_DESCRIPTIONS,
}
WEIGHT_NAMES = frozenset(FEATURE_DESCRIPTIONS)
# The shipped (learned) weights: what a policy without overrides uses.
DEFAULT_WEIGHTS: dict[str, float] = {
    "bias": difficulty.shipped().bias,
    **{name: difficulty.shipped().features.get(name, 0.0) for name in difficulty.FEATURES},
}


def _saturate(count: float, full: float) -> float:
    return min(1.0, count / full)


def legacy_features_of(
    texts: Sequence[str], *, estimated_tokens: int, max_tokens: int | None
) -> dict[str, float]:
    """Feature values in [0, 1] for a conversation (all its messages' texts).

    Code looks at the whole conversation; the other content features at the
    latest message, which is what the model is being asked to do now.
    """
    everything = "\n".join(texts)
    last = (texts[-1] if texts else "").lower()
    words = _WORD.findall(last)
    fences = len(_CODE_FENCE.findall(everything)) // 2
    code_lines = difficulty.code_lines(everything)
    math = _vocabulary_hits(words, last, _MATH_WORDS, _MATH_PHRASES)
    math += len(_COMPARISON.findall(last)) + (len(_INLINE_MATH.findall(last)) if "$" in last else 0)
    constraints = _vocabulary_hits(words, last, _CONSTRAINT_WORDS, _CONSTRAINT_PHRASES)
    output = _saturate(max_tokens or 0, 4000)
    if _vocabulary_hits(words, last, _LONG_WORDS, _LONG_PHRASES) or _WORD_COUNT.search(last):
        output = max(output, 0.7)
    return {
        "length": _saturate(estimated_tokens, 3000),
        "code": max(_saturate(fences, 1), _saturate(code_lines, 8)),
        "math": _saturate(math, 4),
        "reasoning": _saturate(
            _vocabulary_hits(words, last, _REASONING_WORDS, _REASONING_PHRASES), 3
        ),
        "constraints": _saturate(constraints + difficulty.list_items(last), 6),
        "depth": _saturate(len(texts), 12),
        "output_length": output,
    }


def legacy_score(features: Mapping[str, float], weights: Mapping[str, float]) -> Complexity:
    """1 - Π(1 - weight * value); each feature's share is proportional to its
    weight * value. Features without a weight count for nothing."""
    strengths = {
        name: min(1.0, max(0.0, weights.get(name, 0.0))) * value for name, value in features.items()
    }
    remaining = 1.0
    for strength in strengths.values():
        remaining *= 1.0 - strength
    total = 1.0 - remaining
    spread = sum(strengths.values()) or 1.0
    return Complexity(
        score=round(total, 4),
        features=dict(features),
        contributions={name: round(total * s / spread, 4) for name, s in strengths.items()},
    )


def overrides(weights: Mapping[str, float]) -> dict[str, float]:
    """The estimator's weights a policy sets (legacy names are ignored)."""
    return {name: value for name, value in weights.items() if name in WEIGHT_NAMES}


def score(features: Mapping[str, float], weights: Mapping[str, float]) -> Complexity:
    """Rescore stored features (replay): with the estimator, or with the
    legacy scorer for rows recorded before it."""
    if "lexical" not in features and "length" in features:
        legacy = {k: v for k, v in weights.items() if k in LEGACY_WEIGHTS} or LEGACY_WEIGHTS
        return legacy_score(features, legacy)
    return difficulty.score(features, overrides(weights))


def complexity_of(
    texts: Sequence[str],
    *,
    estimated_tokens: int,
    max_tokens: int | None,
    weights: Mapping[str, float] | None = None,
) -> Complexity:
    return difficulty.estimate(
        texts,
        estimated_tokens=estimated_tokens,
        max_tokens=max_tokens,
        overrides=overrides(weights or {}),
    )
