"""Change requests: how a team admin's edits in the shared draft reach
publication. The team admin asks; an org admin publishes the draft or
rejects the request with a reply; discarding the draft closes the requests
on it. Each side sees the requests' state in the console."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import Team

from .models import PolicyAuditEntry, PolicyChangeRequest, PolicyVersion
from .services import policy_publish

Status = PolicyChangeRequest.Status


def _draft() -> PolicyVersion | None:
    return PolicyVersion.objects.filter(status=PolicyVersion.Status.DRAFT).first()


def team_edits_in_draft(*, team: Team) -> list[str]:
    """Summaries of the edits to ``team``'s part of the current draft, oldest first."""
    draft = _draft()
    if draft is None:
        return []
    entries = PolicyAuditEntry.objects.filter(
        action=PolicyAuditEntry.Action.EDIT,
        version_number=draft.number,
        team_diffs__has_key=str(team.pk),
    ).order_by("created_at", "pk")
    return [entry.summary for entry in entries]


def change_request_open(*, actor: User, team: Team, note: str = "") -> PolicyChangeRequest:
    """Ask for the team's edits in the draft to be published. Asking again
    for the same draft updates the open request instead of adding one."""
    draft = _draft()
    changes = team_edits_in_draft(team=team)
    if draft is None or not changes:
        raise ValidationError(f"The draft has no changes to {team.name} to ask about.")
    with transaction.atomic():
        request, _ = PolicyChangeRequest.objects.select_for_update().update_or_create(
            team=team,
            draft_number=draft.number,
            status=Status.OPEN,
            defaults={"author": actor, "changes": "\n".join(changes), "note": note[:200]},
        )
    return request


def change_requests_open() -> QuerySet[PolicyChangeRequest]:
    return PolicyChangeRequest.objects.filter(status=Status.OPEN).select_related("team", "author")


def change_requests_of(*, team_ids: set[int]) -> QuerySet[PolicyChangeRequest]:
    return PolicyChangeRequest.objects.filter(team_id__in=team_ids).select_related(
        "team", "decided_by"
    )


def _close(draft_number: int, status: str, actor: User, reply: str = "") -> None:
    PolicyChangeRequest.objects.filter(draft_number=draft_number, status=Status.OPEN).update(
        status=status, decided_by=actor, decided_at=timezone.now(), reply=reply[:200]
    )


def change_request_publish(*, actor: User, request: PolicyChangeRequest) -> PolicyVersion:
    """Publish the draft the request is about (and with it every open request on it)."""
    if request.status != Status.OPEN:
        raise ValidationError("That request was already decided.")
    with transaction.atomic():
        note = f"{request.team.name}: {request.note or request.changes.splitlines()[0]}"
        version = policy_publish(actor=actor, note=note[:200])
        change_requests_published(actor=actor, draft_number=version.number)
    return version


def change_request_reject(*, actor: User, request: PolicyChangeRequest, reply: str) -> None:
    """Refuse the request, saying why; the edits stay in the draft for the
    org admin to keep, change or discard."""
    if request.status != Status.OPEN:
        raise ValidationError("That request was already decided.")
    if not reply.strip():
        raise ValidationError("Say why, so the team admin knows what to change.")
    request.status, request.reply = Status.REJECTED, reply.strip()[:200]
    request.decided_by, request.decided_at = actor, timezone.now()
    request.save(update_fields=["status", "reply", "decided_by", "decided_at"])


def change_requests_published(*, actor: User, draft_number: int) -> None:
    """Call after publishing draft ``draft_number``: its open requests are done."""
    _close(draft_number, Status.PUBLISHED, actor)


def change_requests_discarded(*, actor: User, draft_number: int, reply: str = "") -> None:
    """Call when draft ``draft_number`` is discarded: its requests say so."""
    _close(draft_number, Status.DISCARDED, actor, reply or "The draft was discarded.")
