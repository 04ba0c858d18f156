"""An on-prem model server is local: llama-cpp-python's own OpenAI-compatible
server, started on loopback with SmolLM2, stands in for a site's vLLM/Ollama.

Sensitive prompts must go there and never to the vendor (the loopback mock):
``@local``, the privacy fallback, the analytics split and the route badge all
count it as on-prem although the hub reaches it over HTTP.
"""

from collections.abc import Iterator

import openai
import pytest
from django.core.exceptions import ValidationError

from apps.analytics.services import Route, record_route
from apps.gateway.models import UsageRecord
from apps.policy.document import CLOUD, RulePolicy
from apps.policy.services import document_json, document_parse, policy_draft_edit, policy_publish
from apps.providers.catalog import catalog_load
from apps.providers.models import LanguageModel, PrivacyZone, Provider
from tests.conftest import make_cloud_model
from tests.support.llama_server import LlamaServer, llama_server, server_missing

CARD = "Refund card 4111 1111 1111 1111 today."

pytestmark = pytest.mark.llamacpp


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaServer]:
    missing = server_missing()
    if missing:
        pytest.skip(f"llama-cpp-python's server cannot run: {missing}")
    with llama_server(alias="smollm2") as server:
        yield server


def make_onprem_server_model(url: str, alias: str, *, name: str = "smollm2-gpu") -> LanguageModel:
    provider = Provider.objects.create(
        name="gpu-box",
        kind=Provider.Kind.OPENAI_COMPATIBLE,
        privacy_zone=PrivacyZone.ON_PREM,
        base_url=url,
        timeout_seconds=60,
        max_retries=0,
    )
    provider.full_clean()  # an on-prem server needs no key and no model file
    return LanguageModel.objects.create(
        provider=provider, name=name, upstream_id=alias, context_window=2048
    )


@pytest.fixture
def client(hub, member):
    return openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=120)


@pytest.fixture
def models(hub, engine, cloud):
    return (
        make_onprem_server_model(engine.url, engine.alias),
        make_cloud_model(cloud.url, name="cloud-mini"),
    )


def test_the_catalogue_counts_an_onprem_server_as_local_but_not_in_process(models):
    spec = catalog_load().get("smollm2-gpu")
    assert spec is not None
    assert spec.provider.is_local and not spec.provider.in_process
    assert spec.local is None  # nothing to load into the hub's process
    assert not catalog_load().get("cloud-mini").provider.is_local  # type: ignore[union-attr]


def test_a_restricted_prompt_asking_for_the_vendor_goes_to_the_onprem_server(client, models, cloud):
    raw = client.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=[{"role": "user", "content": CARD}], max_tokens=8
    )
    assert raw.headers["x-hybridhub-route"] == "local:smollm2-gpu"
    assert "-> smollm2-gpu (on-prem)" in raw.headers["x-hybridhub-reason"]  # via @local
    assert raw.parse().choices[0].message.content  # SmolLM2 really answered
    assert cloud.requests == []  # nothing reached the vendor
    row = UsageRecord.objects.get()
    assert (row.model_name, row.privacy_zone) == ("smollm2-gpu", "on_prem")
    assert record_route(row) == Route.LOCAL  # the analytics split


def test_a_streamed_sensitive_chat_on_auto_stays_on_the_onprem_server(client, models, cloud):
    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": f"Summarise: {CARD}"}],
        max_tokens=8,
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    assert cloud.requests == []
    assert UsageRecord.objects.get().model_name == "smollm2-gpu"


def test_the_privacy_fallback_picks_the_onprem_server(client, models, cloud, admin_user):
    """A policy that wants only the cloud: restricted data falls back on-prem."""

    def cloud_only(doc):
        rules = (RulePolicy(id="default", name="Cloud for all", models=(CLOUD,)),)
        return doc.model_copy(update={"rules": rules})

    policy_draft_edit(
        actor=admin_user,
        summary="cloud only",
        change=lambda data: document_json(cloud_only(document_parse(data))),
    )
    policy_publish(actor=admin_user)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": CARD}], max_tokens=4
    )
    assert raw.headers["x-hybridhub-route"] == "local:smollm2-gpu"
    assert "routed to an on-prem model" in raw.headers["x-hybridhub-reason"]
    assert cloud.requests == []
    safe = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hi"}], max_tokens=4
    )
    assert safe.headers["x-hybridhub-route"] == "cloud:cloud-mini"  # the rule still applies


def test_an_in_process_runtime_still_needs_the_onprem_zone_and_a_file(db):
    provider = Provider(
        name="cpu", kind=Provider.Kind.LOCAL_LLAMA_CPP, privacy_zone=PrivacyZone.VENDOR
    )
    with pytest.raises(ValidationError, match="Local providers run on-prem"):
        provider.clean()
    provider.privacy_zone = PrivacyZone.ON_PREM
    provider.save()
    with pytest.raises(ValidationError, match="model file"):
        LanguageModel(provider=provider, name="m").clean()


def test_the_chat_badge_says_a_sensitive_answer_stayed_on_prem(hub, member, models, cloud):
    from apps.chat.models import Message
    from apps.chat.services import conversation_create
    from tests.chat.test_chat import HX, browser, sse_events

    conversation = conversation_create(user=member.user, team=member.team)
    session = browser(hub, member.user)
    sent = session.post(f"/chat/c/{conversation.code}/send/", data={"text": CARD}, headers=HX)
    assert sent.status_code == 200
    answer = Message.objects.get(role="assistant")
    done = "\n".join(data for name, data in sse_events(session, answer.pk) if name == "done")
    assert "local · smollm2-gpu" in done
    answer.refresh_from_db()
    assert answer.route["local"] is True and answer.route["zone"] == "on_prem"
    assert "stays on-prem" in answer.route["why"]
    assert cloud.requests == []
