"""Forms for the policy editor. Each turns browser input into a change to
the policy document (a JSON dict); the document's own validation then decides
whether the change is saved (policy_draft_edit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.db.models import QuerySet

from apps.accounts.models import Team
from apps.core.privacy import ZONES, PrivacyZone
from apps.policy.classification import BUILTIN_DETECTORS, DETECTOR_DESCRIPTIONS, DETECTOR_PACKS
from apps.policy.complexity import DEFAULT_WEIGHTS, FEATURE_DESCRIPTIONS
from apps.policy.document import SELECTORS

Doc = dict[str, Any]
WHEN_NO_MODEL = [
    ("local", "route to an on-prem model"),
    ("redact", "redact, then send"),
    ("block", "block with a message"),
]
DAYS = list(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]))


def level_choices(doc: Doc, *, blank: bool = False) -> list[tuple[str, str]]:
    choices = [(str(i), level["name"]) for i, level in enumerate(doc["levels"])]
    return [("", "any"), *choices] if blank else choices


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _named(label: str) -> forms.TextInput:
    return forms.TextInput(attrs={"aria-label": label})


def _optional_int(value: str | int | None) -> int | None:
    return None if value in (None, "") else int(value)


class LevelsForm(forms.Form):
    def __init__(self, *args: Any, doc: Doc, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i, level in enumerate(doc["levels"]):
            # A table row per level: each input names its column and level for
            # screen readers, since no visible <label> fits in the cells.
            self.fields[f"name_{i}"] = forms.CharField(
                initial=level["name"], max_length=30, widget=_named(f"Name of level {i}")
            )
            self.fields[f"zones_{i}"] = forms.MultipleChoiceField(
                choices=[(z.value, z.label) for z in ZONES if z.leaves_the_machine],
                initial=[z for z in level["allowed_zones"] if z != PrivacyZone.ON_PREM],
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )
            self.fields[f"when_{i}"] = forms.ChoiceField(
                choices=WHEN_NO_MODEL,
                initial=level["when_no_model"],
                widget=forms.Select(attrs={"aria-label": f"Level {i}: when no allowed model"}),
            )
            self.fields[f"message_{i}"] = forms.CharField(
                initial=level["block_message"],
                required=False,
                max_length=300,
                widget=_named(f"Level {i}: block message"),
            )
        self.count = len(doc["levels"])

    def rows(self) -> list[list[forms.BoundField]]:
        names = ("name", "zones", "when", "message")
        return [[self[f"{n}_{i}"] for n in names] for i in range(self.count)]

    def apply(self, doc: Doc) -> Doc:
        data = self.cleaned_data
        doc["levels"] = [
            {
                "name": data[f"name_{i}"].strip().lower(),
                "allowed_zones": [PrivacyZone.ON_PREM.value, *data[f"zones_{i}"]],
                "when_no_model": data[f"when_{i}"],
                "block_message": data[f"message_{i}"],
            }
            for i in range(self.count)
        ]
        return doc


PACK_TITLES = {"uk": "United Kingdom", "us": "United States", "eu": "European Union",
               "ca": "Canada"}  # fmt: skip


def _detector_setting(doc: Doc, name: str) -> dict[str, Any]:
    """The document's setting, or the built-in default for a detector that
    this document predates (national packs: off)."""
    default = BUILTIN_DETECTORS[name]
    return doc["detectors"].get(name, {"enabled": default.enabled, "level": default.level})


def pack_enable(doc: Doc, *, pack: str) -> Doc:
    """Switch on every detector of a national pack, keeping their levels."""
    for name in DETECTOR_PACKS[pack]:
        doc["detectors"][name] = {**_detector_setting(doc, name), "enabled": True}
    return doc


class DetectorsForm(forms.Form):
    def __init__(self, *args: Any, doc: Doc, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in BUILTIN_DETECTORS:
            setting = _detector_setting(doc, name)
            self.fields[f"on_{name}"] = forms.BooleanField(
                initial=setting["enabled"],
                required=False,
                label=name,
                widget=forms.CheckboxInput(attrs={"aria-label": f"{name} on"}),
            )
            self.fields[f"level_{name}"] = forms.ChoiceField(
                choices=level_choices(doc),
                initial=str(setting["level"]),
                widget=forms.Select(attrs={"aria-label": f"{name} level"}),
            )

    def rows(self, names: Any = None) -> list[tuple[str, str, forms.BoundField, forms.BoundField]]:
        return [
            (name, DETECTOR_DESCRIPTIONS.get(name, ""), self[f"on_{name}"], self[f"level_{name}"])
            for name in (BUILTIN_DETECTORS if names is None else names)
        ]

    def sections(self) -> list[dict[str, Any]]:
        """The general detectors, then one section per national pack."""
        in_packs = {name for names in DETECTOR_PACKS.values() for name in names}
        general = [name for name in BUILTIN_DETECTORS if name not in in_packs]
        sections: list[dict[str, Any]] = [{"pack": "", "title": "", "rows": self.rows(general)}]
        for pack, names in DETECTOR_PACKS.items():
            title = f"{PACK_TITLES.get(pack, pack.upper())} identifiers"
            sections.append({"pack": pack, "title": title, "rows": self.rows(names)})
        return sections

    def apply(self, doc: Doc) -> Doc:
        data = self.cleaned_data
        doc["detectors"] = {
            name: {"enabled": data[f"on_{name}"], "level": int(data[f"level_{name}"])}
            for name in BUILTIN_DETECTORS
        }
        return doc


class CustomDetectorForm(forms.Form):
    name = forms.SlugField(
        max_length=50,
        help_text="Lowercase letters, digits, - and _ (e.g. project-codenames).",
        error_messages={
            "invalid": "Use lowercase letters, digits, hyphens and underscores only, "
            "e.g. project-codenames."
        },
        widget=forms.TextInput(attrs={"pattern": "[A-Za-z0-9][A-Za-z0-9_-]*"}),
    )
    kind = forms.ChoiceField(choices=[("keywords", "keywords"), ("regex", "regular expressions")])
    patterns = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="One per line.")
    level = forms.ChoiceField(choices=[])
    label = forms.CharField(max_length=30, required=False, help_text="Placeholder label.")

    def __init__(self, *args: Any, doc: Doc, **kwargs: Any) -> None:
        # One form per scope on the page: no ids, each field sits in its <label>.
        kwargs.setdefault("auto_id", False)
        super().__init__(*args, **kwargs)
        self.fields["level"].choices = level_choices(doc)  # type: ignore[attr-defined]
        self.fields["level"].initial = "2"

    def detector(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"].lower(),
            "kind": data["kind"],
            "patterns": [p.strip() for p in data["patterns"].splitlines() if p.strip()],
            "level": int(data["level"]),
            "label": data["label"].strip().upper(),
        }


class WeightsForm(forms.Form):
    def __init__(self, *args: Any, doc: Doc, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in DEFAULT_WEIGHTS:
            self.fields[name] = forms.FloatField(
                min_value=-20,
                max_value=20,
                initial=doc["complexity_weights"].get(name, DEFAULT_WEIGHTS[name]),
                help_text=FEATURE_DESCRIPTIONS[name],
                widget=forms.NumberInput(attrs={"step": "0.1"}),
            )

    def apply(self, doc: Doc) -> Doc:
        doc["complexity_weights"] = {name: self.cleaned_data[name] for name in DEFAULT_WEIGHTS}
        return doc


class TeamFloorForm(forms.Form):
    floor = forms.ChoiceField(choices=[])

    def __init__(self, *args: Any, doc: Doc, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["floor"].choices = level_choices(doc)  # type: ignore[attr-defined]


class RuleForm(forms.Form):
    name = forms.CharField(max_length=80)
    enabled = forms.BooleanField(required=False, initial=True)
    action = forms.ChoiceField(choices=[("route", "route to models"), ("block", "block")])
    models = forms.CharField(
        required=False,
        help_text="In order, comma-separated: model names, @requested, @local, @cloud.",
    )
    message = forms.CharField(required=False, max_length=300, help_text="Shown when blocking.")
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    sources = forms.MultipleChoiceField(
        choices=[("api", "API"), ("chat", "chat")],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    min_level = forms.ChoiceField(choices=[], required=False)
    max_level = forms.ChoiceField(choices=[], required=False)
    min_complexity = forms.FloatField(min_value=0, max_value=1, required=False)
    max_complexity = forms.FloatField(min_value=0, max_value=1, required=False)
    min_tokens = forms.IntegerField(min_value=0, required=False)
    max_tokens = forms.IntegerField(min_value=0, required=False)
    requested_models = forms.CharField(required=False, help_text="Comma-separated.")
    users = forms.CharField(required=False, help_text="User ids, comma-separated.")
    api_keys = forms.CharField(required=False, help_text="API key ids, comma-separated.")
    days = forms.MultipleChoiceField(
        choices=DAYS, required=False, widget=forms.CheckboxSelectMultiple
    )
    start_hour = forms.IntegerField(min_value=0, max_value=23, required=False)
    end_hour = forms.IntegerField(min_value=1, max_value=24, required=False)
    min_budget_used = forms.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        label="Budget used at least",
        help_text="0-1: the tightest downgrade budget is this used (0.8 = 80%).",
    )

    def __init__(
        self, *args: Any, doc: Doc, known_models: Iterable[str] = (), **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "rule_%s")  # unique on the policy page
        super().__init__(*args, **kwargs)
        self.known_models = set(known_models)
        for field in ("min_level", "max_level"):
            self.fields[field].choices = level_choices(doc, blank=True)  # type: ignore[attr-defined]

    def clean_models(self) -> str:
        """Refuse an unknown model when the rule is saved, not at Publish."""
        value: str = self.cleaned_data["models"]
        if self.known_models:
            unknown = [m for m in _csv(value) if m not in SELECTORS and m not in self.known_models]
            if unknown:
                known = ", ".join(sorted(self.known_models))
                raise forms.ValidationError(
                    f"No model named {', '.join(unknown)}. Known models: {known}; "
                    "or @requested, @local, @cloud."
                )
        return value

    @classmethod
    def initial_from(cls, rule: dict[str, Any]) -> dict[str, Any]:
        when = rule.get("when", {})
        return {
            "name": rule["name"],
            "enabled": rule["enabled"],
            "action": rule["action"],
            "models": ", ".join(rule["models"]),
            "message": rule["message"],
            **{k: v for k, v in when.items() if v not in (None, [], ())},
            "requested_models": ", ".join(when.get("requested_models", ())),
            "users": ", ".join(map(str, when.get("users", ()))),
            "api_keys": ", ".join(map(str, when.get("api_keys", ()))),
            "teams": list(when.get("teams", ())),
        }

    def clean_users(self) -> list[int]:
        return self._ids("users")

    def clean_api_keys(self) -> list[int]:
        return self._ids("api_keys")

    def _ids(self, field: str) -> list[int]:
        try:
            return [int(v) for v in _csv(self.cleaned_data[field])]
        except ValueError:
            raise forms.ValidationError("Use numbers separated by commas.") from None

    def rule(self, rule_id: str | None) -> dict[str, Any]:
        data = self.cleaned_data
        when = {
            "teams": [t.pk for t in data["teams"]],
            "users": data["users"],
            "api_keys": data["api_keys"],
            "sources": data["sources"],
            "min_level": _optional_int(data["min_level"]),
            "max_level": _optional_int(data["max_level"]),
            "min_complexity": data["min_complexity"],
            "max_complexity": data["max_complexity"],
            "min_tokens": data["min_tokens"],
            "max_tokens": data["max_tokens"],
            "requested_models": _csv(data["requested_models"]),
            "days": [int(d) for d in data["days"]],
            "start_hour": data["start_hour"],
            "end_hour": data["end_hour"],
            "min_budget_used": data["min_budget_used"],
        }
        rule = {
            "name": data["name"],
            "enabled": data["enabled"],
            "action": data["action"],
            "models": _csv(data["models"]) if data["action"] == "route" else [],
            "message": data["message"],
            "when": when,
        }
        if rule_id:
            rule["id"] = rule_id
        return rule


class SimulateForm(forms.Form):
    conversation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=200_000,
        help_text="One message, or several separated by a line with three dashes (---).",
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    user_id = forms.IntegerField(required=False, label="User id")
    api_key_id = forms.IntegerField(required=False, label="API key id")
    source = forms.ChoiceField(choices=[("api", "API"), ("chat", "chat")])
    model = forms.CharField(initial="auto", max_length=100, label="Requested model")
    sensitivity = forms.ChoiceField(choices=[], required=False, label="Raised to")
    max_tokens = forms.IntegerField(min_value=1, required=False, initial=256)
    budget_used = forms.FloatField(
        min_value=0, max_value=2, required=False, label="Budget used (0-1)",
        help_text="How used up the tightest downgrade budget is (1 = used up).",
    )  # fmt: skip
    against = forms.ChoiceField(choices=[("published", "published"), ("draft", "draft")])

    def __init__(
        self, *args: Any, doc: Doc, teams: QuerySet[Team] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sensitivity"].choices = level_choices(doc, blank=True)  # type: ignore[attr-defined]
        if teams is not None:  # only the teams the user may see
            self.fields["team"].queryset = teams  # type: ignore[attr-defined]

    def messages(self) -> list[str]:
        parts = [p.strip() for p in self.cleaned_data["conversation"].split("\n---\n")]
        return [p for p in parts if p]
