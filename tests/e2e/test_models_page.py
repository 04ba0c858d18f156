"""The providers & models page in a real browser: the second local model is
added from a discovered file through the form, then its provider tested.
axe runs on every page visited (conftest.py)."""

import pytest
from django.contrib.auth.models import User

from apps.providers.models import LanguageModel
from tests.conftest import make_cloud_model, make_local_model
from tests.e2e.conftest import log_in, screenshot
from tests.support.tiny_gguf import write_tiny_llama_gguf


@pytest.fixture
def models_page(page, hub, tiny_gguf, cloud, settings, tmp_path):
    settings.HYBRIDHUB_MODELS_DIR = tmp_path
    write_tiny_llama_gguf(tmp_path / "second-llama.gguf", seed=1)
    User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    make_local_model(tiny_gguf, name="tiny")
    make_cloud_model(cloud.url)
    return log_in(page, hub.url, "/policy/models/", "root", "pw-root-123")


def test_add_the_second_local_model_from_a_discovered_file(models_page, tmp_path):
    page = models_page
    assert "MOCKAI_API_KEY is set" in page.locator("main").inner_text()
    row = page.locator("tr", has_text="second-llama.gguf")
    assert "ctransformers, llama-cpp-python" in row.inner_text()
    screenshot(page, "models-page")
    row.get_by_role("link", name="Add as local model").click()
    page.wait_for_url("**/policy/models/new/**")
    assert page.get_by_label("Public name").input_value() == "second-llama"
    assert page.get_by_label("Model file").input_value() == str(tmp_path / "second-llama.gguf")
    page.get_by_label("Public name").fill("auto")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/policy/models/new/**")
    assert "'auto' is reserved" in page.locator("main").inner_text()
    page.get_by_label("Public name").fill("second-llama")
    page.get_by_label("Input price ($ per million tokens)").fill("0.05")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/policy/models/")
    assert "Model second-llama added." in page.locator("main").inner_text()
    second = LanguageModel.objects.get(name="second-llama")
    assert (second.provider.name, second.input_price_per_mtok) == ("local-ct", 50_000)
    assert "$0.05" in page.locator("tr", has_text="second-llama").first.inner_text()

    page.locator("section", has_text="local-ct").get_by_role(
        "button", name="Test connection"
    ).click()
    page.wait_for_url("**/policy/models/")
    status = page.locator("p.saved").inner_text()
    assert "second-llama: The file exists; ctransformers and llama-cpp-python" in status

    page.locator("section", has_text="mockai").get_by_role("button", name="Test connection").click()
    page.wait_for_url("**/policy/models/")
    assert "Connected: 1 models (mock-1)" in page.locator("p.saved").inner_text()
