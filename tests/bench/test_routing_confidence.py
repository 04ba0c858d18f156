"""The answer-confidence measurements behind difficulty.UNSURE_BELOW
(bench/routing/confidence.py): the cache covers every item it measures, in
both ways of answering, and the threshold is the cut the docs say."""

import pytest

from bench.routing import confidence
from bench.routing.devset import build
from bench.routing.label import key


@pytest.fixture(scope="module")
def rows():
    return [r for r in build() if r["kind"] in confidence.KINDS]


def test_every_item_has_a_cached_answer_in_each_mode(rows):
    known = confidence.cached()
    for mode in confidence.MODES:
        missing = [r["id"] for r in rows if f"{mode}:{r['id']}:{key(r)}" not in known]
        assert not missing, f"{mode}: run python -m bench.routing.confidence ({missing[:3]}…)"
    assert all(0 < value <= 1 for value, _ in known.values())


def test_the_cut_separates_wrong_from_right_answers():
    values = [0.2, 0.3, 0.5, 0.7, 0.8, 0.9]
    wrong = [1, 1, 1, 0, 0, 1]
    assert confidence.threshold(values, wrong) == 0.7  # under it: 3 of 4 wrong, no right one
    assert confidence.threshold([0.4, 0.6], [0, 1]) == 0.4  # nothing separates: flag nothing


def test_the_shipped_threshold_is_what_the_train_split_chose(rows):
    """UNSURE_BELOW is the train split's best cut for sampled answers (0.65;
    greedy ones gave 0.67): kept within that range if the cache changes."""
    from apps.policy import difficulty

    local = difficulty.shipped().threshold
    known = confidence.cached()
    train = [r for r in rows if r["split"] == "train"]
    cuts = []
    for mode in confidence.MODES:
        kept = [
            known[f"{mode}:{r['id']}:{key(r)}"]
            for r in train
            if confidence.scores_of(r)["estimator"] < local
        ]
        cuts.append(confidence.threshold([c for c, _ in kept], [int(not ok) for _, ok in kept]))
    assert min(cuts) <= difficulty.UNSURE_BELOW <= max(cuts)
