"""Sensitive data never reaches a vendor its level does not allow.

The cloud is the loopback mock; ``cloud.requests`` is everything it received.
"""

import asyncio
import logging

import openai
import pytest

from apps.gateway import services as gateway_services
from apps.gateway.models import UsageRecord
from apps.policy.document import CLOUD, LevelPolicy, RulePolicy
from apps.policy.models import SecurityEvent
from apps.policy.services import document_json, document_parse, policy_draft_edit, policy_publish
from apps.providers.adapters import ChatMessage, GenerationParams, adapter_for
from apps.providers.catalog import catalog_load
from apps.providers.egress import Egress, EgressRefused, outgoing_texts, texts_digest
from tests.conftest import add_fallbacks, make_cloud_model, make_local_model

CARD = "Refund card 4111 1111 1111 1111 today."


def publish(admin_user, change):
    def edit(data):
        doc = document_parse(data)
        return document_json(change(doc))

    policy_draft_edit(actor=admin_user, summary="test", change=edit)
    policy_publish(actor=admin_user)


def test_restricted_prompt_asking_for_a_cloud_model_is_answered_on_prem(client, models, cloud):
    raw = client.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=[{"role": "user", "content": CARD}], max_tokens=3
    )
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    assert raw.headers["x-hybridhub-level"] == "restricted"
    reason = raw.headers["x-hybridhub-reason"]
    assert "requested cloud-mini not used: vendor zone not allowed at this level" in reason
    assert reason.startswith("contains card -> restricted; ")
    assert cloud.requests == []
    row = UsageRecord.objects.get()
    assert (row.level_name, row.found_level, row.model_name) == ("restricted", 3, "tiny")
    assert row.findings == [{"detector": "card", "label": "CARD", "count": 1}]
    assert "4111" not in str(row.route_reasons)


def test_no_fallback_or_retry_leaks_when_the_local_model_fails(
    client, hub, tiny_gguf, cloud, tmp_path
):
    broken = make_local_model(tmp_path / "missing.gguf", name="broken")
    add_fallbacks(broken, make_cloud_model(cloud.url, name="cloud-mini"))
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="broken", messages=[{"role": "user", "content": CARD}], max_tokens=3
        )
    assert caught.value.status_code == 503
    assert cloud.requests == []


def test_raised_sensitivity_header_and_field_keep_a_plain_prompt_local(client, models, cloud):
    hello = [{"role": "user", "content": "hello"}]
    raw = client.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=hello, max_tokens=2,
        extra_headers={"X-HybridHub-Sensitivity": "confidential"},
    )  # fmt: skip
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    raw = client.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=hello, max_tokens=2, extra_body={"sensitivity": "restricted"}
    )
    assert raw.headers["x-hybridhub-level"] == "restricted"
    assert cloud.requests == []
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="cloud-mini", messages=hello, extra_body={"sensitivity": "top-secret"}
        )
    assert caught.value.code == "invalid_sensitivity"


def test_earlier_turns_keep_the_conversation_at_their_level(client, models, cloud):
    conversation = [
        {"role": "user", "content": "my email is ann@corp.example"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "now just say hello"},
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=conversation, max_tokens=2
    )
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    assert cloud.requests == []


def test_the_egress_guard_refuses_even_when_routing_is_wrong(
    client, models, cloud, monkeypatch, caplog
):
    real_decide = gateway_services.decide

    def buggy_decide(policy, catalog, texts, facts, **options):
        decision = real_decide(policy, catalog, texts, facts, **options)
        cloud_first = (catalog.get("cloud-mini"), catalog.get("tiny"))
        return decision.__class__(**{**decision.__dict__, "candidates": cloud_first})

    monkeypatch.setattr(gateway_services, "decide", buggy_decide)
    with caplog.at_level(logging.ERROR, logger="hybridhub.security"):
        raw = client.chat.completions.with_raw_response.create(
            model="cloud-mini", messages=[{"role": "user", "content": CARD}], max_tokens=2
        )
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    assert "cloud-mini refused by the egress guard" in raw.headers["x-hybridhub-reason"]
    assert cloud.requests == []
    event = SecurityEvent.objects.get()
    assert event.kind == "egress_refused" and event.detail["zone"] == "vendor"
    assert "4111" not in caplog.text and "Egress refused" in caplog.text


def test_the_guard_sits_in_the_adapter_itself(models, cloud):
    adapter = adapter_for(catalog_load().get("cloud-mini"))
    messages, params = [ChatMessage("user", CARD)], GenerationParams()
    digest = texts_digest(outgoing_texts(messages, params))
    restricted = Egress("restricted", frozenset({"on_prem"}), digest)

    async def call():
        async for _ in adapter.stream_chat(messages, params, restricted):
            pass

    with pytest.raises(EgressRefused) as caught:
        asyncio.run(call())
    assert caught.value.code == "egress_refused"
    assert cloud.requests == []


def test_redact_then_send_restores_the_originals_in_the_answer(client, models, cloud, admin_user):
    def redact_confidential(doc):
        levels = list(doc.levels)
        levels[2] = LevelPolicy(name="confidential", when_no_model="redact")
        rules = (RulePolicy(id="default", name="Cloud for all", models=(CLOUD,)),)
        return doc.model_copy(update={"levels": tuple(levels), "rules": rules})

    publish(admin_user, redact_confidential)
    prompt = "echo: write to ann@corp.example and ann@corp.example, cc bob@corp.example"
    stream = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": prompt}], stream=True
    )
    answer = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    sent = cloud.requests[-1]["messages"][-1]["content"]
    assert sent == "echo: write to [EMAIL_1] and [EMAIL_1], cc [EMAIL_2]"
    assert "corp.example" not in str(cloud.requests)
    assert (
        answer.split()
        == "write to ann@corp.example and ann@corp.example, cc bob@corp.example".split()
    )
    row = UsageRecord.objects.get()
    assert row.redacted and row.model_name == "cloud-mini" and row.policy_version == 2
