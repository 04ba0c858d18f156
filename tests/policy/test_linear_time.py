"""No input can stall the server: every built-in detector (those off by
default included), the complexity scorer and a whole decision stay linear on
input built to make regular expressions backtrack.

The bound is generous (a quadratic scan of these inputs takes seconds to
minutes); speed itself is measured in bench/, not here.
"""

import time
from datetime import datetime

import pytest

from apps.policy import classification
from apps.policy.classification import BUILTIN_DETECTORS, BuiltinSetting, Classifier
from apps.policy.complexity import complexity_of
from apps.policy.document import default_document
from apps.policy.engine import CompiledPolicy, Facts, decide
from apps.providers.specs import Catalog

SIZE = 100_000
UNITS = [
    "\n",
    " ",
    "\r\n",
    "\t \n",
    "7",
    "1 ",
    "1-",
    "1.",
    "12.",
    "1.2.3.",
    ".",
    "-",
    "::",
    ":a",
    "a",
    "A1",
    "aB3",
    "=",
    "@",
    "a@",
    "a.",
    "+1 ",
    "00",
    "(1)",
    "\ud800",
    "key=",
    "password: ",
    "token ",
    "the password for the box is ",
    "password ",
    "key, the new one is ",
    "マイナンバー ",
    "phone\n1,",
    "eyJ",
    "AKIA",
    "ghp_",
    "sk-",
    "-----BEGIN PRIVATE KEY-----\n",
    "Mr Ab ",
    "Dear Ab ",
    "12 Ab Street ",
    "rue ",
    "Name: Ab ",
    "0x",
    "aa:bb:",
    "GB82",
    "DE89 ",
    "1234 ",
    "4111-",
    "- [ ] ",
    "```",
    "$x$",
    "\u200b",
    "\uff11",  # a full-width digit
    "Abc",  # a name, for the estimator's rare_names
    "==",
    "e.g. ",
]
EVERY_DETECTOR = Classifier(
    {name: BuiltinSetting(True, s.level) for name, s in BUILTIN_DETECTORS.items()}
)


def adversarial(unit: str) -> str:
    return unit * (SIZE // len(unit))


def seconds(call) -> float:
    start = time.thread_time()
    call()
    return time.thread_time() - start


@pytest.mark.parametrize("unit", UNITS)
def test_each_detector_is_linear(unit):
    text = adversarial(unit)
    for name, finder in classification._FINDERS.items():
        scan = classification._Scan(text)
        assert seconds(lambda f=finder, s=scan: list(f(s))) < 1.0, name


@pytest.mark.parametrize("unit", UNITS)
def test_the_complexity_scorer_is_linear(unit):
    text = adversarial(unit)
    assert seconds(lambda: complexity_of([text], estimated_tokens=25_000, max_tokens=None)) < 1.0


def facts() -> Facts:
    return Facts(None, None, None, "api", "auto", 25_000, None, datetime(2026, 1, 5, 10))


def test_a_hundred_thousand_empty_messages_are_decided_quickly():
    policy = CompiledPolicy(1, default_document())
    texts = [""] * 100_000
    assert seconds(lambda: decide(policy, Catalog(), texts, facts())) < 3.0


@pytest.mark.parametrize("unit", ["\n", "1 ", "a@", "key="])
def test_a_whole_decision_with_every_detector_is_linear(unit):
    policy = CompiledPolicy(1, default_document())
    policy._classifiers[None] = EVERY_DETECTOR
    text = adversarial(unit)
    assert seconds(lambda: decide(policy, Catalog(), [text, text], facts())) < 2.0
