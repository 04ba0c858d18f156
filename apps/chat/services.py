"""Chat: conversations, messages and their answers. Answers go through the
same gateway pipeline as the API (completion_start), never around it."""

from __future__ import annotations

import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from apps.accounts.models import Membership, Team
from apps.core.chat_types import ChatMessage, GenerationParams
from apps.gateway.services import (
    FIT_SHARE,
    Caller,
    ChatRequest,
    Completion,
    completion_start,
)
from apps.policy.capability import tier_of
from apps.providers.catalog import catalog_get
from apps.providers.tokens import estimate_tokens

from . import fanout
from .models import Conversation, Message
from .streaming import Generation, Outcome, generation_start, generation_stop

TITLE_LENGTH = 60
# An answer stops here unless the user asks for more: long enough for a page
# of code or prose, short enough that a small local model that never emits
# its end token does not run for minutes.
# Models set up by `bootstrap_demo` for a first run: tiny, so answers are
# often wrong. The chat says so under their answers.
DEMO_MODELS = frozenset({"smollm2"})


def teams_of(user: User) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).order_by("name")


# Who may open a conversation is decided at every request from the current
# memberships (docs/security.md): the owner while they are in its team; once
# they leave it, nobody writes to it and the team's admins may read it.


def conversations_writable(user: User) -> QuerySet[Conversation]:
    """The user's own conversations in teams they still belong to."""
    return Conversation.objects.filter(user=user, team__memberships__user=user)


def conversations_orphaned(*, admin: User, team: Team) -> QuerySet[Conversation]:
    """Conversations of people who left ``team``, if ``admin`` administers it."""
    if not Membership.objects.filter(user=admin, team=team, role=Membership.Role.ADMIN).exists():
        return Conversation.objects.none()
    members = Membership.objects.filter(team=team).values("user_id")
    return Conversation.objects.filter(team=team).exclude(user_id__in=members)


def conversation_readable(*, user: User, code: uuid.UUID) -> tuple[Conversation, bool] | None:
    """(conversation, read_only) for ``user``, or None if they may not see it."""
    found = Conversation.objects.select_related("team").filter(code=code).first()
    if found is None:
        return None
    if conversations_writable(user).filter(pk=found.pk).exists():
        return found, False
    if conversations_orphaned(admin=user, team=found.team).filter(pk=found.pk).exists():
        return found, True
    return None


def conversation_create(*, user: User, team: Team, model: str = "auto") -> Conversation:
    if not Membership.objects.filter(user=user, team=team).exists():
        raise ValidationError("You are not a member of that team.")
    return Conversation.objects.create(user=user, team=team, model=model)


def conversation_start(*, user: User, team: Team, model: str = "auto") -> Conversation:
    """A chat to type in: the user's chat in ``team`` that has no message yet,
    if there is one, so "New chat" entries do not pile up; else a new one."""
    blank = conversations_writable(user).filter(team=team, messages__isnull=True).first()
    if blank is None:
        return conversation_create(user=user, team=team, model=model)
    blank.model = model
    blank.save(update_fields=["model", "updated_at"])
    return blank


def conversations_find(*, user: User, team: Team, query: str = "") -> QuerySet[Conversation]:
    found = conversations_writable(user).filter(team=team)
    if query:
        found = found.filter(Q(title__icontains=query) | Q(messages__content__icontains=query))
    return found.distinct()


def conversation_rename(*, conversation: Conversation, title: str) -> None:
    title = title.strip()
    if not title:
        raise ValidationError("A title cannot be empty.")
    conversation.title = title[:200]
    conversation.save(update_fields=["title", "updated_at"])


def conversation_sensitivity_raise(
    *, conversation: Conversation, level: str, level_names: list[str]
) -> None:
    """Raise the chat's level; lowering is refused (it would let earlier
    sensitive turns out)."""
    if level not in level_names:
        raise ValidationError(f"Unknown level {level!r}.")
    current = (
        level_names.index(conversation.sensitivity)
        if conversation.sensitivity in level_names
        else 0
    )
    if level_names.index(level) < current:
        raise ValidationError("A chat's level can be raised, never lowered.")
    conversation.sensitivity = level
    conversation.save(update_fields=["sensitivity", "updated_at"])


@transaction.atomic
def message_post(*, conversation: Conversation, text: str) -> Message:
    """Add the user's message and an empty answer to stream into."""
    text = text.strip()
    if not text:
        raise ValidationError("Write a message first.")
    if streaming_answer(conversation) is not None:
        raise ValidationError("Wait for the current answer, or stop it.")
    if not conversation.messages.exists():
        conversation.title = text.splitlines()[0][:TITLE_LENGTH]
    conversation.save(update_fields=["title", "updated_at"])
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content=text)
    return Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )


@transaction.atomic
def answer_regenerate(*, conversation: Conversation, text: str | None = None) -> Message:
    """Answer the last user message again, after editing it if ``text`` is given."""
    if streaming_answer(conversation) is not None:
        raise ValidationError("Wait for the current answer, or stop it.")
    last_user = conversation.messages.filter(role=Message.Role.USER).last()
    if last_user is None:
        raise ValidationError("There is nothing to answer yet.")
    later = conversation.messages.filter(pk__gt=last_user.pk)
    if text is not None:
        if not text.strip():
            raise ValidationError("Write a message first.")
        last_user.content = text.strip()
        last_user.save(update_fields=["content"])
        later.delete()  # they answered the message before its edit
    else:
        later.update(replaced=True)  # kept as earlier versions
    conversation.save(update_fields=["updated_at"])
    return Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )


def streaming_answer(conversation: Conversation) -> Message | None:
    answer = conversation.messages.filter(status=Message.Status.STREAMING).last()
    if answer is not None and fanout.enabled() and fanout.orphaned_mark(answer):
        return None  # its process died: the chat goes on
    return answer


def _history(answer: Message, budget: int) -> tuple[ChatMessage, ...]:
    """The latest turns that fit in ``budget`` estimated tokens, oldest first.

    Long chats outgrow small local models; the oldest turns go first. The
    chat's sticky level still remembers what they contained.
    """
    earlier = answer.conversation.messages.filter(pk__lt=answer.pk, replaced=False).exclude(
        content=""
    )
    kept: list[ChatMessage] = []
    for message in reversed(list(earlier)):
        budget -= estimate_tokens(message.content) + 4
        if budget < 0 and kept:
            break
        kept.append(ChatMessage(message.role, message.content))
    return tuple(reversed(kept))


def _history_budget(conversation: Conversation, model: str) -> int:
    """How much of the conversation to hand the gateway: a quarter of the
    context of the model the chat asked for (auto: the largest the team may
    use). The gateway trims it again to the model the policy chooses."""
    catalog = catalog_get()
    chosen = catalog.get(model)
    if chosen is not None:
        return chosen.context_window // FIT_SHARE
    windows = [m.context_window for m in catalog.for_team(conversation.team_id)]
    return max(windows, default=8192) // FIT_SHARE


def answer_request(*, answer_id: int) -> tuple[Caller, ChatRequest]:
    """Who asks and what, for the gateway: the conversation up to this answer,
    as much as the requested model could hold; the gateway fits it to the
    model the policy chooses and sizes the answer (context_fit)."""
    answer = Message.objects.select_related("conversation").get(pk=answer_id)
    conversation = answer.conversation
    caller = Caller(user_id=conversation.user_id, team_id=conversation.team_id, source="chat")
    # "Ask a stronger model" (escalation.py): any model the policy permits
    # above the tier of the answer found lacking, whatever the chat's model.
    above_tier = int(answer.route.get("escalated_from", {}).get("tier", 0))
    model = "auto" if above_tier else conversation.model
    request = ChatRequest(
        model=model,
        messages=_history(answer, _history_budget(conversation, model)),
        params=GenerationParams(stream=True),
        sensitivity=conversation.sensitivity,
        sticky_level=conversation.max_level,
        fit_context=True,
        above_tier=above_tier,
    )
    return caller, request


def answer_start(*, answer_id: int, caller: Caller, request: ChatRequest) -> Generation:
    """Start generating the answer in the background (call on the event loop;
    no database access here: the generation saves through answer_finish)."""

    async def start() -> Completion:
        return await completion_start(caller=caller, request=request)

    async def finish(outcome: Outcome) -> None:
        await sync_to_async(answer_finish)(answer_id=answer_id, outcome=outcome)

    return generation_start(answer_id, start, finish)


def answer_finish(*, answer_id: int, outcome: Outcome) -> None:
    """Save an answer's text, status and route; raise the chat's sticky level."""
    answer = Message.objects.select_related("conversation").get(pk=answer_id)
    answer.content = outcome.text
    answer.status = outcome.status
    answer.error = outcome.error[:500]
    if outcome.completion is not None:
        answer.route = route_summary(outcome.completion, answer.route.get("escalated_from"))
        conversation = answer.conversation
        level = outcome.completion.decision.level
        if level > conversation.max_level:
            conversation.max_level = level
            conversation.save(update_fields=["max_level", "updated_at"])
    answer.save(update_fields=["content", "status", "error", "route"])


def route_summary(
    completion: Completion, escalated_from: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Where the answer ran and why; ``escalated_from``: the answer a person
    asked a stronger model to redo (escalation.py), named in the "why"."""
    decision, model, tally = completion.decision, completion.model, completion.tally
    local = model.provider.is_local
    where = "stays on-prem" if local else f"sent to {model.provider.privacy_zone.replace('_', ' ')}"
    chosen = completion.request.model == model.name
    because = "the model you picked" if chosen else decision.rule_name
    if escalated_from:
        because = f"escalation: you asked for a stronger model than {escalated_from['model']}"
    escalation = {"escalated_from": escalated_from} if escalated_from else {}
    return {
        **escalation,
        "local": local,
        "model": model.name,
        "zone": model.provider.privacy_zone,
        "level": decision.level_name,
        "why": f"{decision.reasons[0]} → {where} ({because})",
        "reasons": completion.reasons,
        "tier": tier_of(model),
        "ledger": str(completion.ledger_code),  # its ledger row, for the learning signals
        "prompt_tokens": tally.prompt_tokens,
        "completion_tokens": tally.completion_tokens,
        "confidence": tally.confidence,
        "cost_micros": model.cost_micros(tally.prompt_tokens, tally.completion_tokens),
        "ttft_ms": tally.ms_since_start(tally.first_token_at),
        "latency_ms": tally.ms_since_start(time.perf_counter()),
    }


def answer_stop(*, answer: Message) -> bool:
    """Stop it wherever it runs; one whose process died is marked stopped."""
    return generation_stop(answer.pk) or (fanout.enabled() and fanout.orphaned_mark(answer))


def answer_feedback(*, answer: Message, value: int) -> None:
    if answer.role != Message.Role.ASSISTANT or value not in (-1, 0, 1):
        raise ValidationError("Feedback is +1, -1 or 0 on an answer.")
    answer.feedback = value
    answer.save(update_fields=["feedback"])


def answers_interrupted_mark() -> int:
    """Answers left 'streaming' by a stopped server end as stopped, with what
    they had (with REDIS_URL: those no live process still generates)."""
    streaming = Message.objects.filter(status=Message.Status.STREAMING)
    if fanout.enabled():
        ids = list(streaming.values_list("pk", flat=True))
        streaming = streaming.filter(pk__in=set(ids) - fanout.owned_elsewhere(ids))
    return streaming.update(
        status=Message.Status.STOPPED, error="Interrupted: the server restarted."
    )
