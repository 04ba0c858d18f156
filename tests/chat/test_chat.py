"""The chat over HTTP: pages and fragments with Django's client; answers
(which stream from a background task) against the live ASGI server."""

import httpx
import pytest
from django.test import Client

from apps.accounts.models import ApiKey
from apps.chat.models import Conversation, Message
from apps.chat.services import conversation_create
from apps.gateway.models import UsageRecord
from tests.conftest import make_cloud_model, make_local_model

HX = {"HX-Request": "true"}


@pytest.fixture
def conversation(member):
    return conversation_create(user=member.user, team=member.team)


def browser(hub, user) -> httpx.Client:
    """An HTTP client logged in as ``user`` with a CSRF token, like a browser."""
    django_client = Client()
    django_client.force_login(user)
    session = httpx.Client(base_url=hub.url, timeout=30, follow_redirects=False)
    session.cookies.set("sessionid", django_client.cookies["sessionid"].value)
    session.get("/accounts/login/")
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


def sse_events(session, answer_id):
    events, name = [], None
    with session.stream("GET", f"/chat/answers/{answer_id}/stream/") as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, line[6:]))
    return events


def test_send_streams_an_answer_with_where_it_ran(hub, member, conversation, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny")
    session = browser(hub, member.user)
    response = session.post(
        f"/chat/c/{conversation.code}/send/", data={"text": "hello world"}, headers=HX
    )
    assert response.status_code == 200
    answer = Message.objects.get(role="assistant")
    events = sse_events(session, answer.pk)
    assert events[-1][0] == "done"
    done_html = "\n".join(data for name, data in events if name == "done")
    assert "local · tiny" in done_html and 'aria-busy="false"' in done_html
    answer.refresh_from_db()
    assert answer.status == "done" and answer.content
    assert answer.route["model"] == "tiny" and answer.route["completion_tokens"] > 0
    assert UsageRecord.objects.get().source == "chat"
    assert Conversation.objects.get().title == "hello world"


def test_one_answer_at_a_time_stop_refresh_and_regenerate(hub, member, conversation, slow_gguf):
    make_local_model(slow_gguf, name="slow")
    session = browser(hub, member.user)
    session.post(f"/chat/c/{conversation.code}/send/", data={"text": "hello world"}, headers=HX)
    second = session.post(f"/chat/c/{conversation.code}/send/", data={"text": "again"}, headers=HX)
    assert "Wait for the current answer" in second.text
    answer = Message.objects.get(role="assistant")

    page = session.get(f"/chat/c/{conversation.code}/").text  # a refresh mid-answer
    assert f'sse-connect="/chat/answers/{answer.pk}/stream/"' in page
    assert session.post(f"/chat/answers/{answer.pk}/stop/").status_code == 204
    events = sse_events(session, answer.pk)
    assert events[-1][0] == "done"
    assert "status-stopped" in "\n".join(data for name, data in events if name == "done")
    answer.refresh_from_db()
    assert answer.status == "stopped"
    assert UsageRecord.objects.get().status == "cancelled"

    session.post(f"/chat/c/{conversation.code}/edit/", data={"text": "hello there"}, headers=HX)
    user_messages = list(Message.objects.filter(role="user").values_list("content", flat=True))
    assert user_messages == ["hello there"]
    newer = Message.objects.get(role="assistant")
    assert newer.pk != answer.pk
    session.post(f"/chat/answers/{newer.pk}/stop/")
    sse_events(session, newer.pk)
    session.post(f"/chat/c/{conversation.code}/regenerate/", headers=HX)
    # the earlier answer stays, as a version the user can switch back to
    current = Message.objects.filter(role="assistant", replaced=False)
    assert current.exclude(pk=newer.pk).count() == 1
    assert Message.objects.get(pk=newer.pk).replaced


def test_a_sensitive_turn_keeps_the_chat_local(hub, member, conversation, tiny_gguf, cloud):
    make_local_model(tiny_gguf, name="tiny")
    make_cloud_model(cloud.url, name="cloud-mini")
    conversation.model = "cloud-mini"
    conversation.save()
    session = browser(hub, member.user)
    for text in ("my email is ann@corp.example", "now just say hello"):
        session.post(f"/chat/c/{conversation.code}/send/", data={"text": text}, headers=HX)
        sse_events(session, Message.objects.filter(role="assistant").last().pk)
    conversation.refresh_from_db()
    # at least confidential: the tiny test model's answer is random text, and
    # the second turn resends it, so a detector may raise the level further
    assert conversation.max_level >= 2
    assert [m.route["model"] for m in Message.objects.filter(role="assistant")] == ["tiny", "tiny"]
    assert cloud.requests == []


def test_someone_elses_chat_is_not_found(client, member, outsider):
    theirs = conversation_create(user=outsider.user, team=outsider.team)
    client.force_login(member.user)
    assert client.get(f"/chat/c/{theirs.code}/").status_code == 404
    assert client.post(f"/chat/c/{theirs.code}/delete/").status_code == 404


def test_rename_search_and_delete(client, member, conversation):
    client.force_login(member.user)
    Message.objects.create(conversation=conversation, role="user", content="quarterly numbers")
    client.post(f"/chat/c/{conversation.code}/rename/", {"title": "Finance"})
    assert Conversation.objects.get().title == "Finance"
    assert "Finance" in client.get("/chat/search/?q=quarterly").content.decode()
    assert "No chats found" in client.get("/chat/search/?q=nothing-like-this").content.decode()
    client.post(f"/chat/c/{conversation.code}/delete/")
    assert not Conversation.objects.exists()


def test_level_can_be_raised_never_lowered(client, member, conversation):
    client.force_login(member.user)
    client.post(
        f"/chat/c/{conversation.code}/settings/", {"sensitivity": "confidential"}, headers=HX
    )
    html = client.post(
        f"/chat/c/{conversation.code}/settings/", {"sensitivity": "public"}, headers=HX
    )
    assert "raised, never lowered" in html.content.decode()
    assert Conversation.objects.get().sensitivity == "confidential"


def test_live_preview_says_where_a_message_would_go(client, member, conversation, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny")
    client.force_login(member.user)
    html = client.post(
        "/chat/preview/",
        {"text": "IBAN GB82 WEST 1234 5698 7654 32", "conversation": conversation.code},
    ).content.decode()
    assert "iban" in html and "restricted" in html and "tiny" in html and "stays on-prem" in html
    assert client.post("/chat/preview/", {"text": "x", "conversation": "nope"}).status_code == 404


def test_feedback_is_stored_and_toggles(client, member, conversation):
    client.force_login(member.user)
    answer = Message.objects.create(conversation=conversation, role="assistant", content="hi")
    client.post(f"/chat/answers/{answer.pk}/feedback/", {"value": "1"}, headers=HX)
    assert Message.objects.get(pk=answer.pk).feedback == 1
    client.post(f"/chat/answers/{answer.pk}/feedback/", {"value": "1"}, headers=HX)
    assert Message.objects.get(pk=answer.pk).feedback == 0
    assert client.post(f"/chat/answers/{answer.pk}/feedback/", {"value": "7"}).status_code == 400


def test_api_keys_are_shown_once_and_revocable(client, member):
    client.force_login(member.user)
    created = client.post("/chat/keys/", {"name": "laptop", "team": member.team.pk})
    assert created.status_code == 302  # POST/redirect/GET: a reload makes no second key
    page = client.get(created["Location"]).content.decode()
    key = ApiKey.objects.get(name="laptop")
    assert f"hh_{key.prefix}_" in page and 'base_url="http://testserver/v1"' in page
    listing = client.get("/chat/keys/").content.decode()
    assert f"hh_{key.prefix}_…" in listing and "Copy your new key" not in listing
    client.post(f"/chat/keys/{key.code}/revoke/")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert (
        "Pick one of your teams"
        in client.post("/chat/keys/", {"name": "x", "team": 999}).content.decode()
    )


def test_the_key_page_lets_users_choose_strict_model(client, member):
    client.force_login(member.user)
    client.post("/chat/keys/", {"name": "lenient", "team": member.team.pk})
    client.post("/chat/keys/", {"name": "strict", "team": member.team.pk, "strict_model": "on"})
    keys = ApiKey.objects.filter(name__in=["lenient", "strict"])
    assert dict(keys.values_list("name", "strict_model")) == {
        "lenient": False,
        "strict": True,
    }
    assert "strict model" in client.get("/chat/keys/").content.decode()


@pytest.fixture
def decisions(monkeypatch):
    """The texts of each decision the gateway makes, in order."""
    from apps.gateway import services as gateway_services

    seen = []
    real_decide = gateway_services.decide

    def recording_decide(policy, catalog, texts, facts, **options):
        seen.append(list(texts))
        return real_decide(policy, catalog, texts, facts, **options)

    monkeypatch.setattr(gateway_services, "decide", recording_decide)
    return seen


def test_the_gateway_fits_a_long_chat_to_the_chosen_model_and_decides_once(
    hub, member, conversation, cloud, decisions
):
    """The policy may route a chat to a model with a small context (here the
    chosen model itself has 400 tokens): the gateway drops the oldest turns to
    fit a quarter of it, sizes the answer, and decides again only then."""
    make_cloud_model(cloud.url, name="cloud-mini", context_window=400)
    conversation.model = "cloud-mini"
    conversation.save()
    session = browser(hub, member.user)
    session.post(f"/chat/c/{conversation.code}/send/", data={"text": "hello"}, headers=HX)
    sse_events(session, Message.objects.filter(role="assistant").last().pk)
    assert len(decisions) == 1  # nothing to trim: decided once
    assert cloud.requests[-1]["max_tokens"] == 100  # a quarter of 400, under the cap
    long_turn = "word " * 120  # about 150 tokens: two such turns overflow 100
    for _ in range(2):
        session.post(f"/chat/c/{conversation.code}/send/", data={"text": long_turn}, headers=HX)
        sse_events(session, Message.objects.filter(role="assistant").last().pk)
    sent = cloud.requests[-1]["messages"]
    assert len(sent) == 1  # only the latest turn, and it alone overflows a quarter of 400
    assert sent[0]["role"] == "user" and sent[0]["content"].startswith("word word")
    assert len(decisions) == 3  # one decision per answer: no preview beside the gateway's


def test_a_chat_sent_on_prem_is_fitted_to_the_smaller_local_model(
    hub, member, conversation, cloud, tiny_gguf, decisions
):
    """Asked of a large cloud model, the chat hands over its long history; the
    policy keeps a sensitive turn on the small local model (512 tokens here),
    so the gateway trims the history to that model and decides once more."""
    make_local_model(tiny_gguf, name="tiny", context_window=512)
    make_cloud_model(cloud.url, name="cloud-mini")
    conversation.model = "cloud-mini"
    conversation.save()
    session = browser(hub, member.user)
    for text in ("word " * 150, "word " * 150, "mail ann@corp.example please"):
        session.post(f"/chat/c/{conversation.code}/send/", data={"text": text}, headers=HX)
        sse_events(session, Message.objects.filter(role="assistant").last().pk)
    last = Message.objects.filter(role="assistant").last()
    assert last.route.get("model") == "tiny", (last.status, last.error)
    first, second = decisions[-2:]  # the sensitive turn: decided, trimmed, decided again
    assert len(second) < len(first)
    assert any("mail ann@corp.example please" in text for text in second)


def test_context_fit_keeps_the_latest_turns_and_sizes_the_answer():
    from apps.core.chat_types import ChatMessage, GenerationParams
    from apps.gateway.services import ChatRequest, context_fit
    from apps.providers.specs import ModelSpec, ProviderSpec

    provider = ProviderSpec(1, "p", "openai_compatible", "vendor", "http://v", "", 60, 0, "v")
    small = ModelSpec(1, "small", provider, "s", 400, 0, 0, frozenset(), (), None, "v")
    large = ModelSpec(2, "large", provider, "l", 100_000, 0, 0, frozenset(), (), None, "v")
    turns = tuple(ChatMessage("user", f"turn {i} " + "x" * 200) for i in range(5))
    request = ChatRequest(model="auto", messages=turns, fit_context=True)
    fitted = context_fit(request, small)
    assert fitted.messages == turns[-1:]  # at least the last turn, even if it is long
    assert fitted.params.max_tokens == 100
    roomy = context_fit(request, large)
    assert roomy.messages == turns and roomy.params.max_tokens == 1024  # the cap
    asked = ChatRequest(
        model="auto", messages=turns, params=GenerationParams(max_tokens=7), fit_context=True
    )
    assert context_fit(asked, large).params.max_tokens == 7  # the caller's own length wins
