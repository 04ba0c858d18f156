"""The learned difficulty estimator: explanations, replay from stored
features, policy overrides, and the legacy scorer for old ledger rows."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.policy import difficulty
from apps.policy.complexity import complexity_of, legacy_features_of, score

TASK = (
    "Write a Python function that merges overlapping intervals, explain how to test it, "
    "list the edge cases, and analyse its time complexity."
)


def est(*texts, max_tokens=None):
    return difficulty.estimate(
        list(texts), estimated_tokens=sum(len(t) for t in texts) // 4, max_tokens=max_tokens
    )


def test_multi_step_request_scores_above_small_talk_and_the_shipped_threshold():
    hard, easy = est(TASK), est("hi! how are you today?")
    assert hard.score > easy.score
    assert hard.score >= difficulty.shipped().threshold > easy.score


def test_explanation_names_the_features_that_pushed_the_score_up():
    result = est(TASK)
    top = result.top(3)
    assert top, "a hard request is explained"
    ranked = sorted(result.contributions.items(), key=lambda kv: -kv[1])
    for name, (feature, share) in zip(top, ranked, strict=False):
        if feature == "lexical":
            assert name.startswith("words '") and result.terms
        else:
            assert name == feature and share > 0.05


def test_lexical_terms_are_the_ngrams_found_in_the_prompt():
    vocabulary = {"edge cases": 2.0, "hello": -1.0, "absent": 5.0}
    features, terms = difficulty.features_of(
        ["Hello, list the edge cases"], estimated_tokens=10, max_tokens=None, ngrams=vocabulary
    )
    assert features["lexical"] == pytest.approx(1.0)
    assert terms == ("edge cases", "hello")


def test_contributions_add_up_to_the_log_odds():
    result = est(TASK)
    w = difficulty.shipped()
    logit = w.bias + sum(result.contributions.values())
    assert result.score == pytest.approx(
        1 / (1 + pytest.importorskip("math").exp(-logit)), abs=1e-3
    )


def test_stored_features_rescore_to_the_same_estimate():
    live = complexity_of([TASK], estimated_tokens=40, max_tokens=None)
    again = score(live.features, {})
    assert again.score == live.score


def test_policy_overrides_move_the_score():
    features = est(TASK).features
    assert score(features, {"bias": -15}).score < 0.01
    assert score(features, {"bias": 15}).score > 0.99
    # Legacy weight names are accepted and ignored by the estimator.
    assert score(features, {"code": 1.0}).score == score(features, {}).score


def test_ledger_rows_from_the_legacy_scorer_are_rescored_with_it():
    old = legacy_features_of(["```python\nprint(1)\n```"], estimated_tokens=5, max_tokens=None)
    assert "lexical" not in old
    assert score(old, {"code": 1.0}).score == 1.0


def test_features_are_bounded_and_read_numbers_options_and_asks():
    features, _ = difficulty.features_of(
        ["Tom has 12 apples and buys 30 more. How many in total?\nA) 42\nB) 40\nC) 18\nD) 2"],
        estimated_tokens=30,
        max_tokens=None,
        ngrams={},
    )
    assert features["numbers"] > 0 and features["options"] == 1.0
    assert features["operations"] > 0
    assert all(0 <= v <= 1 for k, v in features.items() if k != "lexical")


def test_needed_tier_follows_the_cutoffs():
    assert difficulty.needed_tier(0.1, (0.4, 0.8)) == 1
    assert difficulty.needed_tier(0.5, (0.4, 0.8)) == 2
    assert difficulty.needed_tier(0.9, (0.4, 0.8)) == 3


def test_huge_prompts_read_only_the_start_and_end_of_the_latest_message():
    body = "lorem ipsum " * 50_000
    features, _ = difficulty.features_of(
        [body + " prove the theorem"], estimated_tokens=150_000, max_tokens=None, ngrams={}
    )
    assert features["log_tokens"] == 1.0


def features(text):
    return difficulty.features_of([text], estimated_tokens=20, max_tokens=None, ngrams={})[0]


def test_rare_names_follow_the_small_models_vocabulary():
    """A name the tokenizer has an early word for is well known; a late one
    is rarer; one it has no word for is the rarest (bench/routing/vocabulary.py)."""
    known = features("What is the capital of France?")["rare_names"]
    rarer = features("What is the capital of Paraguay?")["rare_names"]
    unknown = features("What is the capital of Kyrgyzstan?")["rare_names"]
    assert known < rarer < unknown == 1.0
    # capitalised common words (a sentence's first word) are not names
    assert features("What time is it? Thanks!")["rare_names"] == 0.0
    assert features("hi! how are you today?")["rare_names"] == 0.0


def test_coding_tasks_count_their_conditions_examples_and_named_algorithms():
    plain = features("Write a Python function `add` that returns the sum of a and b.")
    specified = features(
        "Write a Python function `dedupe` that removes duplicates from a list, keeping the "
        "first of each, ignoring case, e.g. dedupe(['a', 'A']) == ['a']; raise an error if "
        "the input is not a list."
    )
    assert plain["code_spec"] < specified["code_spec"]
    assert features("Implement Dijkstra's shortest path on a graph in Python.")["algorithms"] == 1.0
    # the same conditions outside a request for code are not a coding task's
    assert features("If it rains, e.g. in April, should I bring an umbrella?")["code_spec"] == 0
    assert plain["algorithms"] == 0


def test_arithmetic_reads_the_size_of_its_numbers_and_operations_named_by_a_word():
    assert features("What is 3 + 4?")["digits"] < features("What is 342 + 256?")["digits"]
    assert features("What is 1234567 + 1?")["digits"] == 1.0
    assert features("hi! how are you today?")["digits"] == 0.0
    # a number in a message that computes nothing is no arithmetic
    assert features("Thanks, see you at 10!")["digits"] == 0.0
    assert features("Can you reword this email about order 48213?")["digits"] == 0.0
    assert features("How many days are in 1234 weeks?")["digits"] == 1.0
    assert features("What is double 5?")["doubling"] == 1.0
    assert features("What is half of 40?")["doubling"] == 1.0
    assert features("What is 5 + 5?")["doubling"] == 0.0
    # without a number the word names no operation
    assert features("Write a double dactyl about the sea.")["doubling"] == 0.0
    assert features("The bus was late twice today.")["doubling"] == 0.0


def test_code_pasted_in_a_fence_is_material_not_what_is_asked():
    """HumanEval's requests (bench/routing/humaneval.py): the numbers, words
    and operators of a pasted function are not the request's."""
    pasted = "Complete this Python function:\n\n```python\ndef f(x):\n    return x * 48213 + 7\n```"
    found = features(pasted)
    assert found["has_code"] == 1.0  # the code still counts as code, and as length
    assert found["message_length"] > features("Complete this Python function:")["message_length"]
    assert found["numbers"] == found["digits"] == found["operations"] == 0.0
    assert "return" not in est(pasted).terms
    # the prose around the fence still counts, and an unclosed fence runs to the end
    assert features("What is 342 + 256?\n```\nprint(1)\n```")["digits"] > 0
    assert features("What is 342 + 256?\n```\n1 + 1")["digits"] > 0
    assert difficulty.prose_of("a ```b``` c ~~~d~~~ e ```f") == "a \n c \n e "


def test_a_doubling_is_explained_and_scored_above_the_same_sum_in_symbols():
    doubled, summed = est("What is double 5?"), est("What is 5 + 5?")
    assert "doubling" in doubled.top(3)
    assert doubled.score > summed.score
    assert "digits" in est("What is 342 + 256?").top(3)


def test_the_issues_multi_step_coding_request_is_explained_by_its_asks():
    result = est(TASK)
    assert result.features["algorithms"] > 0 and result.features["code_spec"] > 0
    assert set(result.top(3)) & {"asks", "algorithms", "code_spec", "analysis_words"}


# --- the fast readers say what their regular expressions say ------------------------

_TEXT = st.text(
    alphabet=st.sampled_from(list("aZq09 \n\t\r-'\u2019.,()*•=>{}#%<>/é١２\u200b(A)B)c.D)1.2)")),
    max_size=300,
) | st.text(max_size=200)
_CODE_LINE_MULTILINE = re.compile("^" + difficulty.CODE_LINE.pattern[2:], re.MULTILINE)
_LIST_ITEM_MULTILINE = re.compile("^" + difficulty.LIST_ITEM.pattern[2:], re.MULTILINE)


@given(_TEXT)
@settings(max_examples=400, deadline=None)
def test_words_are_what_the_word_pattern_finds(text):
    lower = text.lower()
    assert difficulty.words_of(lower) == re.findall(r"[a-z][a-z'-]*", lower)


@given(_TEXT)
@settings(max_examples=400, deadline=None)
def test_line_starts_are_found_as_with_multiline_anchors(text):
    assert difficulty.code_lines(text) == len(_CODE_LINE_MULTILINE.findall(text))
    assert difficulty.list_items(text) == len(_LIST_ITEM_MULTILINE.findall(text))


@given(_TEXT)
@settings(max_examples=200, deadline=None)
def test_lexical_pairs_are_the_joined_word_pairs_in_the_vocabulary(text):
    vocabulary = {"edge cases": 2.0, "a b": 1.0, "b": -1.0, "z-q": 0.5, "q a": 0.25}
    words = difficulty.words_of(text.lower())
    expected = [(vocabulary[g], g) for g in difficulty.ngrams_of(words) if g in vocabulary]
    assert difficulty.lexical_found(words, vocabulary, difficulty.pairs_of(vocabulary)) == expected


def test_the_refit_learns_n_grams_only_from_what_the_estimator_reads():
    """retrain_difficulty's vocabulary comes from the same excerpt as the
    features: no n-gram of fenced code, which inference never looks up."""
    from apps.policy import difficulty_fit

    fenced = "Complete this Python function:\n```python\nfrom typing import List\n```"
    conversations = [[fenced], [fenced], ["hi there friend"], ["hi there friend"]]
    model = difficulty_fit.fit_texts(conversations, [1, 1, 0, 0])
    assert "complete this" in model["ngrams"] or "complete" in model["ngrams"]
    assert not {g for g in model["ngrams"] if "typing" in g or "import" in g}
