"""How likely a small local model is to get a request wrong, with the reasons.

A logistic regression over a few interpretable features plus a vocabulary of
word unigrams and bigrams, learned on the dev set (bench/routing, see
docs/routing.md). Its weights are a reviewed data file in the repository
(data/difficulty.json); ``python manage.py retrain_difficulty`` rewrites it.

    score = sigmoid(bias + Σ weight[f] · feature[f])

Every feature is stored with the decision, including ``lexical`` (the sum
of the weights of the n-grams found), so replay and the learning job can
rescore a request without its text. Each feature's contribution is its
weight times its value (in log-odds); the explanation is the largest ones,
and for ``lexical`` the n-grams that weighed most.

Cost: one pass of a few compiled regexes over the latest message and one
dict lookup per word and word pair of its first ``NGRAM_WORDS`` words.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

WEIGHTS_FILE = Path(__file__).resolve().parent / "data" / "difficulty.json"
# Names the small model's tokenizer has a word for, frequent first
# (bench/routing/vocabulary.py writes it from the model's GGUF).
VOCABULARY_FILE = WEIGHTS_FILE.with_name("vocabulary.json")
WELL_KNOWN_NAMES = 300  # the most frequent names count as known (rarity 0)
NGRAM_WORDS = 400  # words of the latest message looked up as n-grams
# Word, number, option and list-item features read the latest message's start
# and end (where the task is usually said), not a pasted document's middle:
# bounded cost at any size.
HEAD, TAIL = 1600, 800
# A local answer whose confidence (Usage.confidence: the geometric mean of
# the probability of the model's likeliest next token over its answer) is
# under this counts as unsure (docs/routing.md, "What the text cannot say"):
# the chat says so beside "Ask a stronger model", the learning job counts it
# as a request too hard for where it went, and X-HybridHub-Cascade re-asks.
UNSURE_BELOW = 0.65


def is_unsure(confidence: float | None) -> bool:
    """A local answer's confidence under UNSURE_BELOW (None: the runtime did not say)."""
    return confidence is not None and confidence < UNSURE_BELOW


FEATURE_DESCRIPTIONS: dict[str, str] = {
    "log_tokens": "Length of the conversation (log of tokens)",
    "turns": "Number of messages (saturating at 12)",
    "has_code": "Code blocks or code-like lines",
    "numbers": "Numbers in the latest message (saturating at 8)",
    "operations": "Arithmetic wording: percent, each, total, left, change…",
    "options": "Multiple-choice options (A) … D))",
    "asks": "Distinct things asked for: write, explain, list, compare… (saturating at 4)",
    "analysis_words": "Analysis, comparison, planning or proof language",
    "requirements": "Requirements: must, exactly, at least, list items",
    "proper_nouns": "Capitalised words inside sentences (names, places)",
    "long_words": "Share of words of 9 letters or more",
    "long_answer": "A long answer asked for (max_tokens or wording)",
    "rare_names": "The rarest name asked about, as rare as the small model's vocabulary finds it",
    "algorithms": "Named algorithms and data structures (saturating at 2)",
    "code_spec": "Conditions, cases and examples in a request for code (saturating at 6)",
    "message_length": "Length of the latest message (log scale, 30 to 3,000 characters)",
    "code_length": "Length of the latest message when it asks for code",
    "elementary": "A request for code that names only an elementary operation (sum, square, even…)",
    "digits": "Digits of the largest number, in a message that computes (saturating at 4)",
    "doubling": "An operation on a number named by one word: double, twice, half, triple…",
    "lexical": "Words and word pairs the model learned (see the terms)",
}
FEATURES = tuple(FEATURE_DESCRIPTIONS)

CODE_FENCE = re.compile(r"```|~~~")
# Line-start patterns begin with "\n" and read "\n" + text: CPython's ``re``
# then jumps from newline to newline in C, where "^" under MULTILINE made it
# try every character. Indentation is "[ \t]*", never "\s*", which would
# start at every line of a run of blank lines and read the whole run each
# time (quadratic: 12 KB of newlines froze the server for seconds).
CODE_LINE = re.compile(
    r"\n[ \t]*(def |class |import |from \S+ import |function |const |let |var |public |"
    r"#include|SELECT |INSERT |UPDATE |CREATE |for \(|if \(|return |\}|\{$|</?\w+>)",
    re.MULTILINE,  # for "\{$" only
)
LIST_ITEM = re.compile(r"\n[ \t]*(?:[-*•]|\d+[.)])[ \t]+")
_OPTION = re.compile(r"\n[ \t]*\(?[A-Da-d][).][ \t]")
# Digits stay, everything else becomes a space: the runs of digits are then
# what ``split`` returns (C speed; ``re.findall(r"[0-9]+")`` cost ten times more).
_DIGITS_BYTES = bytes(c if 48 <= c <= 57 else 32 for c in range(256))
# The words of a lower-cased text, as ``[a-z][a-z'-]*`` would find them:
# every other character becomes a space (bytes.translate, C speed), the rest
# is split, and a word's leading "'" or "-" dropped.
_WORD_BYTES = bytes(c if chr(c) in "abcdefghijklmnopqrstuvwxyz'-" else 32 for c in range(256))
# A capital after a lower-case letter or comma and a space: starts with the
# space (a fast scan) and looks back at what came before it.
_PROPER = re.compile(r" (?<=[a-z,] )[A-Z][a-z]")
_WORD_COUNT = re.compile(r"(?<![0-9])[0-9]{3,} words")

_OPERATION_WORDS = frozenset(
    "each total left change percent % remaining altogether equally per twice half "
    "sum difference product average cost costs spent".split()
)
_ASK_WORDS = frozenset(
    "write explain list compare analyse analyze design implement describe evaluate "
    "recommend critique summarise summarize plan prove derive justify test outline "
    "estimate structure specify steelman".split()
)
_REASONING_WORDS = frozenset(
    "analyse analyze analysis compare comparison evaluate assess trade-off trade-offs "
    "tradeoff tradeoffs justify critique design architecture plan strategy implications "
    "recommend diagnose debug refactor investigate hypothesis argue synthesise "
    "synthesize reasoning complexity edge risks effects".split()
)
# Classic algorithms and data structures (general knowledge, not the dev set's tasks).
_ALGORITHM_WORDS = frozenset(
    "algorithm recursion recursive recursively memoize memoization dynamic programming "
    "factorial fibonacci prime primes sieve palindrome anagram anagrams permutation "
    "permutations combinations subsets powerset gcd lcm modular exponentiation binary "
    "search bisect sort sorting sorted quicksort mergesort heapsort merge heap priority "
    "queue stack deque trie tree trees bst graph graphs dijkstra bfs dfs traversal "
    "topological shortest spanning knapsack backtracking greedy interval intervals "
    "matrix transpose determinant roman numeral numerals parse parser parsing tokenizer "
    "regex regular expression encode decode encoding compression huffman hash hashing "
    "lru cache linked list nested flatten balanced brackets parentheses fizzbuzz "
    "levenshtein distance substring subsequence".split()
)
# What asks for code, and what makes a coding task's specification longer:
# conditions, special cases, inline examples.
_CODE_ASK_WORDS = frozenset(
    "function python javascript typescript java rust golang bash sql script program "
    "implement implementation code class method snippet regex".split()
)
_SPEC_WORDS = frozenset(
    "if otherwise unless ignoring ignore without where except including excluding "
    "nested arbitrarily ties tie distinct non-negative non-empty empty negative "
    "duplicates duplicate case order both either each given raise raises error "
    "invalid edge cases tests test".split()
)
# Beginner exercises: one elementary operation (general knowledge, like the
# algorithm list above; what a request for code names when it is trivial).
_ELEMENTARY_WORDS = frozenset(
    "add adds addition sum subtract subtracts subtraction multiply multiplies multiplication "
    "divide divides division square squares squared cube cubed double doubles triple half "
    "even odd absolute negate reverse reverses reversed uppercase lowercase upper lower "
    "capitalize capitalise concatenate concatenates greet greeting hello maximum minimum "
    "larger smaller bigger celsius fahrenheit area perimeter vowels".split()
)
# Operations on one number named by a word ("What is double 5?"): the small
# model answers as if "double 5" were a term to define, not 5 times 2
# (docs/routing.md, the estimator's math features).
_DOUBLING_WORDS = frozenset(
    "double doubled doubles doubling twice triple tripled triples thrice half halve halved "
    "halves halving quadruple quarter".split()
)
_ARITHMETIC_WORDS = (
    _OPERATION_WORDS
    | _DOUBLING_WORDS
    | frozenset(
        "plus minus times multiplied divided add subtract multiply divide how many much".split()
    )
)
_ARITHMETIC_SIGNS = ("+", "\u00d7", "\u00f7", "*", "=", "%", " - ", " / ")  # times, divided by
_EXAMPLE = re.compile(r"==|->|=>|e\.g\.|for example|becomes")
_NAME = re.compile(r"[A-Z][a-z]{2,}")  # no look-behind: four times faster
_CONSTRAINT_WORDS = frozenset("must should without ensure exactly unless require strict".split())
_CONSTRAINT_PHRASES = ("at least", "at most", "no more than", "make sure", "only if")
_LONG_WORDS = frozenset("detailed comprehensive thorough in-depth essay report memo".split())


def words_of(lower: str) -> list[str]:
    """The words of a lower-cased text: runs of a-z, "'" and "-" that start
    with a letter (what ``re.findall(r"[a-z][a-z'-]*", lower)`` returns)."""
    spaced = lower.encode("ascii", "replace").translate(_WORD_BYTES).decode("ascii")
    words = spaced.split()
    if not (spaced[:1] in ("'", "-") or " '" in spaced or " -" in spaced):
        return words  # no word starts with "'" or "-" ("trade-offs" is one word)
    trimmed = (w if w[0] > "-" else w.lstrip("'-") for w in words)  # "'" < "-" < "a"
    return [w for w in trimmed if w]


def prose_of(text: str) -> str:
    """The text without its fenced code blocks: what a message asks is in its
    prose; code pasted into it is material (its words, numbers and ``==``
    are not the request's). An unclosed fence runs to the end."""
    if "```" not in text and "~~~" not in text:
        return text
    return "\n".join(text.replace("~~~", "```").split("```")[0::2])


def excerpt_of(raw: str) -> str:
    """What the features of the latest message read: its start and end (a
    huge message costs no more than ``HEAD + TAIL`` characters), its prose."""
    return prose_of(raw if len(raw) <= HEAD + TAIL else f"{raw[:HEAD]}\n{raw[-TAIL:]}")


def code_lines(text: str) -> int:
    """Lines that look like code (CODE_LINE), in any text."""
    return len(CODE_LINE.findall("\n" + text)) if text else 0


def list_items(text: str) -> int:
    """Lines that start a list item: "- ", "* ", "1. ", "2) "."""
    return len(LIST_ITEM.findall("\n" + text)) if text else 0


@dataclass(frozen=True)
class Complexity:
    """The estimate: ``score`` in [0, 1] is the chance the small model fails."""

    score: float
    features: dict[str, float]  # each feature's value (what the ledger stores)
    contributions: dict[str, float]  # weight * value, in log-odds
    terms: tuple[str, ...] = ()  # the n-grams that weighed most, strongest first

    def top(self, count: int = 2) -> list[str]:
        ranked = sorted(self.contributions.items(), key=lambda item: -item[1])
        names = []
        for name, share in ranked[:count]:
            if share <= 0.05:
                break
            if name == "lexical" and self.terms:
                name = "words " + ", ".join(f"'{t}'" for t in self.terms[:2])
            names.append(name)
        return names


@dataclass(frozen=True)
class Weights:
    bias: float
    features: dict[str, float]
    ngrams: dict[str, float]
    threshold: float  # the shipped operating point
    tier_cutoffs: tuple[float, float]  # scores from which tier 2, tier 3 are needed

    @cached_property
    def pairs(self) -> dict[str, dict[str, float]]:
        return pairs_of(self.ngrams)


def load(path: Path = WEIGHTS_FILE) -> Weights:
    data = json.loads(path.read_text())
    return Weights(
        bias=float(data["bias"]),
        features={k: float(v) for k, v in data["features"].items()},
        ngrams={k: float(v) for k, v in data["ngrams"].items()},
        threshold=float(data["threshold"]),
        tier_cutoffs=(float(data["tier_cutoffs"][0]), float(data["tier_cutoffs"][1])),
    )


@lru_cache(maxsize=1)
def shipped() -> Weights:
    return load()


@lru_cache(maxsize=1)
def vocabulary() -> tuple[dict[str, float], frozenset[str]]:
    """(rarity of each name the small model has a word for, 0 = most
    frequent … 1 = rarest; common lowercase words). Empty without the file."""
    if not VOCABULARY_FILE.exists():
        return {}, frozenset()
    data = json.loads(VOCABULARY_FILE.read_text())
    names = data["names"].split()
    low, high = math.log(WELL_KNOWN_NAMES), math.log(max(len(names), WELL_KNOWN_NAMES + 1))
    rarity = {
        name: round(min(1.0, max(0.0, (math.log1p(i) - low) / (high - low))), 3)
        for i, name in enumerate(names)
    }
    return rarity, frozenset(data["common"].split())


def rare_names(text: str) -> float:
    """How rare the rarest name in ``text`` is to the small model: a
    capitalised word that is not a common word, by its place in the model's
    vocabulary (frequent names first); 1 for one it has no word for."""
    rarity, common = vocabulary()
    if not rarity:
        return 0.0
    found = [w for w in _NAME.findall(text) if w.lower() not in common]
    return max((rarity.get(w, 1.0) for w in found), default=0.0)


def ngrams_of(words: Sequence[str]) -> list[str]:
    head = words[:NGRAM_WORDS]
    return [*head, *map(" ".join, itertools.pairwise(head))]


def pairs_of(vocabulary: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """The vocabulary's word pairs as {first word: {second word: weight}}."""
    pairs: dict[str, dict[str, float]] = {}
    for gram, weight in vocabulary.items():
        first, space, second = gram.partition(" ")
        if space:
            pairs.setdefault(first, {})[second] = weight
    return pairs


def lexical_found(
    words: Sequence[str], vocabulary: Mapping[str, float], pairs: Mapping[str, Mapping[str, float]]
) -> list[tuple[float, str]]:
    """(weight, n-gram) for each of ``ngrams_of(words)`` in the vocabulary, in
    that order, without joining every pair of words into a string."""
    head = words[:NGRAM_WORDS]
    found = [(vocabulary[w], w) for w in head if w in vocabulary]
    get = pairs.get
    for first, second in itertools.pairwise(head):
        seconds = get(first)
        if seconds is not None and second in seconds:
            found.append((seconds[second], f"{first} {second}"))
    return found


def _saturate(count: float, full: float) -> float:
    return min(1.0, count / full)


def features_of(
    texts: Sequence[str],
    *,
    estimated_tokens: int,
    max_tokens: int | None,
    ngrams: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], tuple[str, ...]]:
    """Feature values for a conversation, and its n-grams that weigh most.

    Code looks at the whole conversation; the rest at the latest message,
    which is what the model is being asked to do now."""
    vocabulary: Mapping[str, float] = shipped().ngrams if ngrams is None else ngrams
    pairs = shipped().pairs if ngrams is None else pairs_of(ngrams)
    raw = texts[-1] if texts else ""
    excerpt = excerpt_of(raw)
    last = excerpt.lower()
    words = words_of(last)
    n_words = len(words) or 1
    code = 0
    fences = 0
    for text in texts:
        if "```" in text or "~~~" in text:
            fences += len(CODE_FENCE.findall(text))
        code += code_lines(text)
    word_set = set(words)
    constraints = len(word_set & _CONSTRAINT_WORDS) + sum(p in last for p in _CONSTRAINT_PHRASES)
    constraints += list_items(excerpt)
    output = _saturate(max_tokens or 0, 4000)
    if word_set & _LONG_WORDS or ("words" in word_set and _WORD_COUNT.search(last)):
        output = max(output, 0.7)
    found = lexical_found(words, vocabulary, pairs)
    lexical = sum(weight for weight, _ in found)
    terms = tuple(g for _, g in sorted(found, key=lambda x: -abs(x[0]))[:3])
    length = _message_length(len(raw))
    asks_code = bool(word_set & _CODE_ASK_WORDS)
    digit_runs = excerpt.encode("ascii", "replace").translate(_DIGITS_BYTES).split()
    numbers = len(digit_runs)
    longest = max(map(len, digit_runs), default=0)
    options = len(_OPTION.findall("\n" + excerpt))
    # A number is something to compute with only where the message computes:
    # an operation word, "%" or an operator sign, or a question asking how
    # many or how much ("Thanks, see you at 10!", "order 48213" are not).
    arithmetic = numbers > 0 and (
        bool(word_set & _ARITHMETIC_WORDS) or any(sign in excerpt for sign in _ARITHMETIC_SIGNS)
    )
    features = {
        "log_tokens": min(1.0, math.log1p(max(estimated_tokens, 0)) / 9.0),
        "turns": _saturate(len(texts), 12),
        "has_code": max(_saturate(fences // 2, 1), _saturate(code, 8)),
        "numbers": _saturate(numbers, 8),
        "operations": _saturate(len(word_set & _OPERATION_WORDS) + last.count("%"), 3),
        "options": _saturate(options, 4),
        "asks": _saturate(len(word_set & _ASK_WORDS), 4),
        "analysis_words": _saturate(len(word_set & _REASONING_WORDS), 3),
        "requirements": _saturate(constraints, 6),
        "proper_nouns": _saturate(len(_PROPER.findall(excerpt)), 4),
        "long_words": min(1.0, 4 * len([w for w in words if len(w) >= 9]) / n_words),
        "long_answer": output,
        "rare_names": rare_names(excerpt),
        "algorithms": _saturate(len(word_set & _ALGORITHM_WORDS), 2),
        "code_spec": _code_spec(last, word_set),
        "elementary": float(
            asks_code and bool(word_set & _ELEMENTARY_WORDS) and not word_set & _ALGORITHM_WORDS
        ),
        "digits": _saturate(longest, 4) if arithmetic else 0.0,
        "doubling": float(numbers > 0 and bool(word_set & _DOUBLING_WORDS)),
        "message_length": length,
        "code_length": length if asks_code else 0.0,
        "lexical": round(lexical, 4),
    }
    return features, terms


_SHORT, _LONG = math.log(30), math.log(3000)


def _message_length(chars: int) -> float:
    """0 at 30 characters or fewer, 1 at 3,000 or more, log scale between:
    spread over the lengths prompts of one kind differ by."""
    return round(min(1.0, max(0.0, (math.log(chars + 1) - _SHORT) / (_LONG - _SHORT))), 4)


def _code_spec(last: str, word_set: set[str]) -> float:
    """For a request for code: how much its specification asks (conditions,
    special cases, inline examples, clauses); 0 for anything else."""
    if not word_set & _CODE_ASK_WORDS:
        return 0.0
    clauses = last.count(",") + last.count(";") + len(_EXAMPLE.findall(last))
    return _saturate(len(word_set & _SPEC_WORDS) + clauses, 6)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def score(
    features: Mapping[str, float],
    overrides: Mapping[str, float] | None = None,
    terms: tuple[str, ...] = (),
    weights: Weights | None = None,
) -> Complexity:
    """The estimate from stored features; ``overrides`` replace learned
    feature weights (a policy's or a team's refit), ``bias`` included."""
    w = weights or shipped()
    table = {**w.features, **(overrides or {})}
    bias = table.pop("bias", w.bias)
    contributions = {
        name: round(table.get(name, 0.0) * value, 4)
        for name, value in features.items()
        if name in FEATURE_DESCRIPTIONS
    }
    total = bias + sum(contributions.values())
    return Complexity(round(_sigmoid(total), 4), dict(features), contributions, terms)


def estimate(
    texts: Sequence[str],
    *,
    estimated_tokens: int,
    max_tokens: int | None,
    overrides: Mapping[str, float] | None = None,
) -> Complexity:
    features, terms = features_of(texts, estimated_tokens=estimated_tokens, max_tokens=max_tokens)
    return score(features, overrides, terms)


def needed_tier(difficulty: float, cutoffs: tuple[float, float] | None = None) -> int:
    """The capability tier a request needs: 1 small, 2 mid-size, 3 frontier."""
    low, high = cutoffs or shipped().tier_cutoffs
    return 3 if difficulty >= high else 2 if difficulty >= low else 1
