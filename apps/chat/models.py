import uuid

from django.conf import settings
from django.db import models

from apps.accounts.models import Team


class Conversation(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, default="New chat")
    model = models.CharField(max_length=100, default="auto")
    # A level the user raised this chat to ("treat as confidential"); never lowered.
    sensitivity = models.CharField(max_length=30, blank=True)
    # The highest level any turn reached: later turns keep it, so earlier
    # confidential turns never leak to the cloud with the next message.
    max_level = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        DONE = "done", "Done"
        STREAMING = "streaming", "Streaming"
        STOPPED = "stopped", "Stopped"
        ERROR = "error", "Error"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DONE)
    error = models.CharField(max_length=500, blank=True)
    # Where the answer ran and why: route, model, zone, reasons, tokens, cost, latency.
    route = models.JSONField(default=dict, blank=True)
    feedback = models.SmallIntegerField(default=0, help_text="1 thumbs up, -1 down, 0 none")
    # An earlier answer to the same message, kept by Regenerate so the user
    # can switch back to it; never sent to a model again.
    replaced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class Escalation(models.Model):
    """ "Ask a stronger model" on an answer: a training signal for the learning
    job (apps/analytics/learning.py) that the request was too hard for the
    model that answered. Features and names only, never text; plain ids, so
    deleting the chat keeps the signal (like the ledger row it points to)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    team_id = models.BigIntegerField(null=True)
    user_id = models.BigIntegerField(null=True)
    # The ledger row of the answer found lacking (None for answers recorded
    # before rows were linked to chat answers).
    ledger_code = models.UUIDField(null=True)
    from_model = models.CharField(max_length=100)
    from_tier = models.PositiveSmallIntegerField()
    to_model = models.CharField(max_length=100)  # the one the policy chose when asked
    answer_id = models.BigIntegerField(null=True)  # the stronger model's answer
    # The estimator's features of the request that was answered (from its
    # ledger row; else of the same conversation, scored when asked).
    complexity_features = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.from_model} -> {self.to_model}"
