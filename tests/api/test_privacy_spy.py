"""What the detectors catch never reaches a vendor that may not see it.

The vendor is a spy: the loopback mock keeps every body it receives. The
policy under test sends *everything* to the cloud (the requested model first,
then any cloud model), so the only thing that can keep a value off the
vendor is classification. Each category is tried with the cloud model named
explicitly and with ``model=auto``, streamed and not, through the API and the
chat, in the message, in a system prompt, in ``name`` and in ``stop``.
"""

import json

import pytest

from apps.chat.models import Message
from apps.chat.services import conversation_create
from apps.gateway.models import UsageRecord
from apps.policy.detectors import ner
from apps.policy.document import CLOUD, REQUESTED, RulePolicy
from apps.policy.normalize import Shadow
from apps.policy.services import document_json, document_parse, policy_draft_edit, policy_publish
from tests.chat.test_chat import HX, browser, sse_events

# One realistic value per category; the sentence around it is ordinary.
VALUES = {
    "email": "ann.lee@corp-mail.example",
    "card": "5555 5555 5555 4444",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "078-05-1121",
    "phone": "+44 20 7946 0958",
    "ip": "10.20.30.40",
    "credential": "ghp_R3alLook1ngT0kenABCDEFGHIJKLMNOPQRS",
    "password": "p4ss-W0rd!x",
    "private key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq1xYz9",
    "person": "Dear Margaret Okonkwo,",
    "address": "1600 Pennsylvania Avenue NW, Washington, DC 20500",
    "mac": "00:1A:2B:3C:4D:5E",
    "organisation": "Northwind Traders Ltd",
    "national phone": "020 7946 0958",
    "credential by name": 'SNYK_TOKEN = "a8c2f3e1-4b5d-4e6f-9a7b-1c2d3e4f5a6b"',
    "disguised email": "ann.lee\u200b@corp-mail.example",
    "disguised card": "５５５５\u00a0５５５５\u00a0５５５５\u00a0４４４４",
}
SENTENCES = {
    "password": "the db password is {}",
    "national phone": "Call me on {} tomorrow.",
    "credential by name": "Why does this fail?\n{}\nsnyk test",
}


def sentence(category: str) -> str:
    return SENTENCES.get(category, "Please summarise the ticket about {} for me.").format(
        VALUES[category]
    )


def core(value: str) -> str:
    """What must not leave: the value as the detectors read it, without its
    framing words ("Dear", the key header)."""
    text = Shadow.of(value).text
    for frame in ("Dear ", ",", "-----BEGIN RSA PRIVATE KEY-----\n"):
        text = text.replace(frame, "")
    return text


def leaked(cloud, value: str) -> bool:
    """Whether the value, or its normalised form, is in any body the spy got."""
    received = Shadow.of(json.dumps(cloud.requests, ensure_ascii=False)).text
    received = received.replace("\\n", "\n")
    return core(value) in received or core(value).replace(" ", "") in received.replace(" ", "")


@pytest.fixture
def cloud_first(admin_user, models):
    """Every level may route anywhere the rules say; the rule says cloud."""

    def change(data):
        doc = document_parse(data)
        rule = RulePolicy(id="all", name="Cloud for everything", models=(REQUESTED, CLOUD))
        return document_json(doc.model_copy(update={"rules": (rule,)}))

    policy_draft_edit(actor=admin_user, summary="test", change=change)
    policy_publish(actor=admin_user)


def ask(client, *, model, stream, **fields):
    if stream:
        chunks = client.chat.completions.create(model=model, stream=True, max_tokens=2, **fields)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reply = client.chat.completions.create(model=model, max_tokens=2, **fields)
    return reply.choices[0].message.content


def test_a_harmless_prompt_does_reach_the_cloud(client, cloud, cloud_first):
    """The control: without sensitive data, this setup does send to the spy."""
    ask(client, model="auto", stream=False, messages=[{"role": "user", "content": "hi there"}])
    assert len(cloud.requests) == 1


# The cloud model named in the request, answered whole; and model=auto, streamed.
WAYS = [("cloud-mini", False), ("auto", True)]


@pytest.mark.parametrize(("model", "stream"), WAYS, ids=["named-json", "auto-stream"])
@pytest.mark.parametrize("category", VALUES)
def test_api_messages_never_carry_a_caught_value_to_the_vendor(
    client, cloud, cloud_first, category, model, stream
):
    messages = [{"role": "user", "content": sentence(category)}]
    assert ask(client, model=model, stream=stream, messages=messages)
    assert not leaked(cloud, VALUES[category])
    row = UsageRecord.objects.get()
    assert row.privacy_zone == "on_prem" and row.findings


@pytest.mark.parametrize("category", ["email", "card", "credential", "disguised card"])
@pytest.mark.parametrize(
    "place", ["system prompt", "earlier turn", "name", "stop", "split across turns"]
)
def test_every_field_that_leaves_is_classified(client, cloud, cloud_first, category, place):
    value = VALUES[category]
    messages = [{"role": "user", "content": "Say hello."}]
    extra = {}
    if place == "system prompt":
        messages.insert(0, {"role": "system", "content": f"Customer: {value}"})
    elif place == "earlier turn":
        messages[:0] = [
            {"role": "user", "content": f"Remember {value}"},
            {"role": "assistant", "content": "Noted."},
        ]
    elif place == "name":
        messages[0]["name"] = value
    elif place == "stop":
        extra["stop"] = [value]
    else:  # half the value in one turn, the rest in the next
        half = len(value) // 2
        messages = [
            {"role": "user", "content": f"My number is {value[:half]}"},
            {"role": "user", "content": f"{value[half:]} thanks"},
        ]
    ask(client, model="cloud-mini", stream=False, messages=messages, **extra)
    assert cloud.requests == []
    assert UsageRecord.objects.get().privacy_zone == "on_prem"


@pytest.mark.parametrize(
    ("category", "model"),
    [
        ("email", "cloud-mini"),
        ("card", "auto"),
        ("iban", "cloud-mini"),
        ("credential", "auto"),
        ("disguised email", "cloud-mini"),
    ],
)
def test_the_chat_never_carries_a_caught_value_to_the_vendor(
    hub, member, cloud, cloud_first, category, model
):
    conversation = conversation_create(user=member.user, team=member.team, model=model)
    session = browser(hub, member.user)
    response = session.post(
        f"/chat/c/{conversation.code}/send/", data={"text": sentence(category)}, headers=HX
    )
    assert response.status_code == 200
    answer = Message.objects.get(role="assistant")
    assert sse_events(session, answer.pk)[-1][0] == "done"
    answer.refresh_from_db()
    assert answer.status == "done"
    assert not leaked(cloud, VALUES[category])
    assert UsageRecord.objects.get().privacy_zone == "on_prem"


@pytest.fixture
def ner_as_installed(settings, monkeypatch):
    """The model tier as a fresh install has it: HYBRIDHUB_NER unset (auto)
    and the ner extra installed (make install installs it)."""
    from django.apps import apps

    if not ner.installed():
        pytest.skip("the ner extra is not installed")
    monkeypatch.setattr(ner, "_enabled", False)  # restored afterwards
    settings.HYBRIDHUB_NER = "auto"
    apps.get_app_config("policy").ready()
    assert ner.active()


# Names and a street in running text, no cue word: only the NER model finds
# them (the rule tier alone sends each of these to the vendor).
RUNNING_TEXT = {
    "Olga Ivanova": "My neighbour Olga Ivanova keeps parking in front of my garage. "
    "How do I ask her politely to stop?",
    "Kwame Mensah": "Draft a short thank-you note to Kwame Mensah for covering my shift.",
    "Calle de Alcalá 48": "We just moved to Calle de Alcalá 48 in Madrid, any tips for "
    "the neighbourhood?",
}


@pytest.mark.parametrize(("model", "stream"), WAYS, ids=["named-json", "auto-stream"])
@pytest.mark.parametrize("value", RUNNING_TEXT)
def test_names_in_running_text_stay_on_prem_by_default(
    client, cloud, cloud_first, ner_as_installed, value, model, stream
):
    messages = [{"role": "user", "content": RUNNING_TEXT[value]}]
    assert ask(client, model=model, stream=stream, messages=messages)
    assert cloud.requests == []
    row = UsageRecord.objects.get()
    assert row.privacy_zone == "on_prem"
    assert {f["detector"] for f in row.findings} & {"person", "address"}


def test_the_chat_keeps_a_name_in_running_text_on_prem_by_default(
    hub, member, cloud, cloud_first, ner_as_installed
):
    conversation = conversation_create(user=member.user, team=member.team, model="cloud-mini")
    session = browser(hub, member.user)
    text = RUNNING_TEXT["Olga Ivanova"]
    response = session.post(f"/chat/c/{conversation.code}/send/", data={"text": text}, headers=HX)
    assert response.status_code == 200
    answer = Message.objects.get(role="assistant")
    assert sse_events(session, answer.pk)[-1][0] == "done"
    assert cloud.requests == []
    assert UsageRecord.objects.get().privacy_zone == "on_prem"


def test_a_national_identifier_pack_keeps_its_numbers_on_prem(
    client, cloud, cloud_first, admin_user
):
    def uk_pack_on(data):
        data["detectors"]["uk_nino"] = {"enabled": True, "level": 3}
        return data

    policy_draft_edit(actor=admin_user, summary="UK pack", change=uk_pack_on)
    policy_publish(actor=admin_user)
    nino = "JG 10 37 00 B"
    messages = [{"role": "user", "content": f"My NI number is {nino}, please file it."}]
    ask(client, model="cloud-mini", stream=False, messages=messages)
    assert cloud.requests == []
    row = UsageRecord.objects.get()
    assert row.privacy_zone == "on_prem" and row.findings[0]["detector"] == "uk_nino"


@pytest.fixture
def redact_to_cloud(admin_user, models):
    """Confidential and restricted data go to the cloud with placeholders."""

    def change(data):
        doc = document_parse(data)
        levels = [
            level.model_copy(update={"when_no_model": "redact"}) if index >= 1 else level
            for index, level in enumerate(doc.levels)
        ]
        rule = RulePolicy(id="all", name="Cloud for everything", models=(CLOUD,))
        return document_json(doc.model_copy(update={"levels": tuple(levels), "rules": (rule,)}))

    policy_draft_edit(actor=admin_user, summary="test", change=change)
    policy_publish(actor=admin_user)


REDACTABLE = ["email", "card", "iban", "ssn", "phone", "ip", "credential", "disguised email"]


@pytest.mark.parametrize("category", REDACTABLE)
def test_redaction_sends_placeholders_and_restores_the_answer(
    client, cloud, redact_to_cloud, category
):
    stream = REDACTABLE.index(category) % 2 == 1  # every other one streamed
    value = VALUES[category]
    prompt = f"echo: about {value} ok"
    answer = ask(
        client, model="auto", stream=stream, messages=[{"role": "user", "content": prompt}]
    )
    assert cloud.requests, "the redacted request went to the cloud"
    sent = cloud.requests[-1]["messages"][-1]["content"]
    assert sent.startswith("echo: about [") and sent.endswith("_1] ok")
    assert not leaked(cloud, value)
    assert answer.split() == f"about {value} ok".split()
    assert UsageRecord.objects.get().redacted


def test_redaction_covers_stop_strings_and_names(client, cloud, redact_to_cloud):
    email = VALUES["email"]
    messages = [{"role": "user", "content": "echo: hello there", "name": "ann_lee"}]
    ask(client, model="auto", stream=False, messages=messages, stop=[email])
    sent = cloud.requests[-1]
    assert sent["stop"] == ["[EMAIL_1]"]
    assert email not in json.dumps(sent)


def test_levels_in_the_ledger_are_explained_without_the_value(client, cloud, cloud_first):
    ask(
        client,
        model="cloud-mini",
        stream=False,
        messages=[{"role": "user", "content": sentence("iban")}],
    )
    row = UsageRecord.objects.get()
    assert row.level_name == "restricted"
    assert "iban" in json.dumps(row.findings).lower()
    assert VALUES["iban"].replace(" ", "") not in json.dumps(row.route_reasons).replace(" ", "")
