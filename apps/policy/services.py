"""Policy lifecycle: draft → validate → publish, rollback, audit; and the
published snapshot the gateway decides with.

Every write is one transaction that also writes its audit entry.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from pydantic import ValidationError as SchemaError

from apps.core.shared import SharedVersion
from apps.providers.catalog import Catalog, catalog_load

from .document import SELECTORS, PolicyDocument, default_document
from .edits import error_text
from .engine import CompiledPolicy
from .models import PolicyAuditEntry, PolicyVersion

Status = PolicyVersion.Status


def document_parse(data: object) -> PolicyDocument:
    """A validated document, or ValidationError with readable messages."""
    try:
        return PolicyDocument.model_validate(data)
    except SchemaError as exc:
        raise ValidationError([_readable(e) for e in exc.errors()]) from exc


def _readable(error: Any) -> str:
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return error_text(error.get("loc", ()), message)


def document_json(document: PolicyDocument) -> dict:  # type: ignore[type-arg]
    return document.model_dump(mode="json")


def document_problems(document: PolicyDocument, catalog: Catalog) -> list[str]:
    """What stops a document from being published against this catalogue."""
    problems = []
    for rule in document.rules:
        for entry in rule.models:
            if entry not in SELECTORS and catalog.get(entry) is None:
                problems.append(f"rule {rule.name!r}: no enabled model named {entry!r}")
    return problems


def _diff(before: dict | None, after: dict) -> str:  # type: ignore[type-arg]
    def lines(doc: dict | None) -> list[str]:  # type: ignore[type-arg]
        return json.dumps(doc or {}, indent=2, sort_keys=True).splitlines()

    return "\n".join(
        difflib.unified_diff(lines(before), lines(after), "before", "after", lineterm="", n=2)
    )


def _team_diffs(before: dict | None, after: dict | None) -> dict[str, str]:  # type: ignore[type-arg]
    """The diff of each team section that changed, by team id."""
    old, new = (before or {}).get("teams", {}), (after or {}).get("teams", {})
    return {
        team: _diff(old.get(team), new.get(team) or {})
        for team in sorted({*old, *new})
        if old.get(team) != new.get(team)
    }


def _audit(
    actor: User | None,
    action: str,
    version: PolicyVersion,
    summary: str,
    before: dict | None = None,  # type: ignore[type-arg]
    after: dict | None = None,  # type: ignore[type-arg]
) -> None:
    PolicyAuditEntry.objects.create(
        actor=actor,
        action=action,
        version_number=version.number,
        summary=summary[:300],
        diff=_diff(before, after) if after is not None else "",
        team_diffs=_team_diffs(before, after) if after is not None else {},
    )


def _next_number() -> int:
    return (PolicyVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1


def policy_published_get() -> PolicyVersion:
    published = PolicyVersion.objects.filter(status=Status.PUBLISHED).first()
    if published is not None:
        return published
    try:  # a fresh install: start from the shipped policy
        with transaction.atomic():
            return PolicyVersion.objects.create(
                number=_next_number(),
                status=Status.PUBLISHED,
                document=document_json(default_document()),
                note="Shipped local-first policy",
                published_at=timezone.now(),
            )
    except IntegrityError:  # another request created it first
        return PolicyVersion.objects.get(status=Status.PUBLISHED)


def policy_draft_get(*, actor: User) -> PolicyVersion:
    """The draft, started from the published version if there is none."""
    with transaction.atomic():
        draft = PolicyVersion.objects.select_for_update().filter(status=Status.DRAFT).first()
        if draft is None:
            published = policy_published_get()
            draft = PolicyVersion.objects.create(
                number=_next_number(),
                status=Status.DRAFT,
                document=published.document,
                created_by=actor,
                note=f"Draft from v{published.number}",
            )
    return draft


def policy_draft_edit(
    *,
    actor: User,
    summary: str,
    change: Callable[[dict], dict],  # type: ignore[type-arg]
) -> PolicyVersion:
    """Apply ``change`` to the draft's document; saved only if the result is valid."""
    with transaction.atomic():
        draft = policy_draft_get(actor=actor)
        draft = PolicyVersion.objects.select_for_update().get(pk=draft.pk)
        before = draft.document
        after = document_json(document_parse(change(json.loads(json.dumps(before)))))
        if after == before:
            return draft
        draft.document = after
        draft.save(update_fields=["document"])
        _audit(actor, PolicyAuditEntry.Action.EDIT, draft, summary, before, after)
    return draft


def policy_draft_discard(*, actor: User) -> None:
    with transaction.atomic():
        draft = PolicyVersion.objects.select_for_update().filter(status=Status.DRAFT).first()
        if draft is not None:
            _audit(actor, PolicyAuditEntry.Action.DISCARD, draft, "Discarded the draft")
            draft.delete()


def policy_publish(*, actor: User, note: str = "") -> PolicyVersion:
    """Make the draft the live policy, atomically; the old one is kept, retired."""
    with transaction.atomic():
        draft = PolicyVersion.objects.select_for_update().filter(status=Status.DRAFT).first()
        if draft is None:
            raise ValidationError("There is no draft to publish.")
        problems = document_problems(document_parse(draft.document), catalog_load())
        if problems:
            raise ValidationError(problems)
        current = policy_published_get()
        before = current.document
        PolicyVersion.objects.filter(pk=current.pk).update(status=Status.RETIRED)
        draft.status, draft.published_at, draft.published_by = (
            Status.PUBLISHED,
            timezone.now(),
            actor,
        )
        draft.note = note or draft.note
        draft.save(update_fields=["status", "published_at", "published_by", "note"])
        summary = f"Published v{draft.number}"
        _audit(actor, PolicyAuditEntry.Action.PUBLISH, draft, summary, before, draft.document)
        transaction.on_commit(policy_invalidate)  # this process sees it at once
    return draft


def policy_rollback(*, actor: User, number: int) -> PolicyVersion:
    """Publish a copy of an earlier version as a new version (history stays linear)."""
    with transaction.atomic():
        old = PolicyVersion.objects.filter(number=number).exclude(status=Status.DRAFT).first()
        if old is None:
            raise ValidationError(f"There is no published version {number}.")
        current = policy_published_get()
        if old.pk == current.pk:
            raise ValidationError(f"Version {number} is already live.")
        document = document_json(document_parse(old.document))
        PolicyVersion.objects.filter(pk=current.pk).update(status=Status.RETIRED)
        restored = PolicyVersion.objects.create(
            number=_next_number(),
            status=Status.PUBLISHED,
            document=document,
            note=f"Rollback to v{number}",
            created_by=actor,
            published_by=actor,
            published_at=timezone.now(),
        )
        _audit(
            actor,
            PolicyAuditEntry.Action.ROLLBACK,
            restored,
            f"Rolled back to v{number} (as v{restored.number})",
            current.document,
            document,
        )
        transaction.on_commit(policy_invalidate)
    return restored


# --- the snapshot the gateway decides with -------------------------------------

_cached: tuple[float, CompiledPolicy] | None = None


def _compiled_published() -> CompiledPolicy:
    global _cached
    published = policy_published_get()
    if _cached is None or _cached[1].version != published.number:
        _cached = (
            time.monotonic(),
            policy_compiled(published),
        )
    else:
        _cached = (time.monotonic(), _cached[1])
    return _cached[1]


def policy_get() -> CompiledPolicy:
    """The same snapshot as policy_aget, for synchronous callers (previews)."""
    global _cached_version
    ttl = settings.HYBRIDHUB_CATALOG_TTL_SECONDS
    version = policy_version.current()
    if _cached is None or time.monotonic() - _cached[0] > ttl or version != _cached_version:
        compiled = _compiled_published()
        _cached_version = version
        return compiled
    return _cached[1]


async def policy_aget() -> CompiledPolicy:
    """The published policy, re-checked after HYBRIDHUB_CATALOG_TTL_SECONDS,
    or at once when any process published (apps.core.shared).

    A request keeps the snapshot it got for its whole life, so publishing
    never changes the rules under a request in flight.
    """
    global _cached_version
    ttl = settings.HYBRIDHUB_CATALOG_TTL_SECONDS
    version = policy_version.current()
    if _cached is None or time.monotonic() - _cached[0] > ttl or version != _cached_version:
        compiled = await sync_to_async(_compiled_published)()
        _cached_version = version
        return compiled
    return _cached[1]


_cached_version: tuple[int, str | None] = (0, None)
policy_version = SharedVersion("policy")


def policy_invalidate() -> None:
    global _cached
    _cached = None
    policy_version.bump()  # and every other process


def policy_working_get() -> tuple[PolicyVersion, PolicyDocument]:
    """What the editor shows: the draft if there is one, else the live version."""
    version = PolicyVersion.objects.filter(status=Status.DRAFT).first() or policy_published_get()
    return version, document_parse(version.document)


def policy_compiled(version: PolicyVersion) -> CompiledPolicy:
    return CompiledPolicy(
        version.number,
        document_parse(version.document),
        phone_regions=tuple(settings.HYBRIDHUB_PHONE_REGIONS),
    )
