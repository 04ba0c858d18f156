import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.accounts.models import Team
from apps.core.privacy import PrivacyZone

from .guards import api_key_env_problem, base_url_problem
from .specs import IN_PROCESS_KINDS, LOCAL_KINDS

__all__ = ["LanguageModel", "ModelFallback", "PrivacyZone", "Provider"]


class Provider(models.Model):
    class Kind(models.TextChoices):
        LOCAL_CTRANSFORMERS = "local_ctransformers", "Local: ctransformers"
        LOCAL_LLAMA_CPP = "local_llama_cpp", "Local: llama-cpp-python"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible API"

    LOCAL_KINDS = LOCAL_KINDS

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    privacy_zone = models.CharField(max_length=32, choices=PrivacyZone.choices())
    base_url = models.URLField(blank=True, help_text="For OpenAI-compatible providers.")
    replica_urls = models.TextField(
        blank=True,
        help_text=(
            "More base URLs serving the same models (on-prem replicas), one a line: "
            "requests go to the least busy; a failing one leaves the rotation until it answers."
        ),
    )
    api_key_env = models.CharField(
        "API key variable",
        max_length=100,
        blank=True,
        help_text=(
            "Name of the environment variable that holds the key (never the key): "
            "HYBRIDHUB_PROVIDER_KEY_… or one listed in HYBRIDHUB_PROVIDER_KEY_ALLOW."
        ),
    )
    timeout_seconds = models.FloatField(default=60)
    max_retries = models.PositiveSmallIntegerField(
        default=2, help_text="Retries on 429, 5xx and timeouts before falling over."
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        """On-prem, in this process or on our own model servers (specs.ProviderSpec)."""
        return self.privacy_zone == PrivacyZone.ON_PREM

    @property
    def in_process(self) -> bool:
        return self.kind in IN_PROCESS_KINDS

    @property
    def replica_url_list(self) -> list[str]:
        return self.replica_urls.split()

    def clean(self) -> None:
        if self.in_process and self.privacy_zone != PrivacyZone.ON_PREM:
            raise ValidationError({"privacy_zone": "Local providers run on-prem."})
        if self.kind == self.Kind.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError({"base_url": "An OpenAI-compatible provider needs a URL."})
        if self.api_key_env and not self.api_key_env.replace("_", "").isalnum():
            raise ValidationError({"api_key_env": "Use an environment variable name."})
        errors = {
            "api_key_env": api_key_env_problem(self.api_key_env),
            "base_url": base_url_problem(self.base_url),
            "replica_urls": _replicas_problem(self),
        }
        if any(errors.values()):
            raise ValidationError({field: problem for field, problem in errors.items() if problem})


def _replicas_problem(provider: Provider) -> str | None:
    if provider.replica_urls.strip() and provider.kind != Provider.Kind.OPENAI_COMPATIBLE:
        return "Only a provider served over the OpenAI-compatible API has replicas."
    for url in provider.replica_url_list:
        problem = base_url_problem(url)
        if problem:
            return f"{url}: {problem}"
    return None


class ChatTemplate(models.TextChoices):
    LLAMA2 = "llama2", "Llama 2 [INST]"
    MISTRAL = "mistral", "Mistral [INST]"
    CHATML = "chatml", "ChatML"
    ZEPHYR = "zephyr", "Zephyr"
    CUSTOM = "custom", "Custom (Jinja)"


class LanguageModel(models.Model):
    """A model callers can ask for by its public name."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    name = models.CharField(
        "public name", max_length=100, unique=True, help_text="What callers send as `model`."
    )
    upstream_id = models.CharField(
        max_length=200, blank=True, help_text="The vendor's model id (cloud models)."
    )
    context_window = models.PositiveIntegerField(default=4096)
    # Micro-dollars per million tokens: $0.15/M is 150000.
    input_price_per_mtok = models.PositiveBigIntegerField(default=0)
    output_price_per_mtok = models.PositiveBigIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    tier = models.PositiveSmallIntegerField(
        default=0,
        choices=[(0, "By what the model is"), (1, "1 small"), (2, "2 mid-size"), (3, "3 frontier")],
        help_text="Capability tier @capable routes by (docs/routing.md).",
    )
    # What the model can do, as far as its runtime allows (specs.unsupported_features):
    # untick what this model cannot do although its server forwards the field
    # (an on-prem vLLM model without a tool parser, a vendor model without JSON mode).
    can_call_tools = models.BooleanField(
        "tools (function calling)",
        default=True,
        help_text="Untick if this model cannot call tools: requests with tools then go elsewhere.",
    )
    can_structured_output = models.BooleanField(
        "structured output (response_format)",
        default=True,
        help_text="Untick if this model cannot keep to a JSON schema or JSON mode.",
    )
    teams = models.ManyToManyField(
        Team, blank=True, related_name="models", help_text="Empty: every team may use it."
    )
    fallbacks = models.ManyToManyField(
        "self",
        through="ModelFallback",
        symmetrical=False,
        related_name="+",
        blank=True,
    )

    # Local runtimes only.
    model_file = models.CharField(
        max_length=500,
        blank=True,
        help_text="Path to a GGUF/GGML file, or package:<dist>/<file> for one shipped in a wheel.",
    )
    model_type = models.CharField(
        max_length=30, blank=True, default="llama", help_text="ctransformers model_type."
    )
    gpu_layers = models.PositiveIntegerField(default=0)
    threads = models.PositiveSmallIntegerField(default=0, help_text="0: let the runtime pick.")
    chat_template = models.CharField(
        max_length=10, choices=ChatTemplate.choices, default=ChatTemplate.CHATML
    )
    custom_chat_template = models.TextField(
        blank=True, help_text="Jinja chat template (as in a GGUF's tokenizer.chat_template)."
    )
    max_queue = models.PositiveSmallIntegerField(
        default=8, help_text="Requests that may wait while one generates."
    )
    queue_timeout_seconds = models.FloatField(default=30)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.name == "auto":
            errors["name"] = "'auto' is reserved for routed requests."
        provider = getattr(self, "provider", None)
        if provider and provider.in_process and not self.model_file:
            errors["model_file"] = "A local model needs a model file."
        if provider and not provider.in_process and not self.upstream_id:
            errors["upstream_id"] = "A model served over an API needs the server's model id."
        if self.chat_template == ChatTemplate.CUSTOM and not self.custom_chat_template:
            errors["custom_chat_template"] = "Write the template or pick a named one."
        if self.custom_chat_template:
            from .chat_templates import template_check

            problem = template_check(self.custom_chat_template)
            if problem:
                errors["custom_chat_template"] = problem
        if errors:
            raise ValidationError(errors)


class ModelFallback(models.Model):
    """Ordered fallbacks: where a request goes when its model fails."""

    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="+")
    fallback = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["model", "fallback"], name="fallback_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.model} → {self.fallback} (#{self.position})"

    def clean(self) -> None:
        if self.model_id and self.model_id == self.fallback_id:
            raise ValidationError("A model cannot fall back to itself.")


class ProviderChange(models.Model):
    """Who changed which provider setting, from what to what (never a key:
    providers hold only the *name* of the variable with the key)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_name = models.CharField(max_length=100)
    action = models.CharField(max_length=10)  # added, changed, deleted
    changes = models.JSONField(default=dict, blank=True)  # field: [before, after]

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.provider_name}"
