"""Estimator cost at 4 KB against the legacy scorer, interleaved in one
process (so machine load hits both alike).

    .venv/bin/python -m bench.routing.estimator_speed
"""

from __future__ import annotations

import random
import statistics
import time

from apps.policy import difficulty
from apps.policy.complexity import LEGACY_WEIGHTS, legacy_features_of, legacy_score
from bench.policy_decision import SENTENCES


def main(runs: int = 2000) -> None:
    rng = random.Random(4)
    text = ""
    while len(text) < 4096:
        text += rng.choice(SENTENCES) + "\n"
    text = text[:4096]
    new, old = [], []
    for _ in range(runs):
        t = time.perf_counter()
        difficulty.estimate([text], estimated_tokens=1024, max_tokens=None)
        new.append(time.perf_counter() - t)
        t = time.perf_counter()
        legacy_score(
            legacy_features_of([text], estimated_tokens=1024, max_tokens=None), LEGACY_WEIGHTS
        )
        old.append(time.perf_counter() - t)
    for name, times in (("estimator", new), ("legacy scorer", old)):
        times.sort()
        p99 = times[int(len(times) * 0.99)]
        print(f"{name}: p50 {statistics.median(times) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
