"""The routing and data-classification policy, as one validated document.

A policy version stores this document as JSON. Editing, publishing and
rolling back are done on whole documents (services.py); deciding a request
reads a published one (engine.py). Everything here is plain data.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apps.core.privacy import ZONES, PrivacyZone

from .classification import BUILTIN_DETECTORS, LEVELS, custom_pattern_problem
from .complexity import LEGACY_WEIGHTS, WEIGHT_NAMES
from .difficulty import shipped

Zone = PrivacyZone
# Model selectors a rule may list besides model names.
REQUESTED, LOCAL, CLOUD = "@requested", "@local", "@cloud"
# The cheapest models whose capability tier covers the estimated need.
CAPABLE = "@capable"
SELECTORS = (REQUESTED, LOCAL, CLOUD, CAPABLE)
Level = int  # index into the policy's levels: 0 public … 3 restricted


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelPolicy(Strict):
    name: str = Field(min_length=1, max_length=30, pattern=r"^[a-z][a-z0-9_-]*$")
    allowed_zones: tuple[Zone, ...] = (PrivacyZone.ON_PREM,)
    when_no_model: Literal["local", "redact", "block"] = "local"
    block_message: str = Field(default="", max_length=300)

    def allows(self, zone: str) -> bool:
        return zone == PrivacyZone.ON_PREM or zone in self.allowed_zones


class DetectorPolicy(Strict):
    enabled: bool = True
    level: Level = Field(ge=0, le=3)


class CustomDetectorPolicy(Strict):
    name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["keywords", "regex"]
    patterns: tuple[str, ...] = Field(min_length=1, max_length=500)
    level: Level = Field(ge=0, le=3)
    label: str = Field(default="", max_length=30)

    @model_validator(mode="after")
    def patterns_are_safe(self) -> CustomDetectorPolicy:
        for pattern in self.patterns:
            problem = custom_pattern_problem(self.kind, pattern)
            if problem:
                raise ValueError(f"{self.name}: {pattern!r}: {problem}")
        return self


def _weights_valid(weights: dict[str, float]) -> dict[str, float]:
    unknown = set(weights) - WEIGHT_NAMES - set(LEGACY_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown complexity features: {', '.join(sorted(unknown))}")
    if any(not -20 <= w <= 20 for w in weights.values()):
        raise ValueError("complexity weights are between -20 and 20")
    return weights


class TeamPolicy(Strict):
    floor: Level = Field(default=0, ge=0, le=3)
    detectors: tuple[CustomDetectorPolicy, ...] = ()
    # The team's refit of the difficulty weights (learning job), over the policy's.
    complexity_weights: dict[str, float] = {}

    @field_validator("complexity_weights")
    @classmethod
    def known_features(cls, weights: dict[str, float]) -> dict[str, float]:
        return _weights_valid(weights)


_NO_TEAM_POLICY = TeamPolicy()  # frozen: one for every team without its own


class Conditions(Strict):
    """All given conditions must hold; an empty list or None means 'any'."""

    teams: tuple[int, ...] = ()
    users: tuple[int, ...] = ()
    api_keys: tuple[int, ...] = ()
    sources: tuple[Literal["api", "chat"], ...] = ()
    min_level: Level | None = Field(default=None, ge=0, le=3)
    max_level: Level | None = Field(default=None, ge=0, le=3)
    min_complexity: float | None = Field(default=None, ge=0, le=1)
    max_complexity: float | None = Field(default=None, ge=0, le=1)
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    requested_models: tuple[str, ...] = ()
    days: tuple[int, ...] = Field(default=(), description="0 Monday … 6 Sunday")
    start_hour: int | None = Field(default=None, ge=0, le=23)
    end_hour: int | None = Field(default=None, ge=1, le=24)
    min_budget_used: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="the tightest downgrade budget the request falls under is at least this used",
    )

    @field_validator("days")
    @classmethod
    def valid_days(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(d not in range(7) for d in days):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return days

    @model_validator(mode="after")
    def ranges_are_ordered(self) -> Conditions:
        for low, high in (
            (self.min_level, self.max_level),
            (self.min_complexity, self.max_complexity),
            (self.min_tokens, self.max_tokens),
        ):
            if low is not None and high is not None and low > high:
                raise ValueError("a minimum is above its maximum")
        if (self.start_hour is None) != (self.end_hour is None):
            raise ValueError("give both start_hour and end_hour, or neither")
        return self

    def is_empty(self) -> bool:
        return self == Conditions()


def _rule_id() -> str:
    return uuid.uuid4().hex[:8]


class RulePolicy(Strict):
    id: str = Field(default_factory=_rule_id, pattern=r"^[a-z0-9_-]{1,16}$")
    name: str = Field(min_length=1, max_length=80)
    enabled: bool = True
    when: Conditions = Conditions()
    action: Literal["route", "block"] = "route"
    models: tuple[str, ...] = ()
    message: str = Field(default="", max_length=300)

    @model_validator(mode="after")
    def action_is_complete(self) -> RulePolicy:
        if self.action == "route" and not self.models:
            raise ValueError(f"rule {self.name!r}: a routing rule needs at least one model")
        if self.action == "block" and not self.message:
            raise ValueError(f"rule {self.name!r}: a blocking rule needs a message")
        return self


class PolicyDocument(Strict):
    levels: tuple[LevelPolicy, LevelPolicy, LevelPolicy, LevelPolicy]
    detectors: dict[str, DetectorPolicy]
    custom_detectors: tuple[CustomDetectorPolicy, ...] = ()
    teams: dict[str, TeamPolicy] = {}
    complexity_weights: dict[str, float]
    rules: tuple[RulePolicy, ...] = Field(min_length=1)

    @field_validator("detectors")
    @classmethod
    def known_detectors(cls, detectors: dict[str, DetectorPolicy]) -> dict[str, DetectorPolicy]:
        unknown = set(detectors) - set(BUILTIN_DETECTORS)
        if unknown:
            raise ValueError(f"unknown detectors: {', '.join(sorted(unknown))}")
        return detectors

    @field_validator("complexity_weights")
    @classmethod
    def known_features(cls, weights: dict[str, float]) -> dict[str, float]:
        return _weights_valid(weights)

    @model_validator(mode="after")
    def coherent(self) -> PolicyDocument:
        names = [level.name for level in self.levels]
        if len(set(names)) != len(names):
            raise ValueError("level names must differ")
        for lower, higher in zip(self.levels, self.levels[1:], strict=False):
            if not set(higher.allowed_zones) <= set(lower.allowed_zones) | {PrivacyZone.ON_PREM}:
                raise ValueError(
                    f"level {higher.name!r} may not allow a zone that {lower.name!r} does not"
                )
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique")
        default = self.rules[-1]
        if not (default.enabled and default.when.is_empty() and default.action == "route"):
            raise ValueError(
                "the last rule is the default: enabled, without conditions, routing to models"
            )
        return self

    def level_name(self, level: int) -> str:
        return self.levels[level].name

    def team(self, team_id: int | None) -> TeamPolicy:
        return (
            self.teams.get(str(team_id), _NO_TEAM_POLICY)
            if team_id is not None
            else _NO_TEAM_POLICY
        )


def default_document() -> PolicyDocument:
    """Local-first: sensitive and simple work on-prem, complex work to the cloud.

    'Never send a 50-cent query to do a 2-cent job': the cloud gets what is
    both allowed to leave and hard enough to need it.
    """
    return PolicyDocument(
        levels=(
            LevelPolicy(name=LEVELS[0], allowed_zones=ZONES),
            LevelPolicy(
                name=LEVELS[1],
                allowed_zones=(PrivacyZone.ON_PREM, PrivacyZone.VENDOR_ZERO_RETENTION),
            ),
            LevelPolicy(name=LEVELS[2], allowed_zones=(PrivacyZone.ON_PREM,)),
            LevelPolicy(name=LEVELS[3], allowed_zones=(PrivacyZone.ON_PREM,)),
        ),
        detectors={
            name: DetectorPolicy(enabled=s.enabled, level=s.level)
            for name, s in BUILTIN_DETECTORS.items()
        },
        complexity_weights={},  # the shipped estimator's (apps/policy/data/difficulty.json)
        rules=(
            RulePolicy(
                id="sensitive",
                name="Sensitive data stays on-prem",
                when=Conditions(min_level=2),
                models=(LOCAL,),
            ),
            RulePolicy(
                id="complex",
                name="Hard requests go to a model capable of them",
                when=Conditions(min_complexity=round(shipped().threshold, 2)),
                models=(REQUESTED, CAPABLE, LOCAL),
            ),
            RulePolicy(
                id="default", name="Everything else runs locally", models=(REQUESTED, LOCAL, CLOUD)
            ),
        ),
    )
