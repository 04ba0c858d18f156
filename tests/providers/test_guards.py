"""A provider cannot read any environment variable or point anywhere; its
edits are recorded."""

import openai
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from apps.providers.guards import base_url_problem
from apps.providers.models import LanguageModel, PrivacyZone, Provider, ProviderChange
from tests.conftest import make_cloud_model

REFUSED_LINK_LOCAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fe80::1]/v1",
    "http://[fd00:ec2::254]/latest",
    "http://[::ffff:169.254.169.254]/",
    "http://2852039166/",  # 169.254.169.254 as one number
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./",
    "http://100.100.100.200/",
]
REFUSED_LOOPBACK = [
    "http://127.0.0.1:8000/v1",
    "http://127.1/v1",
    "http://localhost/v1",
    "http://api.localhost/v1",
    "http://[::1]/v1",
    "http://0.0.0.0/v1",
    "http://2130706433/v1",
]


def vendor(**fields):
    values = {
        "name": "v",
        "kind": Provider.Kind.OPENAI_COMPATIBLE,
        "privacy_zone": PrivacyZone.VENDOR,
        "base_url": "https://api.example.com/v1",
        "api_key_env": "HYBRIDHUB_PROVIDER_KEY_EXAMPLE",
    }
    return Provider(**{**values, **fields})


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "HOME", "HYBRIDHUB_PROVIDER_KEY_"])
def test_key_variables_outside_the_prefix_and_allow_list_are_refused(name):
    with pytest.raises(ValidationError) as caught:
        vendor(api_key_env=name).clean()
    assert "api_key_env" in caught.value.message_dict


@pytest.mark.parametrize("name", ["HYBRIDHUB_PROVIDER_KEY_OPENROUTER", "OPENAI_API_KEY"])
def test_prefixed_and_allow_listed_variables_are_accepted(name):
    vendor(api_key_env=name).clean()


@pytest.mark.parametrize("url", REFUSED_LINK_LOCAL)
def test_link_local_and_metadata_urls_need_an_explicit_setting(url, settings):
    assert base_url_problem(url)
    with pytest.raises(ValidationError):
        vendor(base_url=url).clean()
    settings.HYBRIDHUB_PROVIDER_ALLOW_LINK_LOCAL = True
    assert base_url_problem(url) is None


@pytest.mark.parametrize("url", REFUSED_LOOPBACK)
def test_loopback_urls_need_an_explicit_setting(url, settings):
    settings.HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK = False
    assert base_url_problem(url)
    settings.HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK = True
    assert base_url_problem(url) is None


@pytest.mark.parametrize(
    "url", ["https://api.openai.com/v1", "https://10.0.0.5:8443/v1", "http://vllm.internal/v1"]
)
def test_ordinary_urls_are_accepted(url, settings):
    settings.HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK = False
    assert base_url_problem(url) is None


@pytest.mark.parametrize("url", ["ftp://api.example.com", "http://", "http://[::1/", "file:///etc"])
def test_non_http_urls_are_refused(url):
    assert base_url_problem(url)


def test_a_row_saved_around_the_form_still_cannot_send_secret_key(hub, cloud, member):
    model = make_cloud_model(cloud.url, name="leaky")
    Provider.objects.filter(pk=model.provider_id).update(api_key_env="SECRET_KEY")
    api = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=10)
    with pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model="leaky", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code in (502, 503)
    assert cloud.requests == []  # nothing reached the URL, with or without the key
    assert "tests-only-not-secret" not in str(caught.value.body)


def test_a_row_pointing_at_metadata_is_refused_when_used(hub, cloud, member):
    model = make_cloud_model(cloud.url, name="meta")
    Provider.objects.filter(pk=model.provider_id).update(base_url="http://169.254.169.254/v1")
    api = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=10)
    with pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model="meta", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code in (502, 503)


@pytest.mark.django_db
def test_provider_edits_in_the_admin_are_recorded(client):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-root")
    client.force_login(admin)
    form = {
        "name": "acme", "kind": "openai_compatible", "privacy_zone": "vendor",
        "base_url": "https://api.acme.example/v1", "api_key_env": "HYBRIDHUB_PROVIDER_KEY_ACME",
        "timeout_seconds": "30", "max_retries": "2", "enabled": "on",
        "models-TOTAL_FORMS": "0", "models-INITIAL_FORMS": "0",
    }  # fmt: skip
    client.post("/admin/providers/provider/add/", form)
    provider = Provider.objects.get(name="acme")
    refused = client.post(
        f"/admin/providers/provider/{provider.pk}/change/", {**form, "api_key_env": "SECRET_KEY"}
    )
    assert "HYBRIDHUB_PROVIDER_KEY_" in refused.content.decode()
    client.post(
        f"/admin/providers/provider/{provider.pk}/change/",
        {**form, "base_url": "https://eu.acme.example/v1"},
    )
    added, changed = ProviderChange.objects.order_by("pk")
    assert added.action == "added" and added.actor == admin
    assert changed.changes == {
        "base_url": ["https://api.acme.example/v1", "https://eu.acme.example/v1"]
    }
    assert Provider.objects.get().api_key_env == "HYBRIDHUB_PROVIDER_KEY_ACME"
    assert not LanguageModel.objects.exists()
