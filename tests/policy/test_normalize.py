"""Disguised values are found, and redaction replaces exactly what was found.

The shadow (normalize.py) is what detectors read; findings come back in the
original text's offsets, invisible characters inside a value included.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.policy.classification import Classifier, CustomDetector, redact
from apps.policy.normalize import Shadow, skeleton

CLASSIFIER = Classifier()
ZW = "\u200b"  # zero-width space
ZWJ = "\u200d"
WJ = "\u2060"  # word joiner
BOM = "\ufeff"
SHY = "\u00ad"  # soft hyphen
NBSP = "\u00a0"


def spread(value: str, inside: str) -> str:
    """``value`` with ``inside`` between every two characters."""
    return inside.join(value)


def to_fullwidth(value: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in value)


def to_arabic_indic(value: str) -> str:
    return "".join(chr(0x0660 + int(ch)) if ch.isdigit() else ch for ch in value)


def tagged(value: str) -> str:
    """Invisible Unicode tag characters spelling ``value``."""
    return "".join(chr(0xE0000 + ord(ch)) for ch in value)


VALUES = {
    "EMAIL": "jane.doe@example.org",
    "IBAN": "GB82 WEST 1234 5698 7654 32",
    "CARD": "4111 1111 1111 1111",
    "SECRET": "ghp_R3alLook1ngT0kenABCDEFGHIJKLMNOPQRS",
}
DISGUISES = {
    "zero-width space": lambda v: spread(v, ZW),
    "zero-width joiner": lambda v: spread(v, ZWJ),
    "word joiner": lambda v: spread(v, WJ),
    "BOM": lambda v: spread(v, BOM),
    "soft hyphen": lambda v: spread(v, SHY),
    "NBSP for spaces": lambda v: v.replace(" ", NBSP),
    "narrow NBSP for spaces": lambda v: v.replace(" ", "\u202f"),
    "full-width": to_fullwidth,
}


@pytest.mark.parametrize("label", VALUES)
@pytest.mark.parametrize("disguise", DISGUISES)
def test_disguised_values_are_found_and_redacted_whole(label, disguise):
    value = DISGUISES[disguise](VALUES[label])
    text = f"Please check {value} today."
    findings = CLASSIFIER.scan(text)
    assert [f.label for f in findings] == [label]
    assert text[findings[0].start : findings[0].end] == value
    redacted, mapping = redact(text, findings)
    assert redacted == f"Please check [{label}_1] today."
    assert mapping == {f"[{label}_1]": value}


@pytest.mark.parametrize(
    ("text", "label", "value"),
    [
        ("Mail jane＠example.org now", "EMAIL", "jane＠example.org"),
        ("card ٤١١١ ١١١١ ١١١١ ١١١١ ok", "CARD", "٤١١١ ١١١١ ١١١١ ١١١١"),
        ("card 𝟒𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 ok", "CARD", "𝟒𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏"),
        ("call 415\u2011555\u20110132", "PHONE", "415\u2011555\u20110132"),
        (
            f"-----BEGIN RSA PRIVATE{ZW} KEY-----\nMIIEpAIBAAKCAQEA7bq1xYz9W2vT8kLmN0pQ\n",
            "SECRET",
            None,
        ),
    ],
)
def test_unicode_digits_symbols_and_hyphens_read_as_ascii(text, label, value):
    findings = CLASSIFIER.scan(text)
    assert label in [f.label for f in findings]
    if value is not None:
        (finding,) = [f for f in findings if f.label == label]
        assert text[finding.start : finding.end] == value


def test_text_smuggled_in_invisible_tag_characters_is_classified():
    text = "Nothing to see here" + tagged(" mail jane.doe@example.org")
    (finding,) = CLASSIFIER.scan(text)
    assert finding.label == "EMAIL"
    assert text[finding.start : finding.end] == tagged("jane.doe@example.org")


def test_custom_keywords_see_through_look_alikes_soft_hyphens_and_hyphenation():
    codenames = CustomDetector("codenames", "keywords", ("Project Falcon", "Bluebird"), 2)
    classifier = Classifier(custom=[codenames])
    for text in (
        "the Prоject Falcоn plan",  # Cyrillic о
        "the ΡROJECT FALCON plan",  # Greek Ρ
        f"the Project Fal{SHY}con plan",
        f"the Project{NBSP}Falcon plan",
        "the Project-Falcon plan",
        "the project_falcon plan",
        "the Project Fal-\ncon plan",
        f"the Blue{ZW}bird plan",
        "the ＢＬＵＥＢＩＲＤ plan",
    ):
        findings = classifier.scan(text)
        assert [f.label for f in findings] == ["CODENAMES"], text
        assert text[findings[0].start - 4 : findings[0].start] == "the "
    assert classifier.scan("the Bluebirds and Project Falconry") == []


def test_the_shadow_keeps_offsets_one_for_one_except_removals():
    original = f"a{ZW}b{ZW}{ZW}c１d"
    shadow = Shadow.of(original)
    assert shadow.text == "abc1d"
    assert [original[shadow.offset(i)] for i in range(5)] == ["a", "b", "c", "１", "d"]
    assert shadow.span(1, 3) == (2, 6)  # "b", the two removed characters, "c"
    assert shadow.span(0, 5) == (0, len(original))
    assert Shadow.of("plain ascii").span(2, 4) == (2, 4)


def test_lone_surrogates_are_not_text():
    shadow = Shadow.of("x\ud800y")
    assert shadow.text == "x\ufffdy"
    assert CLASSIFIER.scan("mail \udfff jane.doe@example.org \ud800")[0].label == "EMAIL"


def test_skeleton_leaves_ascii_and_other_scripts_alone():
    assert skeleton("Hello, world") == "Hello, world"
    assert skeleton("Рrоjеct") == "Project"
    assert skeleton("日本語") == "日本語"


@given(st.text(max_size=200))
def test_every_shadow_span_maps_to_the_original_text_it_came_from(original):
    shadow = Shadow.of(original)
    n = len(shadow.text)
    for start in range(0, n, 7):
        for end in range(start + 1, min(n, start + 12) + 1, 3):
            first, last = shadow.span(start, end)
            assert 0 <= first < last <= len(original)
            assert Shadow.of(original[first:last]).text == shadow.text[start:end]


@given(st.text(max_size=300))
def test_scan_never_fails_and_findings_stay_in_bounds(text):
    for finding in CLASSIFIER.scan(text):
        assert 0 <= finding.start < finding.end <= len(text)
