from io import StringIO

import openai
import pytest
from django.core.management import call_command

from apps.providers.models import LanguageModel


@pytest.fixture
def smollm2(hub):
    """The official openai client, with the demo's key, for the demo's
    SmolLM2 on llama.cpp (bootstrap_demo)."""
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    # One thread: on a busy test machine two llama.cpp threads wait on each
    # other at every layer, and a 60-token answer can take a minute and a half.
    model = LanguageModel.objects.get(name="smollm2")
    model.threads = 1
    model.save()
    key = next(
        line.split(": ")[-1] for line in out.getvalue().splitlines() if line.startswith("API key")
    )
    return openai.OpenAI(base_url=hub.api, api_key=key, max_retries=0, timeout=120)
