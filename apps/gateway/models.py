import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import ApiKey, Team
from apps.providers.models import LanguageModel, Provider


class UsageRecord(models.Model):
    """One row per request, whatever became of it. Never holds prompt text."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"

    class Source(models.TextChoices):
        API = "api", "API"
        CHAT = "chat", "Chat"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_user = models.CharField(max_length=200, blank=True, help_text="The request's `user` field.")

    requested_model = models.CharField(max_length=100)
    # Names are kept beside the keys so the row still reads after a model is deleted.
    model = models.ForeignKey(
        LanguageModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_name = models.CharField(max_length=100, blank=True)
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_name = models.CharField(max_length=100, blank=True)
    privacy_zone = models.CharField(max_length=32, blank=True)
    route_reasons = models.JSONField(default=list)
    attempts = models.JSONField(default=list, help_text="Failed tries before the answer.")

    # What the policy saw and decided: enough to replay a draft policy on
    # past traffic without its text.
    policy_version = models.PositiveIntegerField(null=True, blank=True)
    rule_id = models.CharField(max_length=16, blank=True)
    rule_name = models.CharField(max_length=80, blank=True)
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    level_name = models.CharField(max_length=30, blank=True)
    found_level = models.PositiveSmallIntegerField(null=True, blank=True)
    floor_level = models.PositiveSmallIntegerField(null=True, blank=True)
    findings = models.JSONField(default=list, help_text="Detector, label and count; never text.")
    complexity = models.FloatField(null=True, blank=True)
    # The local model's confidence in its answer (Usage.confidence): a
    # learning signal (analytics.learning) and the chat's "unsure" hint.
    answer_confidence = models.FloatField(null=True, blank=True)
    complexity_features = models.JSONField(default=dict)
    redacted = models.BooleanField(default=False)
    budget_used = models.FloatField(
        null=True, blank=True, help_text="How used up the tightest downgrade budget was."
    )
    estimated_tokens = models.PositiveIntegerField(default=0)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)

    stream = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False)
    cost_micros = models.PositiveBigIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices)
    error_type = models.CharField(max_length=64, blank=True)
    finish_reason = models.CharField(max_length=16, blank=True)
    # Whether the analytics rollups count this row yet: rows are written
    # unfolded and folded in batches off the request path, or by the next
    # reader of the rollups (apps/analytics/fold.py, docs/decisions/0010).
    folded = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["team", "created_at"]),
            # The fold's queue: only the rows not yet folded, so it stays tiny.
            models.Index(fields=["id"], condition=Q(folded=False), name="usage_unfolded"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.model_name or self.requested_model}"
