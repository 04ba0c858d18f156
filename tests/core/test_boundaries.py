"""The request value types load on their own: no Django, no catalogue, no runtime."""

import subprocess
import sys


def test_request_value_types_import_without_django_or_providers():
    probe = (
        "import sys, apps.core.chat_types as t; "
        "t.ChatMessage('user', 'hi'); t.GenerationParams(max_tokens=1); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'openai') "
        "or m.startswith(('apps.providers', 'apps.gateway', 'apps.accounts'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={}
    )
    assert done.stdout.strip() == "[]"


def test_the_old_import_path_still_gives_the_same_types():
    from apps.core import chat_types
    from apps.providers import adapters
    from apps.providers.adapters import base

    for name in ("ChatMessage", "GenerationParams", "TextDelta", "PromptTokens", "Usage"):
        assert getattr(adapters, name) is getattr(chat_types, name) is getattr(base, name)
