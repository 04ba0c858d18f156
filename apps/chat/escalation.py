""" "Ask a stronger model": re-ask the latest message of a model of a higher
capability tier than the one that answered, as the published policy
permits (apps/policy/escalation.py narrows the gateway's own decision; it
never widens it). The new answer is another version of the answer, like
Regenerate; the request is recorded as a training signal (Escalation:
features and names, never text) that the learning job reads directly.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.chat_types import ChatMessage
from apps.gateway.errors import GatewayError
from apps.gateway.models import UsageRecord
from apps.gateway.services import Caller, ChatRequest, decision_preview
from apps.policy import difficulty
from apps.policy.capability import TIERS, default_tier, tier_of
from apps.providers.catalog import catalog_get

from .models import Conversation, Escalation, Message
from .services import streaming_answer

TOP_TIER = max(TIERS)


@dataclass(frozen=True)
class Offer:
    """What the action would do on one answer: ask ``to_model``, or, when
    that is empty, nothing, for the ``refusal`` given."""

    from_model: str
    from_tier: int
    to_model: str = ""
    refusal: str = ""
    features: dict[str, float] | None = None  # of the conversation as it is now
    unsure: str = ""  # said when the model was unsure of its answer (unsure_note)


def answered_tier(answer: Message) -> int:
    """The tier of the model that wrote ``answer`` (0: not a model's answer)."""
    name = answer.route.get("model")
    if not name:
        return 0
    if answer.route.get("tier"):
        return int(answer.route["tier"])
    model = catalog_get().get(name)
    return tier_of(model) if model else default_tier(bool(answer.route.get("local")), name)


def escalation_offered(answer: Message, last_question: int | None = None) -> bool:
    """Finished answers of a model below the top tier, to the latest message
    (``last_question``: that message's pk, if the caller knows it)."""
    if answer.role != Message.Role.ASSISTANT or answer.replaced:
        return False
    finished = answer.status in (Message.Status.DONE, Message.Status.STOPPED)
    if not finished or not 0 < answered_tier(answer) < TOP_TIER:
        return False
    if last_question is not None:
        return answer.pk > last_question
    later = answer.conversation.messages.filter(pk__gt=answer.pk, role=Message.Role.USER)
    return not later.exists()


def escalation_offer(*, answer: Message, last_question: int | None = None) -> Offer | None:
    """The action's state on ``answer``; None where it is not offered at all
    (a cloud answer, an earlier turn's, one still streaming or failed). It
    classifies the conversation: the chat loads it after the answer, apart
    from the page (escalation_offered says whether to)."""
    if not escalation_offered(answer, last_question):
        return None
    return dataclasses.replace(_plan(answer), unsure=unsure_note(answer))


def unsure_note(answer: Message) -> str:
    """What to say when the local model was unsure of its answer: its
    confidence (Usage.confidence) under ``difficulty.UNSURE_BELOW``, where
    the small model is wrong more often than not (docs/routing.md)."""
    confidence = answer.route.get("confidence")
    if not isinstance(confidence, int | float) or not difficulty.is_unsure(confidence):
        return ""
    return f"{answer.route['model']} was unsure of this answer."


def _plan(answer: Message) -> Offer:
    """Ask the gateway's own decision (the published policy, the chat's
    levels, the team's models), narrowed to stronger models."""
    conversation = answer.conversation
    tier = answered_tier(answer)
    kept = conversation.messages.filter(pk__lt=answer.pk, replaced=False).exclude(content="")
    request = ChatRequest(
        model="auto",
        messages=tuple(ChatMessage(m.role, m.content) for m in kept),
        sensitivity=conversation.sensitivity,
        sticky_level=conversation.max_level,
        above_tier=tier,
    )
    caller = Caller(user_id=conversation.user_id, team_id=conversation.team_id, source="chat")
    name = str(answer.route["model"])
    try:
        decision = decision_preview(caller=caller, request=request)
    except GatewayError as exc:
        return Offer(name, tier, refusal=exc.message)
    features = dict(decision.signals.complexity.features)
    if decision.action == "block" or not decision.candidates:
        why = decision.block_message or "No stronger model may answer this message."
        return Offer(name, tier, refusal=why, features=features)
    return Offer(name, tier, to_model=decision.candidates[0].name, features=features)


@transaction.atomic
def answer_escalate(*, user: User, conversation: Conversation, answer_id: int) -> Message:
    """Start a stronger model's answer to the latest message (another version
    of the answer), and record the escalation. Refusals are ValidationErrors
    with a message for the person asking."""
    answer = conversation.messages.filter(pk=answer_id, role=Message.Role.ASSISTANT).first()
    if answer is None:
        raise ValidationError("There is no such answer in this chat.")
    if streaming_answer(conversation) is not None:
        raise ValidationError("Wait for the current answer, or stop it.")
    if not escalation_offered(answer):
        raise ValidationError(
            "Only the latest finished answer of a local or smaller model can be asked again "
            "of a stronger model."
        )
    offer = _plan(answer)
    if not offer.to_model:
        raise ValidationError(offer.refusal)
    conversation.messages.filter(pk__gt=_last_question(conversation)).update(replaced=True)
    conversation.save(update_fields=["updated_at"])
    escalation = {"model": offer.from_model, "tier": offer.from_tier}
    stronger = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        route={"escalated_from": escalation},
    )
    Escalation.objects.create(
        team_id=conversation.team_id,
        user_id=user.pk,
        ledger_code=_code(answer.route.get("ledger")),
        from_model=offer.from_model,
        from_tier=offer.from_tier,
        to_model=offer.to_model,
        answer_id=stronger.pk,
        complexity_features=_answered_features(answer) or offer.features or {},
    )
    return stronger


def _last_question(conversation: Conversation) -> int:
    last = conversation.messages.filter(role=Message.Role.USER).last()
    return last.pk if last else 0


def _code(raw: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def _answered_features(answer: Message) -> dict[str, float] | None:
    """The features the router scored the answered request on (its ledger row)."""
    code = _code(answer.route.get("ledger"))
    if code is None:
        return None
    row = UsageRecord.objects.filter(code=code).values("complexity_features").first()
    return dict(row["complexity_features"]) if row and row["complexity_features"] else None
