"""Speed of the credentials detector alone, and of the keyword prefilter.

    .venv/bin/python bench/secret_finder.py

Times ``apps.policy.detectors.credentials.find_secret`` on the prompts of
bench/policy_decision.py (prose, 4 KB and 200 KB) and of
bench/classification_eval.py (prose and code, 4 KB). Reports wall time and
thread CPU time: on a busy machine the second is the steadier of the two,
because it does not count time spent waiting for a core.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import classification_eval  # noqa: E402
import policy_decision  # noqa: E402

from apps.policy.classification import _Scan  # noqa: E402
from apps.policy.detectors import credentials  # noqa: E402


def percentiles(clock: Callable[[], float], text: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        scan = _Scan(text)
        started = clock()
        list(credentials.find_secret(scan))
        samples.append(clock() - started)
    samples.sort()
    return samples[runs // 2] * 1e6, samples[int(runs * 0.99)] * 1e6


def main() -> None:
    prompts = {
        "prose 4 KB": (policy_decision.prompt_of(4096), 3000),
        "prose and code 4 KB": (
            classification_eval.prompt_of(4096, random.Random(classification_eval.SEED)),
            3000,
        ),
        "prose 200 KB": (policy_decision.prompt_of(200 * 1024), 20),
    }
    rules = credentials.rule_set()
    print(
        f"{len(rules.rules)} rules loaded, {len(rules.skipped)} skipped "
        f"(RE2 could not compile them: {', '.join(rules.skipped) or 'none'})"
    )
    for name, (text, runs) in prompts.items():
        percentiles(time.perf_counter, text, 20)  # warm up
        wall = percentiles(time.perf_counter, text, runs)
        cpu = percentiles(time.thread_time, text, runs)
        print(
            f"{name:20} wall p50 {wall[0]:8.1f} us p99 {wall[1]:8.1f} us | "
            f"thread CPU p50 {cpu[0]:8.1f} us p99 {cpu[1]:8.1f} us"
        )


if __name__ == "__main__":
    main()
