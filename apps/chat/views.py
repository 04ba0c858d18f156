"""Chat pages. Thin: parse, call a chat service, render the page or, for
htmx, the fragment that changed. Sending, regenerating and editing are async
so they can start the background generation on the server's event loop."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.html import escape
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from apps.accounts.models import ApiKey, Team
from apps.accounts.services import api_key_create, api_keys_with_membership
from apps.accounts.services import api_key_revoke as revoke_key
from apps.budgets.views import sidebar_context
from apps.core.chat_types import ChatMessage
from apps.gateway.errors import GatewayError
from apps.gateway.services import Caller, ChatRequest, decision_preview
from apps.policy.services import policy_published_get
from apps.providers.catalog import catalog_load

from . import services
from .escalation import answer_escalate, escalation_offer, escalation_offered
from .markdown import render_markdown
from .models import Conversation, Message
from .streaming import generation_follow, generation_peek

ACTIVE_TEAM = "chat_team_id"


# --- lookups (one per protected object) ------------------------------------------


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _my_team(request: HttpRequest, raw: object) -> Team | None:
    try:
        pk = int(str(raw))
    except ValueError:
        return None
    return services.teams_of(_user(request)).filter(pk=pk).first()


def _active_team(request: HttpRequest) -> Team | None:
    chosen = _my_team(request, request.session.get(ACTIVE_TEAM))
    return chosen or services.teams_of(_user(request)).first()


def _code(code: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(code))
    except ValueError:
        raise Http404("No such conversation.") from None


def _conversation(request: HttpRequest, code: object) -> Conversation:
    """One of the user's conversations, in a team they are still in (to write)."""
    writable = services.conversations_writable(_user(request)).select_related("team")
    return get_object_or_404(writable, code=_code(code))


def _conversation_to_read(request: HttpRequest, code: object) -> tuple[Conversation, bool]:
    """(conversation, read_only): also a former member's chat, for the team's admins."""
    found = services.conversation_readable(user=_user(request), code=_code(code))
    if found is None:
        raise Http404("No such conversation.")
    return found


def _answer(request: HttpRequest, pk: int) -> Message:
    return get_object_or_404(
        Message.objects.select_related("conversation"),
        pk=pk,
        role=Message.Role.ASSISTANT,
        conversation__in=services.conversations_writable(_user(request)),
    )


def _answer_to_read(user: User, pk: int) -> tuple[Message, bool] | None:
    """(answer, read_only) if ``user`` may read its conversation, else None."""
    answer = Message.objects.filter(pk=pk, role=Message.Role.ASSISTANT).first()
    if answer is None:
        return None
    readable = services.conversation_readable(user=user, code=answer.conversation.code)
    return (answer, readable[1]) if readable else None


# --- rendering ---------------------------------------------------------------------


def message_view(message: Message, last_question: int | None = None) -> dict[str, Any]:
    """What the templates show of a message; ``last_question``: the pk of the
    chat's latest user message, when the caller has it (saves a query)."""
    so_far = generation_peek(message.pk) if message.status == Message.Status.STREAMING else None
    live = so_far is not None
    text = so_far if so_far is not None else message.content
    return {
        "id": message.pk,
        "role": message.role,
        "status": message.status if live or message.status != "streaming" else "stopped",
        "streaming": live,
        "text": text,
        "html": "" if live or message.role == "user" else render_markdown(text),
        "route": message.route,
        "error": message.error,
        "feedback": message.feedback,
        "cost_dollars": message.route.get("cost_micros", 0) / 1_000_000,
        "demo_model": message.route.get("model") in services.DEMO_MODELS,
        "replaced": message.replaced,
        "escalation_offered": escalation_offered(message, last_question),
    }


def _message_views(conversation: Conversation) -> list[dict[str, Any]]:
    messages = list(conversation.messages.all())
    last_question = max((m.pk for m in messages if m.role == Message.Role.USER), default=0)
    return [message_view(m, last_question) for m in messages]


def _levels() -> list[str]:
    doc = policy_published_get().document
    return [level["name"] for level in doc["levels"]]


def chat_level(conversation: Conversation, levels: list[str]) -> int:
    """The level the chat is treated as: the one the user raised it to, or
    the highest a turn reached (sticky), whichever is higher."""
    raised = levels.index(conversation.sensitivity) if conversation.sensitivity in levels else 0
    return min(max(raised, conversation.max_level), len(levels) - 1)


def _page_context(
    request: HttpRequest, conversation: Conversation | None, **extra: Any
) -> dict[str, Any]:
    team = conversation.team if conversation else _active_team(request)
    user = _user(request)
    catalog = catalog_load()
    levels = _levels()
    context = {
        "conversation": conversation,
        "team": team,
        "teams": services.teams_of(user),
        "conversations": services.conversations_find(user=user, team=team) if team else [],
        "orphaned": services.conversations_orphaned(admin=user, team=team) if team else [],
        "read_only": False,
        "models": ["auto", *(m.name for m in catalog.for_team(team.pk if team else None))],
        "levels": levels,
        "chat_level": chat_level(conversation, levels) if conversation else 0,
        "messages": _message_views(conversation) if conversation else [],
        **sidebar_context(user, team),  # the budget box
    }
    context.update(extra)
    return context


# --- pages -----------------------------------------------------------------------


@require_GET
@login_required
def chat_home(request: HttpRequest) -> HttpResponse:
    team = _active_team(request)
    latest = services.conversations_find(user=_user(request), team=team).first() if team else None
    if latest is not None:
        return redirect("chat:conversation", code=latest.code)
    return render(request, "chat/page.html", _page_context(request, None))


@require_GET
@login_required
def conversation_page(request: HttpRequest, code: str) -> HttpResponse:
    conversation, read_only = _conversation_to_read(request, code)
    context = _page_context(request, conversation, read_only=read_only)
    return render(request, "chat/page.html", context)


@require_POST
@login_required
def conversation_new(request: HttpRequest) -> HttpResponse:
    team = _active_team(request)
    if team is None:
        return HttpResponseBadRequest("You are not in any team yet; ask an admin to add you.")
    model = request.POST.get("model", "")[:100] or "auto"
    conversation = services.conversation_start(user=_user(request), team=team, model=model)
    return redirect("chat:conversation", code=conversation.code)


@require_POST
@login_required
def team_choose(request: HttpRequest) -> HttpResponse:
    team = _my_team(request, request.POST.get("team"))
    if team is None:
        raise Http404("No such team of yours.")
    request.session[ACTIVE_TEAM] = team.pk
    return redirect("chat:home")


@require_GET
@login_required
def conversation_search(request: HttpRequest) -> HttpResponse:
    team = _active_team(request)
    found = (
        services.conversations_find(user=_user(request), team=team, query=request.GET.get("q", ""))
        if team
        else []
    )
    return render(request, "chat/_conversation_list.html", {"conversations": found})


@require_POST
@login_required
def conversation_rename(request: HttpRequest, code: str) -> HttpResponse:
    conversation = _conversation(request, code)
    try:
        services.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    except ValidationError as exc:
        return HttpResponseBadRequest(" ".join(exc.messages))
    return redirect("chat:conversation", code=code)


@require_POST
@login_required
def conversation_delete(request: HttpRequest, code: str) -> HttpResponse:
    _conversation(request, code).delete()
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRedirect("/chat/")
    return redirect("chat:home")


@require_POST
@login_required
def conversation_settings(request: HttpRequest, code: str) -> HttpResponse:
    """Model choice and the chat's raised level ("treat this chat as confidential")."""
    conversation = _conversation(request, code)
    error = ""
    if "model" in request.POST:
        conversation.model = request.POST["model"][:100] or "auto"
        conversation.save(update_fields=["model", "updated_at"])
    if request.POST.get("sensitivity"):
        try:
            services.conversation_sensitivity_raise(
                conversation=conversation, level=request.POST["sensitivity"], level_names=_levels()
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    context = _page_context(request, conversation, settings_error=error)
    return render(request, "chat/_settings.html", context)


@require_POST
@login_required
def preview(request: HttpRequest) -> HttpResponse:
    """Where the message being typed would go, before it is sent."""
    text = request.POST.get("text", "")[:200_000]
    code = request.POST.get("conversation", "")
    conversation = _conversation(request, code) if code else None
    team = conversation.team if conversation else _active_team(request)
    if not text.strip() or team is None:
        return HttpResponse("")
    earlier = (
        [ChatMessage(m.role, m.content) for m in conversation.messages.filter(replaced=False)]
        if conversation
        else []
    )
    caller = Caller(user_id=_user(request).pk, team_id=team.pk, source="chat")
    chat = ChatRequest(
        model=conversation.model if conversation else "auto",
        messages=(*earlier, ChatMessage("user", text)),
        sensitivity=conversation.sensitivity if conversation else "",
        sticky_level=conversation.max_level if conversation else 0,
    )
    try:
        decision = decision_preview(caller=caller, request=chat)
    except GatewayError:
        return HttpResponse("")
    typed = len(chat.messages) - 1  # findings in the message being typed, not earlier ones
    found = sorted({f.finding.label.lower() for f in decision.findings if f.message == typed})
    return render(request, "chat/_preview.html", {"decision": decision, "found": found})


# --- answers -----------------------------------------------------------------------


async def _start_answer(request: HttpRequest, code: str, action: str) -> HttpResponse:
    user = await request.auser()
    if not user.is_authenticated:
        return redirect("login")
    writable = services.conversations_writable(user).select_related("team")  # type: ignore[arg-type]
    conversation = await sync_to_async(lambda: get_object_or_404(writable, code=code))()
    text = request.POST.get("text", "")
    try:
        if action == "send":
            answer = await sync_to_async(services.message_post)(
                conversation=conversation, text=text
            )
        else:
            edited = text if action == "edit" else None
            answer = await sync_to_async(services.answer_regenerate)(
                conversation=conversation, text=edited
            )
    except ValidationError as exc:
        return _refused(request, " ".join(exc.messages))
    return await _answer_started(request, conversation, answer)


async def _answer_started(
    request: HttpRequest, conversation: Conversation, answer: Message
) -> HttpResponse:
    """Generate ``answer`` in the background; show the transcript with it."""
    caller, chat = await sync_to_async(services.answer_request)(answer_id=answer.pk)
    services.answer_start(answer_id=answer.pk, caller=caller, request=chat)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("chat:conversation", code=conversation.code)
    context = await sync_to_async(_page_context)(request, conversation)
    return await sync_to_async(render)(request, "chat/_transcript.html", context)


def _refused(request: HttpRequest, error: str) -> HttpResponse:
    """A send, regenerate or edit that cannot happen now: say so next to the
    message box, leaving the transcript (and any answer streaming in it) and
    the typed text alone."""
    response = render(request, "chat/_error.html", {"error": error})
    if not request.htmx:  # type: ignore[attr-defined]
        response.status_code = 400
        return response
    return reswap(retarget(response, "#composer-error"), "innerHTML")


@require_POST
async def send(request: HttpRequest, code: str) -> HttpResponse:
    return await _start_answer(request, code, "send")


@require_POST
async def regenerate(request: HttpRequest, code: str) -> HttpResponse:
    return await _start_answer(request, code, "regenerate")


@require_POST
async def edit_last(request: HttpRequest, code: str) -> HttpResponse:
    return await _start_answer(request, code, "edit")


@require_GET
@login_required
def escalation(request: HttpRequest, pk: int) -> HttpResponse:
    """The "Ask a stronger model" action of an answer, or why it cannot be
    (loaded after the answer: deciding it classifies the conversation)."""
    offer = escalation_offer(answer=_answer(request, pk))
    return render(request, "chat/_escalate.html", {"m": {"id": pk}, "offer": offer})


@require_POST
async def escalate(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Ask a stronger model" on an answer, as the policy permits; a refusal
    (nothing stronger allowed, not the latest answer…) says why."""
    user = await request.auser()
    if not user.is_authenticated:
        return redirect("login")
    answer = await sync_to_async(_answer)(request, pk)
    conversation = answer.conversation
    try:
        stronger = await sync_to_async(answer_escalate)(
            user=user,  # type: ignore[arg-type]
            conversation=conversation,
            answer_id=answer.pk,
        )
    except ValidationError as exc:
        return _refused(request, " ".join(exc.messages))
    return await _answer_started(request, conversation, stronger)


@require_POST
@login_required
def stop(request: HttpRequest, pk: int) -> HttpResponse:
    services.answer_stop(answer=_answer(request, pk))
    return HttpResponse(status=204)


@require_POST
@login_required
def feedback(request: HttpRequest, pk: int) -> HttpResponse:
    answer = _answer(request, pk)
    try:
        value = int(request.POST.get("value", "0"))
        services.answer_feedback(answer=answer, value=0 if value == answer.feedback else value)
    except (ValueError, ValidationError):
        return HttpResponseBadRequest("Feedback is +1, -1 or 0.")
    return render(request, "chat/_feedback.html", {"m": message_view(answer)})


# Every line ending the SSE format knows (CRLF, CR, LF): a bare CR in model
# output must not end a line, or it could end the event and forge another.
_SSE_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _sse(event: str, data: str) -> bytes:
    """One event; each line of ``data`` becomes a ``data:`` field, so the
    browser gets ``data`` back with its line breaks as LF, and nothing in it
    can end the event."""
    lines = "".join(f"data: {line}\n" for line in _SSE_LINE_BREAK.split(data))
    return f"event: {event}\n{lines}\n".encode()


def _finished_html(pk: int, read_only: bool) -> str:
    finished = Message.objects.select_related("conversation").get(pk=pk)
    return render_to_string(
        "chat/_message.html",
        # the budget box reloads once the answer is settled
        {
            "m": message_view(finished),
            "read_only": read_only,
            "budget_team_id": finished.conversation.team_id,
        },
    )


async def answer_stream(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Server-sent events for one answer: the text so far, new text, then the
    finished message (rendered Markdown and where it ran)."""
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    found = await sync_to_async(_answer_to_read)(user, pk)  # type: ignore[arg-type]
    if found is None:
        return HttpResponse(status=404)
    read_only = found[1]

    async def events() -> AsyncIterator[bytes]:
        async for kind, text in generation_follow(pk):  # from any process (REDIS_URL)
            yield _sse(kind, str(escape(text)))
        yield _sse("done", await sync_to_async(_finished_html)(pk, read_only))

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- settings: API keys --------------------------------------------------------------


ISSUED_KEY = "chat_issued_key"


@never_cache  # shows a new key once: no browser or proxy may keep a copy
@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """POST creates a key and redirects (reloading must not make a second
    one); the GET after it shows the secret once, taken out of the session."""
    user = _user(request)
    error = ""
    if request.method == "POST":
        team = _my_team(request, request.POST.get("team"))
        try:
            if team is None:
                raise ValidationError("Pick one of your teams.")
            created = api_key_create(
                user=user, team=team, name=request.POST.get("name", ""),
                strict_model=request.POST.get("strict_model") == "on",
            )  # fmt: skip
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            request.session[ISSUED_KEY] = created.secret
            return redirect("chat:keys")
    issued = {"secret": request.session.pop(ISSUED_KEY)} if ISSUED_KEY in request.session else None
    keys = api_keys_with_membership().filter(user=user).select_related("team")
    base_url = request.build_absolute_uri("/v1")
    return render(
        request,
        "chat/keys.html",
        {
            "keys": keys,
            "issued": issued,
            "error": error,
            "teams": services.teams_of(user),
            "base_url": base_url,
            "typed_name": request.POST.get("name", "") if error else "",
        },
        status=400 if error else 200,
    )


@require_POST
@login_required
def api_key_revoke(request: HttpRequest, code: str) -> HttpResponse:
    revoke_key(api_key=get_object_or_404(ApiKey, code=code, user=_user(request)))
    return redirect("chat:keys")
