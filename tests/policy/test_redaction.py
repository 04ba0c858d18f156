from apps.policy.classification import Classifier, Finding
from apps.policy.engine import Located
from apps.policy.redaction import StreamRestorer, redact_texts

CLASSIFIER = Classifier()


def located(texts):
    return [Located(i, f) for i, text in enumerate(texts) for f in CLASSIFIER.scan(text)]


def test_one_numbering_across_the_conversation():
    texts = ["I am jane@a.org", "[EMAIL_1] is taken; write to bob@b.org and jane@a.org"]
    redacted, mapping = redact_texts(texts, located(texts))
    assert redacted == ["I am [EMAIL_2]", "[EMAIL_1] is taken; write to [EMAIL_3] and [EMAIL_2]"]
    assert mapping == {"[EMAIL_2]": "jane@a.org", "[EMAIL_3]": "bob@b.org"}


def test_restorer_handles_placeholders_split_across_pieces():
    restorer = StreamRestorer({"[EMAIL_1]": "jane@a.org", "[CARD_1]": "4111"})
    pieces = ["Write to [EMA", "IL_1] now, card [", "CARD_1", "] and [x", "] [EMAIL_9]"]
    out = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
    assert out == "Write to jane@a.org now, card 4111 and [x] [EMAIL_9]"


def test_restorer_does_not_hold_back_forever():
    restorer = StreamRestorer({})
    assert restorer.feed("[" + "a" * 100) == "[" + "a" * 100
    assert restorer.feed("[EMAIL") == ""
    assert restorer.flush() == "[EMAIL"


def test_overlapping_findings_are_redacted_whole():
    redacted, mapping = redact_texts(
        ["abcdefghij"],
        [Located(0, Finding("x", "A", 1, 0, 4)), Located(0, Finding("y", "B", 2, 2, 6))],
    )
    assert (redacted, mapping) == (["[B_1]ghij"], {"[B_1]": "abcdef"})
