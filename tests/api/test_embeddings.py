"""POST /v1/embeddings: routed by the policy, guarded, in the ledger."""

from io import StringIO

import openai
import pytest
from django.core.management import call_command

from apps.gateway.models import UsageRecord
from apps.providers.models import LanguageModel
from tests.conftest import add_fallbacks, make_cloud_model, make_local_model


def test_cloud_embeddings_float_and_base64(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-embed")
    floats = client.embeddings.create(
        model="cloud-embed", input=["hello world", "a b c"], encoding_format="float"
    )
    assert [d.embedding for d in floats.data] == [[11.0, 2.0, 1.0], [5.0, 3.0, 1.0]]
    assert floats.usage.prompt_tokens == 5 and floats.model == "cloud-embed"
    default = client.embeddings.create(model="cloud-embed", input="hello world")  # base64
    assert default.data[0].embedding == [11.0, 2.0, 1.0]
    assert cloud.requests[-1] == {
        "model": "up-cloud-embed", "input": ["hello world"], "encoding_format": "float"
    }  # fmt: skip
    rows = UsageRecord.objects.order_by("created_at")
    assert [(r.status, r.model_name, r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("ok", "cloud-embed", 5, 0),
        ("ok", "cloud-embed", 2, 0),
    ]
    assert rows[0].cost_micros > 0 and not rows[0].tokens_estimated


def test_a_local_model_that_cannot_embed_says_so(client, hub, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny")
    with pytest.raises(openai.BadRequestError) as error:
        client.embeddings.create(model="tiny", input="hello")
    assert (error.value.body["code"], error.value.body["param"]) == ("model_not_available", "model")
    assert "cannot embed" in error.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="auto", input="hello")
    with pytest.raises(openai.BadRequestError) as error:
        client.embeddings.create(model="tiny", input=[])
    assert error.value.body["param"] == "input"


def test_sensitive_text_embeds_on_prem(hub, cloud):
    pytest.importorskip("llama_cpp")
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    key = next(
        line.split(": ")[-1] for line in out.getvalue().splitlines() if line.startswith("API key")
    )
    client = openai.OpenAI(base_url=hub.api, api_key=key, max_retries=0, timeout=60)
    embedder = make_cloud_model(cloud.url, name="cloud-embed")
    add_fallbacks(embedder, LanguageModel.objects.get(name="smollm2"))

    public = client.embeddings.with_raw_response.create(model="cloud-embed", input="hello world")
    assert public.headers["x-hybridhub-route"] == "cloud:cloud-embed"

    secret = "Card 4111 1111 1111 1111, write to jane.doe@example.com"
    raw = client.embeddings.with_raw_response.create(model="cloud-embed", input=secret)
    assert raw.headers["x-hybridhub-route"] == "local:smollm2"
    vector = raw.parse().data[0].embedding
    assert len(vector) > 100 and abs(sum(x * x for x in vector) - 1) < 1e-3  # normalised
    assert all(secret not in str(r) for r in cloud.requests)
    row = UsageRecord.objects.order_by("-created_at").first()
    assert (row.status, row.model_name, row.privacy_zone) == ("ok", "smollm2", "on_prem")
    assert row.level_name != "public"
