"""The privacy evaluation set: built deterministically, labelled exactly,
split by a stable rule, graded by the harness as documented."""

import ipaddress
import unicodedata
from collections import Counter

import pytest
from stdnum import iban, luhn
from stdnum.us import ssn

from apps.policy.classification import Finding
from bench.privacy_eval import build, run
from bench.privacy_eval.common import CATEGORIES, DATA, Record, Span, read_records, split_of

FORMAT_CHARS = {"\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad"}


@pytest.fixture(scope="module")
def committed() -> list[Record]:
    return list(read_records(DATA))


@pytest.fixture(scope="module")
def small() -> list[Record]:
    return build.build(seed=7, scale=0.03)


def plain(value: str) -> str:
    """The value without disguise: format characters dropped, Unicode digits
    as ASCII, NBSP and full-width @ as their ASCII forms."""
    kept = (ch for ch in value if ch not in FORMAT_CHARS)
    mapped = (
        str(unicodedata.digit(ch)) if ch.isdigit() else {"\u00a0": " ", "\uff20": "@"}.get(ch, ch)
        for ch in kept
    )
    return "".join(mapped)


def test_the_builder_is_deterministic_for_a_seed(small):
    again = build.build(seed=7, scale=0.03)
    other = build.build(seed=8, scale=0.03)
    assert [r.to_json() for r in again] == [r.to_json() for r in small]
    assert [r.text for r in other] != [r.text for r in small]


def test_the_committed_set_is_what_the_builder_writes(committed):
    rebuilt = build.build(scale=0.01)
    first = [r for r in rebuilt if r.id.startswith("prose-")]
    by_id = {r.id: r for r in committed}
    assert first and all(by_id[r.id].to_json() == r.to_json() for r in first)


def test_spans_hold_exactly_the_labelled_values(small, committed):
    for record in small + committed:
        ends = [0]
        for span in sorted(record.spans, key=lambda s: s.start):
            value = record.text[span.start : span.end]
            assert span.start >= ends[-1] and value and value == value.strip(), record.id
            assert span.category in CATEGORIES
            ends.append(span.end)
        if record.negative:
            assert not record.spans


def test_structured_values_are_valid_where_a_checksum_exists(small):
    checked = Counter()
    for record in small:
        for span in record.spans:
            value = plain(record.text[span.start : span.end])
            compact = value.replace(" ", "").replace("-", "").replace(".", "")
            if span.category == "card":
                assert luhn.is_valid(compact), value
            elif span.category == "iban":
                assert iban.is_valid(compact.upper()), value
            elif span.category == "ssn":
                assert ssn.is_valid(compact), value
            elif span.category == "ip":
                ipaddress.ip_address(value)
            elif span.category == "email":
                assert value.count("@") == 1, value
            else:
                continue
            checked[span.category] += 1
    assert set(checked) == {"card", "iban", "ssn", "ip", "email"}


def test_every_category_and_negative_kind_is_in_both_splits(committed):
    counts = Counter((s.category, r.split) for r in committed for s in r.spans)
    for category in CATEGORIES:
        assert counts[category, "tune"] >= 50 and counts[category, "test"] >= 50, category
    negatives = Counter((r.kind, r.split) for r in committed if r.negative)
    for kind in ("negative:numbers", "negative:prose", "negative:code"):
        assert negatives[kind, "tune"] >= 50 and negatives[kind, "test"] >= 50, kind


def test_the_split_rule_is_stable_and_even(committed):
    # Pinned: changing the rule would move texts between tune and test.
    ids = ("prose-00000", "prose-00001", "neg-numbers-00000", "code-00000")
    assert [split_of(i) for i in ids] == ["test", "tune", "tune", "test"]
    assert all(r.split == split_of(r.id) for r in committed)
    tune = sum(r.split == "tune" for r in committed) / len(committed)
    assert 0.45 < tune < 0.55


def test_detector_names_map_to_categories():
    assert run.category_of("secret") == "credential"
    assert run.category_of("card") == "card"
    assert run.category_of("us_ssn") == "ssn"
    assert run.category_of("uk_nino") == "national_id"
    assert run.category_of("ca_sin") == "national_id"
    assert run.category_of("jwt") == "jwt"


def test_a_value_is_caught_only_when_fully_covered():
    text = "mail ann@example.org or call Ann"
    record = Record(
        "t-1",
        "prose:chat",
        "en_US",
        "none",
        text,
        [Span(5, 20, "email", "email"), Span(29, 32, "person", "person")],
    )

    class Fixed:
        def scan(self, _text):
            return [Finding("email", "EMAIL", 2, 5, 20), Finding("secret", "SECRET", 3, 29, 31)]

    outcome = run.grade(Fixed(), record)
    assert outcome.caught == [True, False]
    assert outcome.caught_right == [True, False]


def test_the_harness_reports_every_category(committed):
    tune = [r for r in committed if r.split == "tune"][:300]
    report = run.summarise([run.grade(run.all_detectors_classifier(), r) for r in tune])
    assert set(report["categories"]) == set(CATEGORIES)
    assert report["negatives"]["all"]["texts"] == sum(r.negative for r in tune)
