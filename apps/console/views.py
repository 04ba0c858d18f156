"""The policy console: edit the draft, publish, roll back, simulate, replay.

Views stay thin: parse a form, call one policy service, render the page or,
for htmx requests, the section that changed (plus the draft bar, out of band).
Org admins (staff) see and edit everything; team admins see and edit their
teams' floors and custom detectors; only org admins publish.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial, wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Membership, Team
from apps.gateway.replay import policy_replay
from apps.policy import change_requests as requests
from apps.policy import edits
from apps.policy.classification import DETECTOR_DESCRIPTIONS, DETECTOR_PACKS
from apps.policy.complexity import FEATURE_DESCRIPTIONS
from apps.policy.detectors import ner
from apps.policy.document import SELECTORS, CustomDetectorPolicy, PolicyDocument, RulePolicy
from apps.policy.models import PolicyAuditEntry, PolicyChangeRequest, PolicyVersion
from apps.policy.services import (
    document_json,
    document_parse,
    policy_compiled,
    policy_draft_discard,
    policy_draft_edit,
    policy_publish,
    policy_published_get,
    policy_rollback,
    policy_working_get,
)
from apps.policy.simulation import policy_simulate
from apps.providers.catalog import catalog_load

from . import forms
from .display import conditions_text, highlighted

View = Callable[..., HttpResponse]


def _admin_team_ids(request: HttpRequest) -> set[int]:
    if request.user.is_staff:
        return set(Team.objects.values_list("pk", flat=True))
    user = cast(User, request.user)  # console_access runs after login_required
    memberships = Membership.objects.filter(user=user, role=Membership.Role.ADMIN)
    return set(memberships.values_list("team_id", flat=True))


def console_access(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.team_ids = _admin_team_ids(request)  # type: ignore[attr-defined]
        if not request.user.is_staff and not request.team_ids:  # type: ignore[attr-defined]
            raise PermissionDenied("The policy console is for org and team admins.")
        return view(request, *args, **kwargs)

    return wrapped


def _org_admin_only(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only org admins can change this.")


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    version, document = policy_working_get()
    doc = document.model_dump(mode="json")
    team_ids = request.team_ids  # type: ignore[attr-defined]
    teams = Team.objects.filter(pk__in=team_ids).order_by("name")
    level_names = [level["name"] for level in doc["levels"]]
    shadowed = edits.rules_shadowed(document)
    context: dict[str, Any] = {
        "version": version,
        "published": policy_published_get(),
        "doc": doc,
        "org_admin": request.user.is_staff,
        "level_names": level_names,
        "team_settings": [
            (t, {**_team_settings(doc, t.pk, level_names), "requests": _requests_of(t)})
            for t in teams
        ],
        "org_detectors": _named_levels(doc["custom_detectors"], level_names),
        "team_names": {t.pk: t.name for t in teams},
        "rules": [
            {
                **rule,
                "conditions": conditions_text(rule["when"], level_names),
                "shadowed_by": shadowed.get(rule["id"], ""),
            }
            for rule in doc["rules"]
        ],
        "detector_descriptions": DETECTOR_DESCRIPTIONS,
        # Whether names and streets in running text are found (the NER
        # model), or only after cue words: a deployment setting, shown where
        # the person and address detectors are switched.
        "ner_model": ner.active(),
        "feature_descriptions": FEATURE_DESCRIPTIONS,
        "selectors": SELECTORS,
        "models": sorted(catalog_load().models),
    }
    context["open_requests"] = requests.change_requests_open() if request.user.is_staff else []
    context["blank_custom_form"] = forms.CustomDetectorForm(doc=doc)
    if request.user.is_staff:
        context.setdefault("levels_form", forms.LevelsForm(doc=doc))
        context.setdefault("detectors_form", forms.DetectorsForm(doc=doc))
        context.setdefault("weights_form", forms.WeightsForm(doc=doc))
        context.setdefault("rule_form", forms.RuleForm(doc=doc))
    context.update(extra)
    return context


def _requests_of(team: Team) -> list[PolicyChangeRequest]:
    """The team's latest change requests, for its admins to follow."""
    return list(requests.change_requests_of(team_ids={team.pk})[:3])


def _named_levels(detectors: list[dict], level_names: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [{**d, "level_name": level_names[d["level"]]} for d in detectors]


def _team_settings(doc: dict, team_id: int, level_names: list[str]) -> dict:  # type: ignore[type-arg]
    settings = doc["teams"].get(str(team_id), {"floor": 0, "detectors": []})
    return {
        "floor": settings["floor"],
        "detectors": _named_levels(settings["detectors"], level_names),
    }


def _section(request: HttpRequest, template: str, **extra: Any) -> HttpResponse:
    """The changed section (htmx) or the whole page (plain form post)."""
    context = _context(request, **extra)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "console/policy_section.html", {**context, "section": template})
    return render(request, "console/policy.html", context)


Edit = Callable[[PolicyDocument], PolicyDocument]


def _typed(edit: Edit) -> Callable[[dict], dict]:  # type: ignore[type-arg]
    """A pure edit of apps/policy/edits.py as the draft's JSON change."""

    def change(data: dict) -> dict:  # type: ignore[type-arg]
        try:
            return document_json(edit(document_parse(data)))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    return change


def _edit(
    request: HttpRequest, summary: str, edit: Edit, template: str, **on_error: Any
) -> HttpResponse:
    """Save ``edit`` to the draft; if it is refused, show why and keep the
    form as it was typed (``on_error``)."""
    try:
        policy_draft_edit(actor=request.user, summary=summary, change=_typed(edit))  # type: ignore[arg-type]
    except ValidationError as exc:
        return _section(request, template, errors=exc.messages, **on_error)
    return _section(request, template, saved=summary)


def _dict_edit(change: Callable[[dict], dict]) -> Edit:  # type: ignore[type-arg]
    """The whole-section forms still change the JSON; typed in and out."""
    return lambda doc: document_parse(change(document_json(doc)))


@require_GET
@console_access
def policy_page(request: HttpRequest) -> HttpResponse:
    return render(request, "console/policy.html", _context(request))


# Whole-section forms: (form class, its context name, section template, audit summary).
SECTION_FORMS = {
    "levels": (forms.LevelsForm, "levels_form", "console/_levels.html", "Changed levels"),
    "detectors": (
        forms.DetectorsForm,
        "detectors_form",
        "console/_detectors.html",
        "Changed built-in detectors",
    ),
    "weights": (
        forms.WeightsForm,
        "weights_form",
        "console/_weights.html",
        "Changed complexity weights",
    ),
}


@require_POST
@console_access
def section_save(request: HttpRequest, section: str) -> HttpResponse:
    _org_admin_only(request)
    form_class, name, template, summary = SECTION_FORMS[section]
    form = form_class(request.POST, doc=policy_working_get()[1].model_dump(mode="json"))
    if not form.is_valid():
        return _section(request, template, **{name: form})
    return _edit(request, summary, _dict_edit(form.apply), template, **{name: form})  # type: ignore[attr-defined]


# A team id as written in URLs and the policy document: ASCII digits, no
# leading zero ("²" and "٣" are digits to str.isdigit, "007" would be a
# second key for team 7).
_TEAM_ID = re.compile(r"[1-9][0-9]{0,17}")


@require_POST
@console_access
def detector_pack_enable(request: HttpRequest, pack: str) -> HttpResponse:
    _org_admin_only(request)
    if pack not in DETECTOR_PACKS:
        raise Http404("No such detector pack.")
    summary = f"Enabled the {pack.upper()} identifier pack"
    change = _dict_edit(partial(forms.pack_enable, pack=pack))
    return _edit(request, summary, change, "console/_detectors.html")


def _scope_allowed(request: HttpRequest, scope: str) -> None:
    """``scope`` is "org" (org admins) or the id of a team the user administers."""
    if scope == "org":
        _org_admin_only(request)
        return
    if not _TEAM_ID.fullmatch(scope) or not Team.objects.filter(pk=int(scope)).exists():
        raise Http404("No such team.")
    if int(scope) not in request.team_ids:  # type: ignore[attr-defined]
        raise PermissionDenied("Not one of your teams.")


@require_POST
@console_access
def custom_detector_add(request: HttpRequest, scope: str) -> HttpResponse:
    _scope_allowed(request, scope)
    template = "console/_custom.html" if scope == "org" else "console/_teams.html"
    doc = policy_working_get()[1].model_dump(mode="json")
    form = forms.CustomDetectorForm(request.POST, doc=doc)
    if not form.is_valid():
        return _section(request, template, custom_form=form, form_scope=scope)
    kept = {"custom_form": form, "form_scope": scope}
    try:
        detector = edits.parsed(CustomDetectorPolicy, form.detector())
    except ValueError as exc:
        return _section(request, template, errors=[str(exc)], **kept)
    where = "organisation" if scope == "org" else f"team {scope}"
    summary = f"Custom detector {detector.name} for {where}"
    change = partial(edits.detector_put, scope=scope, detector=detector)
    return _edit(request, summary, change, template, **kept)


@require_POST
@console_access
def custom_detector_delete(request: HttpRequest, scope: str, name: str) -> HttpResponse:
    _scope_allowed(request, scope)
    template = "console/_custom.html" if scope == "org" else "console/_teams.html"
    change = partial(edits.detector_remove, scope=scope, name=name)
    return _edit(request, f"Removed custom detector {name}", change, template)


@require_POST
@console_access
def team_floor_save(request: HttpRequest, team_id: int) -> HttpResponse:
    _scope_allowed(request, str(team_id))
    doc = policy_working_get()[1].model_dump(mode="json")
    form = forms.TeamFloorForm(request.POST, doc=doc)
    if not form.is_valid():
        return _section(request, "console/_teams.html")
    floor = int(form.cleaned_data["floor"])
    team = Team.objects.get(pk=team_id)
    summary = f"Team {team.name}: floor {doc['levels'][floor]['name']}"
    change = partial(edits.team_floor_set, team_id=str(team_id), floor=floor)
    return _edit(request, summary, change, "console/_teams.html")


@require_POST
@console_access
def rule_save(request: HttpRequest, rule_id: str = "") -> HttpResponse:
    _org_admin_only(request)
    doc = policy_working_get()[1].model_dump(mode="json")
    form = forms.RuleForm(request.POST, doc=doc, known_models=catalog_load().models)
    kept = {"rule_form": form, "editing": rule_id}
    if not form.is_valid():
        return _section(request, "console/_rules.html", **kept)
    try:
        rule = edits.parsed(RulePolicy, form.rule(rule_id or None))
    except ValueError as exc:
        return _section(request, "console/_rules.html", errors=[str(exc)], **kept)
    verb = "Edited" if rule_id else "Added"
    change: Edit = (
        partial(edits.rule_replace, rule_id=rule_id, rule=rule)
        if rule_id
        else partial(edits.rule_add, rule=rule)
    )
    return _edit(request, f"{verb} rule {rule.name!r}", change, "console/_rules.html", **kept)


@require_GET
@console_access
def rule_edit_form(request: HttpRequest, rule_id: str) -> HttpResponse:
    _org_admin_only(request)
    doc = policy_working_get()[1].model_dump(mode="json")
    rule = next((r for r in doc["rules"] if r["id"] == rule_id), None)
    if rule is None:
        return _section(request, "console/_rules.html", errors=["That rule no longer exists."])
    form = forms.RuleForm(initial=forms.RuleForm.initial_from(rule), doc=doc)
    return _section(request, "console/_rules.html", rule_form=form, editing=rule_id)


RULE_ACTIONS = {"toggle": "Switched", "delete": "Deleted", "up": "Moved up", "down": "Moved down"}
RULE_EDITS: dict[str, Callable[..., Edit]] = {
    "toggle": lambda rule_id: partial(edits.rule_toggle, rule_id=rule_id),
    "delete": lambda rule_id: partial(edits.rule_delete, rule_id=rule_id),
    "up": lambda rule_id: partial(edits.rule_move, rule_id=rule_id, up=True),
    "down": lambda rule_id: partial(edits.rule_move, rule_id=rule_id, up=False),
}


@require_POST
@console_access
def rule_action(request: HttpRequest, rule_id: str, action: str) -> HttpResponse:
    _org_admin_only(request)
    if action not in RULE_ACTIONS:
        raise Http404("No such rule action.")
    rules = policy_working_get()[1].rules
    name = next((r.name for r in rules if r.id == rule_id), rule_id)

    change = RULE_EDITS[action](rule_id=rule_id)
    return _edit(request, f"{RULE_ACTIONS[action]} rule {name!r}", change, "console/_rules.html")


@require_POST
@console_access
def publish(request: HttpRequest) -> HttpResponse:
    _org_admin_only(request)
    note = request.POST.get("note", "")
    try:
        version = policy_publish(actor=request.user, note=note)  # type: ignore[arg-type]
    except ValidationError as exc:
        context = _context(request, errors=exc.messages, note=note)
        return render(request, "console/policy.html", context, status=400)
    requests.change_requests_published(actor=request.user, draft_number=version.number)  # type: ignore[arg-type]
    # POST/redirect/GET: reloading the page must not publish again.
    messages.success(request, f"Published v{version.number}.")
    return redirect("console:policy")


@require_POST
@console_access
def discard(request: HttpRequest) -> HttpResponse:
    _org_admin_only(request)
    version, _ = policy_working_get()
    if version.status == PolicyVersion.Status.DRAFT:
        actor = cast(User, request.user)
        requests.change_requests_discarded(actor=actor, draft_number=version.number)
    policy_draft_discard(actor=request.user)  # type: ignore[arg-type]
    messages.success(request, "Discarded the draft.")
    return redirect("console:policy")


@require_POST
@console_access
def change_request_open(request: HttpRequest, team_id: int) -> HttpResponse:
    """A team admin asks the org admins to publish the team's edits."""
    _scope_allowed(request, str(team_id))
    team = Team.objects.get(pk=team_id)
    actor = cast(User, request.user)
    try:
        requests.change_request_open(actor=actor, team=team, note=request.POST.get("note", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Asked the org admins to publish {team.name}'s changes.")
    return redirect("console:policy")


@require_POST
@console_access
def change_request_decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """An org admin publishes the draft a request is about, or rejects it."""
    _org_admin_only(request)
    found = PolicyChangeRequest.objects.select_related("team").filter(pk=pk).first()
    if found is None or action not in ("publish", "reject"):
        raise Http404("No such change request.")
    actor = cast(User, request.user)
    try:
        if action == "publish":
            version = requests.change_request_publish(actor=actor, request=found)
            messages.success(request, f"Published v{version.number}.")
        else:
            requests.change_request_reject(
                actor=actor, request=found, reply=request.POST.get("reply", "")
            )
            messages.success(request, f"Rejected {found.team.name}'s request.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("console:policy")


@require_GET
@console_access
def versions(request: HttpRequest) -> HttpResponse:
    """Versions and the audit log. Org admins see whole diffs; team admins see
    only the entries that changed their teams, and only those teams' part."""
    entries = PolicyAuditEntry.objects.select_related("actor")
    if request.user.is_staff:
        shown = [(entry, entry.diff) for entry in entries[:200]]
    else:
        keys = [str(pk) for pk in request.team_ids]  # type: ignore[attr-defined]
        mine = entries.filter(team_diffs__has_any_keys=keys)[:200]
        shown = [(entry, _team_part(entry, keys)) for entry in mine]
    return render(
        request,
        "console/versions.html",
        {
            "versions": PolicyVersion.objects.select_related("published_by", "created_by"),
            "entries": shown,
            "org_admin": request.user.is_staff,
        },
    )


def _team_part(entry: PolicyAuditEntry, keys: list[str]) -> str:
    return "\n".join(entry.team_diffs[key] for key in keys if key in entry.team_diffs)


@require_POST
@console_access
def rollback(request: HttpRequest, number: int) -> HttpResponse:
    _org_admin_only(request)
    try:
        policy_rollback(actor=request.user, number=number)  # type: ignore[arg-type]
    except ValidationError as exc:
        return render(request, "console/policy.html", _context(request, errors=exc.messages))
    messages.success(request, f"Rolled back to v{number}.")
    return redirect("console:policy")


@console_access
def simulate(request: HttpRequest) -> HttpResponse:
    doc = policy_working_get()[1].model_dump(mode="json")
    teams = Team.objects.filter(pk__in=request.team_ids)  # type: ignore[attr-defined]
    against = "draft" if request.GET.get("against") == "draft" else "published"
    form = forms.SimulateForm(
        request.POST or None, doc=doc, teams=teams, initial={"against": against}
    )
    result = None
    if request.method == "POST" and form.is_valid():
        result = _simulation(request, form)
    template = "console/_simulation.html" if request.htmx else "console/simulate.html"  # type: ignore[attr-defined]
    return render(request, template, {"form": form, "result": result})


def _simulation(request: HttpRequest, form: forms.SimulateForm) -> dict[str, Any]:
    data = form.cleaned_data
    team = data["team"]
    if team is not None and team.pk not in request.team_ids:  # type: ignore[attr-defined]
        raise PermissionDenied("Not one of your teams.")
    texts = form.messages()
    result = policy_simulate(
        texts=texts,
        against=data["against"],
        team_id=team.pk if team else None,
        user_id=data["user_id"],
        api_key_id=data["api_key_id"],
        source=data["source"],
        requested_model=data["model"].strip() or "auto",
        max_tokens=data["max_tokens"],
        raised_level=int(data["sensitivity"] or 0),
        budget_used=data["budget_used"] or 0.0,
    )
    decision = result.decision
    return {
        "decision": decision,
        "against": result.against,
        "messages": [
            highlighted(text, decision.findings, index) for index, text in enumerate(texts)
        ],
        "features": [
            (name, value, decision.signals.complexity.contributions.get(name, 0))
            for name, value in decision.signals.complexity.features.items()
        ],
        "cost_dollars": result.cost_micros / 1_000_000,
        "estimated_tokens": result.estimated_tokens,
        "warnings": result.warnings,
    }


@require_GET
@console_access
def replay(request: HttpRequest) -> HttpResponse:
    _org_admin_only(request)
    try:
        days = min(90, max(1, int(request.GET.get("days", "7"))))
    except ValueError:
        days = 7
    version, _ = policy_working_get()
    report = policy_replay(policy=policy_compiled(version), catalog=catalog_load(), days=days)
    return render(request, "console/replay.html", {"report": report, "version": version})
