import openai
import pytest

from tests.conftest import make_cloud_model, make_local_model


@pytest.fixture
def client(hub, member):
    """The official openai client, as the member, against the live server."""
    return openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)


@pytest.fixture
def models(hub, tiny_gguf, cloud):
    """A local model (tiny) and a cloud one (cloud-mini, on the loopback mock)."""
    return make_local_model(tiny_gguf, name="tiny"), make_cloud_model(cloud.url, name="cloud-mini")
