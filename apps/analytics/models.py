"""Rollups: the usage ledger pre-aggregated per day and per dimension.

They are folded from the ledger in batches, off the request path and before
every read (fold.py), with additive
``INSERT … ON CONFLICT DO UPDATE`` statements, so pages read a
few thousand rows instead of scanning millions, and concurrent writers in
several processes never lose an increment. Ids are plain integers (0 for
none) rather than foreign keys: a NULL would defeat the unique key the
upsert relies on, and a deleted team must not take its history with it.
"""

from django.db import models

# Upper bounds in milliseconds of the latency and time-to-first-token
# histogram buckets; one more bucket counts everything above the last.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    50, 100, 200, 350, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000, 13000, 20000, 30000, 60000,
)  # fmt: skip
BUCKETS = len(LATENCY_BOUNDS_MS) + 1
LATENCY_FIELDS = [f"lat_{i:02d}" for i in range(BUCKETS)]
TTFT_FIELDS = [f"ttft_{i:02d}" for i in range(BUCKETS)]

# The dimensions rollups are keyed by, in the unique key's order. The team
# rollups leave out the user: most pages read those, a fraction of the rows.
DIMENSIONS = (
    "day", "team_id", "user_id", "model_name", "provider_name", "route", "level_name", "source",
)  # fmt: skip
TEAM_DIMENSIONS = tuple(d for d in DIMENSIONS if d != "user_id")


class Route(models.TextChoices):
    LOCAL = "local", "Local"
    CLOUD = "cloud", "Cloud"
    NONE = "none", "No model"


class TeamDimensions(models.Model):
    day = models.DateField()
    team_id = models.BigIntegerField()
    model_name = models.CharField(max_length=100, blank=True)
    provider_name = models.CharField(max_length=100, blank=True)
    route = models.CharField(max_length=8, choices=Route.choices)
    level_name = models.CharField(max_length=30, blank=True)
    source = models.CharField(max_length=8)
    updated_at = models.DateTimeField()

    class Meta:
        abstract = True


class UsageCounts(models.Model):
    """Requests, tokens, spend and latency; histograms are added below."""

    requests = models.BigIntegerField(db_default=0)
    ok = models.BigIntegerField(db_default=0)
    errors = models.BigIntegerField(db_default=0)
    rejected = models.BigIntegerField(db_default=0)
    cancelled = models.BigIntegerField(db_default=0)
    prompt_tokens = models.BigIntegerField(db_default=0)
    completion_tokens = models.BigIntegerField(db_default=0)
    cost_micros = models.BigIntegerField(db_default=0)
    latency_ms_sum = models.BigIntegerField(db_default=0)
    ttft_count = models.BigIntegerField(db_default=0)
    ttft_ms_sum = models.BigIntegerField(db_default=0)
    # Answers with a first token: tokens after it and the time they took
    # (tokens per second for local models).
    gen_tokens = models.BigIntegerField(db_default=0)
    gen_ms = models.BigIntegerField(db_default=0)

    class Meta:
        abstract = True


COUNT_FIELDS = [
    "requests", "ok", "errors", "rejected", "cancelled", "prompt_tokens", "completion_tokens",
    "cost_micros", "latency_ms_sum", "ttft_count", "ttft_ms_sum", "gen_tokens", "gen_ms",
    *LATENCY_FIELDS, *TTFT_FIELDS,
]  # fmt: skip


class TeamRollup(TeamDimensions, UsageCounts):
    """Usage per day, team, model, route, level and source."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=TEAM_DIMENSIONS, name="team_rollup_key")]
        indexes = [
            models.Index(fields=["team_id", "day"], name="team_rollup_team_day"),
            models.Index(fields=["updated_at"], name="team_rollup_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id} {self.model_name}"


class UsageRollup(TeamDimensions, UsageCounts):
    """The same per user, for per-user views and drill-downs."""

    user_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=DIMENSIONS, name="usage_rollup_key")]
        indexes = [
            models.Index(fields=["user_id", "day"], name="usage_rollup_user_day"),
            # Covers the top-users query: it reads the index, not the wide rows.
            models.Index(
                fields=["day", "user_id", "team_id", "requests", "cost_micros"],
                name="usage_rollup_user_totals",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id} user {self.user_id} {self.model_name}"


# The cube's key: what every page groups by when no level, source or
# provider filter is set.
MODEL_DIMENSIONS = ("day", "team_id", "model_name", "route")


class ModelRollup(UsageCounts):
    """Usage per day, team, model and route: the team rollup without level,
    source and provider, about a fifth of its rows. The default views (and
    their CSV and API tables) read this one."""

    day = models.DateField()
    team_id = models.BigIntegerField()
    model_name = models.CharField(max_length=100, blank=True)
    route = models.CharField(max_length=8, choices=Route.choices)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=MODEL_DIMENSIONS, name="model_rollup_key")]
        indexes = [models.Index(fields=["team_id", "day"], name="model_rollup_team_day")]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id} {self.model_name}"


for _model in (TeamRollup, UsageRollup, ModelRollup):
    for _name in LATENCY_FIELDS + TTFT_FIELDS:
        _model.add_to_class(_name, models.BigIntegerField(db_default=0))


class BreakdownCounts(models.Model):
    class Kind(models.TextChoices):
        RULE = "rule", "Rule"
        ERROR = "error", "Error"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=80)
    requests = models.BigIntegerField(db_default=0)
    cost_micros = models.BigIntegerField(db_default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class TeamBreakdownRollup(TeamDimensions, BreakdownCounts):
    """Requests and spend per deciding rule and per error type."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=(*TEAM_DIMENSIONS, "kind", "name"), name="team_breakdown_key"
            )
        ]
        indexes = [  # covers the top rules and errors tables
            models.Index(
                fields=["kind", "day", "team_id", "name", "requests", "cost_micros"],
                name="team_breakdown_totals",
            )
        ]


class BreakdownRollup(TeamDimensions, BreakdownCounts):
    """The same per user."""

    user_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=(*DIMENSIONS, "kind", "name"), name="breakdown_key")
        ]
        indexes = [models.Index(fields=["user_id", "day"], name="breakdown_user_day")]


class StayLocalCandidate(models.Model):
    """A cloud request that could have stayed local (see review.py for the
    criteria), kept when it is recorded so the weekly review need not scan
    the week's ledger."""

    created_at = models.DateTimeField(db_index=True)
    code = models.UUIDField()
    team_id = models.BigIntegerField()
    model_name = models.CharField(max_length=100)
    level_name = models.CharField(max_length=30, blank=True)
    complexity = models.FloatField()
    prompt_tokens = models.BigIntegerField()
    completion_tokens = models.BigIntegerField()
    cost_micros = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.model_name}"


class LastChatRequest(models.Model):
    """Each user's latest chat request, to recognise the next one as the same
    question asked again (a regenerate resends the same history, so the same
    estimated size) without reading the ledger."""

    user_id = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    code = models.UUIDField()
    team_id = models.BigIntegerField()
    model_name = models.CharField(max_length=100, blank=True)
    level_name = models.CharField(max_length=30, blank=True)
    estimated_tokens = models.BigIntegerField()
    answered_locally = models.BooleanField()

    def __str__(self) -> str:
        return f"user {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class AskedAgain(models.Model):
    """A local chat answer followed by the same question: regenerated, or
    asked again on a cloud model (``then_model``)."""

    created_at = models.DateTimeField(db_index=True)  # of the local answer
    code = models.UUIDField()
    team_id = models.BigIntegerField()
    model_name = models.CharField(max_length=100)
    level_name = models.CharField(max_length=30, blank=True)
    then_model = models.CharField(max_length=100, blank=True)
    then_local = models.BooleanField()

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.model_name} -> {self.then_model}"
