"""What the NER model reads (ner_gate), and its per-text cache (ner_cache).

The gate tests need no model: they check which words are candidates and
which windows the model would read. The tests marked ``needs_model`` count
the model's onnxruntime calls, so "not sent to the model" means exactly that.
"""

import time

import pytest

from apps.policy.classification import Classifier
from apps.policy.detectors import ner, ner_cache
from apps.policy.detectors.ner_gate import Gate

needs_model = pytest.mark.skipif(not ner.installed(), reason="needs the ner extra")


def candidates(text):
    return [text[a:b] for a, b in Gate(text).candidates]


def windows(text):
    return [text[a:b] for a, b in Gate(text).windows]


# --- the gate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("I had a call with Wei Zhang from the office.", ["Wei", "Zhang"]),
        ("Emre Y\u0131lmaz is on leave until the 14th.", ["Emre", "Y\u0131lmaz"]),
        ("Tell Giulia Romano that the venue is booked.", ["Giulia", "Romano"]),
        ("Marco, please send the slides.", ["Marco"]),  # a name alone before a comma
        ("Sharon said the invoice is late.", ["Sharon"]),  # a subject before a person's verb
        ("Tomasz replied: fine.", ["Tomasz"]),
        ("Sharon reviewed the invoice.", []),  # alone at a sentence start, any other verb: no
        ("Mark Johnson said so.", ["Mark", "Johnson"]),
        ("Is this Anne's laptop?", ["Anne's"]),
        ("We met Siobhán Ní Bhriain and Seán O'Neil in Łódź.", ["Siobhán", "Ní", "Bhriain",
                                                               "Seán", "O'Neil", "Łódź"]),
        ("Meeting \u0418\u0432\u0430\u043d today.", ["\u0418\u0432\u0430\u043d"]),  # Cyrillic
        ("Please verify 鈴木 直樹's number before Friday.", ["鈴木", "直樹"]),
        ('id,name,email\n1,"Marie Stone",marie.stone@example.com', ["Marie", "Stone"]),
        ("Ping McDonald and DiCaprio about it.", ["McDonald", "DiCaprio"]),
    ],
)  # fmt: skip
def test_names_in_running_text_are_candidates(text, words):
    assert candidates(text) == words


@pytest.mark.parametrize(
    "text",
    [
        "Please review the quarterly numbers and summarise the main changes for the team.",
        "The deployment pipeline failed twice. Can you compare the two proposals?",
        "Upgraded numpy from 1.2.3 to 1.4.0; Revenue 4 594 845,52 € this year.",
        "Links run at 10 Gbit/s and the mains hum is 50 Hz.",
        "def parse(UserName): return UserProfile.objects.filter(lastName=x)  # useState",
        "Use React.useState with TypeScript; IPython and JSONDecoder are fine.",
        "The API returned INFO and HTTP 200 on Monday in March.",
        "See https://Example.com/Docs or write to Jane.Doe@Example.org today.",
        "kind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque\n",
        "Returns None if the value is True; otherwise, raise an error.",
        "Otherwise, the job retries. Alternatively, it stops.",
    ],
)
def test_near_misses_are_not_candidates(text):
    assert candidates(text) == []
    assert windows(text) == []


def test_a_window_is_the_candidates_sentence_and_not_the_next():
    text = "The report is late. My neighbour Olga Ivanova keeps parking here. Nothing else."
    assert windows(text) == ["My neighbour Olga Ivanova keeps parking here."]


def test_a_window_reads_at_most_ten_words_either_side():
    before = " ".join(f"w{i}" for i in range(20))
    after = " ".join(f"v{i}" for i in range(20))
    text = f"{before} Aisha {after}"
    (window,) = windows(text)
    assert window.split() == [*before.split()[-10:], "Aisha", *after.split()[:10]]


def test_neighbouring_windows_merge_and_distant_ones_do_not():
    text = "Ask Wei Zhang. " + "Nothing to see here at all. " * 10 + "Then ask Mateo Silva."
    assert windows(text) == ["Ask Wei Zhang.", "Then ask Mateo Silva."]


def test_a_short_message_without_capitals_is_read_whole_but_code_is_not():
    assert windows("i told jessica brown about it yesterday lol") == [
        "i told jessica brown about it yesterday lol"
    ]
    assert windows("for user in users: print(user.name)") == []
    assert windows("12 34 56") == []


def test_only_findings_that_hold_a_candidate_are_admitted():
    text = "Upgraded numpy. Ask Wei Zhang."
    gate = Gate(text)
    numpy = (text.index("numpy"), text.index("numpy") + 5)
    wei = (text.index("Wei Zhang"), text.index("Wei Zhang") + 9)
    assert not gate.admits(numpy)
    assert gate.admits(wei)
    casual = Gate("i told jessica brown")
    assert casual.admits((7, 20))


@pytest.mark.parametrize(
    "text",
    ["Aa " * 33_000, "Aa, " * 25_000, "A" * 100_000, "x@Aa " * 20_000, "a\n" * 50_000,
     "Aa:" * 30_000, "\u4e00 " * 50_000, "http://Aa" * 10_000],
)  # fmt: skip
def test_the_gate_is_linear_on_adversarial_input(text):
    """The gate sees what the model may read: the first MAX_MODEL_CHARS of a
    text (about 0.15 s of CPU for 32 KB of candidates; a quadratic gate would
    take minutes)."""
    text = text[: ner.MAX_MODEL_CHARS]
    started = time.thread_time()  # CPU time: other processes do not count
    assert isinstance(Gate(text).windows, list)
    assert time.thread_time() - started < 1.0


# --- the cache --------------------------------------------------------------------


class CountingTagger:
    def __init__(self):
        self.calls = []

    def entities(self, text):
        self.calls.append(text)
        return {"person": [(0, len(text))]}


def test_the_cache_tags_each_text_once_and_forgets_the_least_recently_used():
    cache = ner_cache.EntityCache(size=2)
    tagger = CountingTagger()
    assert cache.entities(tagger, "one") == {"person": [(0, 3)]}
    cache.entities(tagger, "two")
    cache.entities(tagger, "one")  # a hit: "one" is now the most recent
    cache.entities(tagger, "three")  # evicts "two"
    cache.entities(tagger, "one")
    cache.entities(tagger, "two")
    assert tagger.calls == ["one", "two", "three", "two"]
    assert (cache.hits, cache.misses) == (2, 4)


def test_the_cache_takes_any_string():
    cache = ner_cache.EntityCache(size=4)
    tagger = CountingTagger()
    cache.entities(tagger, "\ud800 lone surrogate")
    cache.entities(tagger, "\ud800 lone surrogate")
    assert len(tagger.calls) == 1


# --- with the model ------------------------------------------------------------------


@pytest.fixture
def model_calls(monkeypatch):
    """The model on, its cache empty, and every batch it is given recorded."""
    monkeypatch.setattr(ner, "_enabled", True)
    model = ner.load_model()
    assert model is not None
    calls = []
    real = model.session

    class Recording:
        def run(self, outputs, feed):
            calls.append(feed["input_ids"].shape)
            return real.run(outputs, feed)

    monkeypatch.setattr(model, "session", Recording())
    ner._by_text.clear()
    yield calls
    ner._by_text.clear()


def scan(text):
    return [(f.label, text[f.start : f.end]) for f in Classifier().scan(text)]


@needs_model
@pytest.mark.parametrize(
    "text",
    [
        "Please review the quarterly numbers and summarise the main changes for the team.\n" * 40,
        "Upgraded numpy from 1.2.3 to 1.4.0 (build 20230512.38, runner 24)\n" * 20,
        "def handler(event):\n    return {'status': 200, 'body': event['path']}\n" * 30,
    ],
)
def test_text_without_candidates_never_reaches_the_model(model_calls, text):
    assert scan(text) == []
    assert model_calls == []


@needs_model
def test_the_model_reads_only_the_windows_and_still_finds_the_name(model_calls):
    filler = "The nightly job still fails on the second retry, so the backlog grows. " * 50
    text = filler + "I had a call with Santiago Herrera about the lease. " + filler
    assert scan(text) == [("PERSON", "Santiago Herrera")]
    assert len(model_calls) == 1
    rows, width = model_calls[0]
    assert rows == 1 and width < 30  # one sentence, not the 1,500 word pieces of the text


@needs_model
def test_a_text_is_tagged_once_while_it_stays_in_the_cache(model_calls):
    first = "Could you draft a reply to Aisha Bello about the invoice?"
    second = "Thanks. Also remind Lars Eriksson about the slides."
    assert scan(first) == [("PERSON", "Aisha Bello")]
    calls = len(model_calls)
    hits = ner._by_text.hits
    assert scan(first) == [("PERSON", "Aisha Bello")]  # the chat re-sends its history
    assert len(model_calls) == calls and ner._by_text.hits == hits + 1
    assert scan(second) == [("PERSON", "Lars Eriksson")]
    assert len(model_calls) > calls


@needs_model
@pytest.mark.parametrize(
    "text",
    [
        "Upgraded numpy from 14.11.90 to 24.39.9-rc.1; Build #20230512.38 (job 9420086, runner 24)",
        "Readings every 15 min: 19.6 23.8 25.6 20.4 23.4 18.4 19.7 25.6",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque\n",
    ],
)
def test_number_heavy_and_config_text_gets_no_names_or_addresses(model_calls, text):
    assert not {label for label, _ in scan(text)} & {"PERSON", "ADDRESS"}


@pytest.mark.parametrize(
    "lengths",
    [[], [5], [16, 17, 17, 20, 20, 33, 37], [10] * 40, [20, 128, 128], list(range(2, 130, 7))],
)
def test_batches_cover_every_row_once_in_order_and_never_exceed_the_limit(lengths):
    cuts = ner._batches(lengths)
    assert [i for start, stop in cuts for i in range(start, stop)] == list(range(len(lengths)))
    assert all(0 < stop - start <= ner._BATCH for start, stop in cuts)


def test_short_and_long_windows_are_not_padded_to_one_width():
    # five short rows and two long ones: two calls read 5 x 20 + 2 x 37 pieces,
    # where one call would read 7 x 37
    assert ner._batches([18, 19, 19, 20, 20, 35, 37]) == [(0, 5), (5, 7)]
