"""Fitting the difficulty estimator: L2-regularised logistic regression in numpy.

Used by ``manage.py retrain_difficulty`` (on the dev set) and by the
learning job (on recorded signals, features only). Small data, full-batch
gradient descent: no solver dependency needed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .difficulty import FEATURES, WEIGHTS_FILE, excerpt_of, features_of, ngrams_of, words_of

DENSE = tuple(f for f in FEATURES if f != "lexical")
# Length terms are monotone: a longer request never scores easier through
# them, so the estimator cannot lose what length alone knows.
MONOTONE = frozenset({"log_tokens", "message_length", "code_length"})
# Function words are left out of the vocabulary as unigrams: on a small set
# they pick up the prompt templates' style, and "words 'and', 'the'" explains
# nothing. (Inside bigrams they stay: "how many", "edge cases".)
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its me my "
    "of on or so that the this to was what which who with you your".split()
)


def _fit(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    l2: np.ndarray[Any, Any],
    steps: int = 3000,
    start: tuple[float, np.ndarray[Any, Any]] | None = None,
    nonnegative: np.ndarray[Any, Any] | None = None,
) -> tuple[float, np.ndarray[Any, Any]]:
    """Logistic regression by gradient descent with Nesterov momentum; returns
    (bias, w). With ``start``, the L2 pull is toward it instead of zero; the
    weights where ``nonnegative`` is true are kept ≥ 0 (projected steps)."""
    n, d = x.shape
    w0 = start[1] if start else np.zeros(d)
    w = w0.copy()
    b = start[0] if start else float(np.log((y.mean() + 1e-3) / (1 - y.mean() + 1e-3)))
    vw, vb = np.zeros(d), 0.0
    rate = 0.5
    for _ in range(steps):
        z = np.clip(x @ (w + 0.9 * vw) + b + 0.9 * vb, -30, 30)
        p = 1 / (1 + np.exp(-z))
        grad_w = x.T @ (p - y) / n + l2 * (w + 0.9 * vw - w0)
        grad_b = float((p - y).mean())
        vw = 0.9 * vw - rate * grad_w
        vb = 0.9 * vb - rate * grad_b
        w, b = w + vw, b + vb
        if nonnegative is not None:
            w = np.where(nonnegative & (w < 0), 0.0, w)
    return b, w


def fit_features(
    rows: Sequence[dict[str, float]],
    labels: Sequence[int],
    l2: float = 0.05,
    prior: dict[str, float] | None = None,
) -> tuple[float, dict[str, float]]:
    """Refit the feature weights (``lexical`` included, as one feature) from
    stored features only: what the learning job can do without text. With
    ``prior`` (weights and "bias"), the fit starts at and is pulled toward it."""
    names = list(FEATURES)
    x = np.array([[row.get(f, 0.0) for f in names] for row in rows], dtype=float)
    y = np.array(labels, dtype=float)
    start = None
    if prior is not None:
        start = (prior.get("bias", 0.0), np.array([prior.get(f, 0.0) for f in names]))
    bias, w = _fit(x, y, np.full(len(names), l2), steps=1500, start=start)
    return round(float(bias), 4), {n: round(float(v), 4) for n, v in zip(names, w, strict=True)}


def fit_texts(
    conversations: Sequence[Sequence[str]],
    labels: Sequence[int],
    *,
    min_count: int = 2,
    max_ngrams: int = 1500,
    l2_dense: float = 0.003,
    l2_ngrams: float = 0.03,
) -> dict[str, Any]:
    """Dense features plus an n-gram vocabulary from the training texts."""
    counts: dict[str, int] = {}
    grams_of = []
    for turns in conversations:
        grams = set(ngrams_of(_words(turns[-1])))
        grams_of.append(grams)
        for g in grams:
            counts[g] = counts.get(g, 0) + 1
    vocabulary = sorted(g for g, c in counts.items() if c >= min_count and g not in STOPWORDS)
    index = {g: i for i, g in enumerate(vocabulary)}
    dense = []
    for turns in conversations:
        features, _ = features_of(
            turns, estimated_tokens=_tokens(turns), max_tokens=None, ngrams={}
        )
        dense.append([features[f] for f in DENSE])
    x_dense = np.array(dense, dtype=float)
    x_grams = np.zeros((len(conversations), len(vocabulary)))
    for row, grams in enumerate(grams_of):
        for g in grams:
            if g in index:
                x_grams[row, index[g]] = 1.0
    x = np.hstack([x_dense, x_grams])
    l2 = np.concatenate([np.full(len(DENSE), l2_dense), np.full(len(vocabulary), l2_ngrams)])
    monotone = np.array([f in MONOTONE for f in DENSE] + [False] * len(vocabulary))
    bias, w = _fit(x, np.array(labels, dtype=float), l2, nonnegative=monotone)
    gram_weights = {g: float(w[len(DENSE) + i]) for g, i in index.items()}
    kept = sorted(gram_weights.items(), key=lambda kv: -abs(kv[1]))[:max_ngrams]
    return {
        "bias": round(bias, 4),
        "features": {
            **{f: round(float(v), 4) for f, v in zip(DENSE, w[: len(DENSE)], strict=True)},
            "lexical": 1.0,
        },
        "ngrams": {g: round(v, 4) for g, v in sorted(kept) if abs(v) >= 0.01},
    }


def _words(text: str) -> list[str]:
    """The words whose n-grams the estimator looks up (features_of reads the
    same excerpt: fenced code and the middle of a huge message left out)."""
    return words_of(excerpt_of(text).lower())


def _tokens(turns: Sequence[str]) -> int:
    return sum(len(t) for t in turns) // 4 + 1


def write(model: dict[str, Any], path: Path = WEIGHTS_FILE) -> None:
    path.write_text(json.dumps(model, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def operating_point(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The threshold that maximises hard caught minus easy sent up (Youden's J)."""
    best, best_j = 0.5, -1.0
    hard = sum(labels) or 1
    easy = (len(labels) - sum(labels)) or 1
    for t in sorted(set(round(s, 2) for s in scores)):
        tp = sum(1 for s, y in zip(scores, labels, strict=True) if y and s >= t)
        fp = sum(1 for s, y in zip(scores, labels, strict=True) if not y and s >= t)
        j = tp / hard - fp / easy
        if j > best_j:
            best, best_j = t, j
    return round(best, 4)
