"""Budgets: limits on spend per organisation, team, user in a team and API key.

Money is integer micro-dollars. The ledger (gateway.UsageRecord) is the
record of what was spent; a budget row keeps running totals for its current
period so a reservation is one conditional UPDATE (services.py), and
``budget_reconcile`` re-derives them from the ledger.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import ApiKey, Team


class Budget(models.Model):
    class Scope(models.TextChoices):
        ORG = "org", "Organisation"
        TEAM = "team", "Team"
        USER = "user", "User in a team"
        KEY = "key", "API key"

    class Period(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"
        NONE = "none", "No reset"

    class OnLimit(models.TextChoices):
        BLOCK = "block", "Block"
        DOWNGRADE = "downgrade", "Downgrade"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    limit_micros = models.PositiveBigIntegerField()
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.MONTH)
    on_limit = models.CharField(max_length=10, choices=OnLimit.choices, default=OnLimit.BLOCK)
    warn_percent = models.PositiveSmallIntegerField(default=80)
    local_open = models.BooleanField(
        default=True, help_text="Requests to on-prem models still run when the budget is used up."
    )
    # Running totals of the current period (the one starting at period_start).
    period_start = models.DateTimeField()
    spent_micros = models.BigIntegerField(default=0)
    reserved_micros = models.BigIntegerField(default=0)
    extra_micros = models.BigIntegerField(default=0, help_text="Top-ups for this period.")
    override_until = models.DateTimeField(null=True, blank=True)
    warned_period = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]  # also the lock order of a reservation: no deadlocks
        constraints = [
            models.UniqueConstraint(
                fields=["scope"], condition=Q(scope="org"), name="budget_one_org"
            ),
            models.UniqueConstraint(
                fields=["team"], condition=Q(scope="team"), name="budget_one_per_team"
            ),
            models.UniqueConstraint(
                fields=["team", "user"], condition=Q(scope="user"), name="budget_one_per_user"
            ),
            models.UniqueConstraint(
                fields=["api_key"], condition=Q(scope="key"), name="budget_one_per_key"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.scope == self.Scope.ORG:
            return "organisation budget"
        team = self.team.slug if self.team else "?"
        if self.scope == self.Scope.TEAM:
            return f"team {team} budget"
        if self.scope == self.Scope.USER:
            return f"budget of {self.user.username if self.user else '?'} in team {team}"
        return f"budget of key {self.api_key.prefix if self.api_key else '?'} in team {team}"


class Reservation(models.Model):
    """Money held for one request in flight, against one budget."""

    hold = models.UUIDField(db_index=True)
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="reservations")
    amount_micros = models.BigIntegerField()
    period_start = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    # A process's leased headroom (decision 0011), which also holds costs it
    # has not moved to spent yet: if it expires, all of it counts as spent.
    lease = models.BooleanField(default=False, db_default=False)

    def __str__(self) -> str:
        return f"{self.amount_micros} µ$ on {self.budget_id}"


class BudgetEvent(models.Model):
    """The budgets' audit log: edits, top-ups, overrides, warnings, expiries."""

    class Kind(models.TextChoices):
        SET = "set", "Set"
        DELETED = "deleted", "Deleted"
        TOP_UP = "top_up", "Top-up"
        OVERRIDE = "override", "Override"
        WARNING = "warning", "Warning threshold reached"
        EXPIRED = "expired", "Stale reservations expired"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    budget = models.ForeignKey(
        Budget, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    budget_label = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    amount_micros = models.BigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.kind} {self.budget_label}"


class RateWindow(models.Model):
    """Requests and tokens of one API key in one clock minute (all processes)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "minute"], name="ratewindow_key_minute")
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.minute:%H:%M}"
