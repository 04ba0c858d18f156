import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Team(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Team admin"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ApiKey(models.Model):
    """A personal key that acts for one user within one team.

    Only a SHA-256 digest of the secret is stored: keys are long random
    strings, so a slow password hash would buy nothing and cost every request.
    The prefix is public, shown in lists, and indexes the lookup.
    """

    class Scope(models.TextChoices):
        INFERENCE = "inference", "Completions only"
        ADMIN = "admin", "Completions and budget management"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Budgets and spend control (apps/budgets): expiry, rate limits, scope.
    expires_at = models.DateTimeField(null=True, blank=True)
    rpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute (empty: no limit)."
    )
    tpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens per minute (empty: no limit)."
    )
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.INFERENCE)
    # The OpenAI-compatible API (apps/api): a model named in a request is used
    # or the request fails; never silently replaced by another the policy allows.
    strict_model = models.BooleanField(
        default=False,
        help_text="Never answer with another model than the one a request names "
        "(same as the X-HybridHub-Strict-Model header).",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
