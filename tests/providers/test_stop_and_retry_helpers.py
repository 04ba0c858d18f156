import email.utils
import time

import pytest

from apps.providers.adapters.local import StopMatcher
from apps.providers.adapters.openai_compatible import retry_after_seconds


def feed_all(matcher, pieces):
    out, stopped = [], False
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["Hello", " wor", "ld"], ("Hello world", False)),
        (["Hello <|im", "_end|> junk"], ("Hello ", True)),
        (["a", "S", "T", "O", "P", "b"], ("a", True)),
        (["a <|i", "m not"], ("a <|im not", False)),
    ],
)
def test_stop_matcher_cuts_at_stops_split_across_pieces(pieces, expected):
    assert feed_all(StopMatcher(("<|im_end|>", "STOP")), pieces) == expected


def test_retry_after_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({}) is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_seconds({"retry-after": future}) <= 30
    assert retry_after_seconds({"retry-after": "soon"}) is None
