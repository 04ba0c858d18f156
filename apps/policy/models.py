from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import ApiKey, Team


class PolicyVersion(models.Model):
    """One version of the whole routing policy. Every version is kept."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    document = models.JSONField()
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="draft"), name="policy_one_draft"
            ),
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="published"), name="policy_one_published"
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.number} ({self.status})"


class PolicyAuditEntry(models.Model):
    class Action(models.TextChoices):
        EDIT = "edit", "Edited the draft"
        PUBLISH = "publish", "Published"
        ROLLBACK = "rollback", "Rolled back"
        DISCARD = "discard", "Discarded the draft"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    version_number = models.PositiveIntegerField()
    summary = models.CharField(max_length=300)
    diff = models.TextField(blank=True)
    # The part of the diff in each team's own section, by team id: what that
    # team's admins may see (the whole diff shows other teams' detectors).
    team_diffs = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "policy audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} v{self.version_number} {self.action}"


class SecurityEvent(models.Model):
    """Something the guards stopped, e.g. data about to leave for a zone it may not reach."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=40)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.kind}"


class PolicyChangeRequest(models.Model):
    """A team admin asks the org admins to publish their team's edits in the
    draft; an org admin publishes the draft or rejects the request with a reply."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for review"
        PUBLISHED = "published", "Published"
        REJECTED = "rejected", "Rejected"
        DISCARDED = "discarded", "Draft discarded"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    draft_number = models.PositiveIntegerField()
    changes = models.TextField(help_text="The team's edits in the draft, one per line.")
    note = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reply = models.CharField(max_length=200, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.team} v{self.draft_number} {self.status}"


class LearningRun(models.Model):
    """What one run of the learning job proposed (manage.py learn_routing):
    from how many recorded examples, which signals, which weight changes.
    It only ever writes a draft; an admin publishes."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    team_id = models.BigIntegerField(null=True, blank=True)  # None: the whole organisation
    examples = models.PositiveIntegerField()
    signals = models.JSONField(default=dict)  # signal → number of examples
    weights = models.JSONField(default=dict)  # the proposed overrides, bias included
    changes = models.JSONField(default=dict)  # feature → [before, after], the ones that moved
    threshold = models.FloatField()
    auc_before = models.FloatField(null=True, blank=True)
    auc_after = models.FloatField(null=True, blank=True)
    draft_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} team {self.team_id}: {self.examples} examples"
