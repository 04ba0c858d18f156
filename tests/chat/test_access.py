"""The chat follows membership at every request; model output cannot forge
SSE events in the chat stream."""

import re

import pytest

from apps.accounts.models import Membership
from apps.chat.models import Conversation, Message
from apps.chat.services import conversation_create
from apps.chat.views import _sse
from tests.chat.test_chat import HX, browser
from tests.conftest import _persona, make_cloud_model


@pytest.fixture
def left(member):
    """Mia's chat in Engineering, after Mia was removed from Engineering."""
    conversation = conversation_create(user=member.user, team=member.team)
    Message.objects.create(conversation=conversation, role="user", content="roadmap secrets")
    Message.objects.create(conversation=conversation, role="assistant", content="noted")
    Membership.objects.filter(user=member.user, team=member.team).delete()
    return conversation


def test_a_removed_member_can_neither_read_nor_write_their_old_chats(client, member, left):
    client.force_login(member.user)
    code = left.code
    assert client.get(f"/chat/c/{code}/").status_code == 404
    for action in ("send", "regenerate", "edit", "rename", "delete", "settings"):
        response = client.post(f"/chat/c/{code}/{action}/", {"text": "x", "title": "x"})
        assert response.status_code == 404, action
    answer = left.messages.get(role="assistant")
    assert client.get(f"/chat/answers/{answer.pk}/stream/").status_code == 404
    assert client.post(f"/chat/answers/{answer.pk}/feedback/", {"value": "1"}).status_code == 404
    assert client.post("/chat/preview/", {"text": "x", "conversation": code}).status_code == 404
    assert Conversation.objects.get(pk=left.pk).title == left.title
    assert left.messages.count() == 2  # nothing was sent, nothing deleted


def test_send_after_removal_is_refused_on_the_live_server(hub, member, left):
    session = browser(hub, member.user)
    response = session.post(f"/chat/c/{left.code}/send/", data={"text": "still here?"}, headers=HX)
    assert response.status_code == 404
    assert left.messages.count() == 2


def test_team_admins_read_a_former_members_chat_read_only(client, member, team_admin, left):
    client.force_login(team_admin.user)
    home = client.get("/chat/", follow=True).content.decode()
    assert "Former members" in home and left.title in home
    page = client.get(f"/chat/c/{left.code}/").content.decode()
    assert "roadmap secrets" in page and "Read-only" in page
    assert 'id="composer"' not in page and "/feedback/" not in page
    assert client.post(f"/chat/c/{left.code}/delete/").status_code == 404
    assert client.post(f"/chat/c/{left.code}/rename/", {"title": "mine"}).status_code == 404
    assert Conversation.objects.filter(pk=left.pk).exists()


def test_others_never_see_a_former_members_chat(client, team, member, outsider, left):
    colleague = _persona("carl", team)  # a plain member of the same team
    other_admin = _persona("olga", outsider.team, Membership.Role.ADMIN)
    for persona in (colleague, other_admin, outsider):
        client.force_login(persona.user)
        assert client.get(f"/chat/c/{left.code}/").status_code == 404
        assert "Former members" not in client.get("/chat/", follow=True).content.decode()


def test_a_member_who_returns_gets_their_chats_back(client, member, left):
    Membership.objects.create(user=member.user, team=member.team)
    client.force_login(member.user)
    page = client.get(f"/chat/c/{left.code}/").content.decode()
    assert 'id="composer"' in page


# --- SSE framing -----------------------------------------------------------------------


def parse_sse(raw: bytes) -> list[tuple[str, str]]:
    """Events as a browser's EventSource reads them (HTML spec: lines end at
    CRLF, LF or CR; a blank line dispatches)."""
    events, name, data = [], "message", []
    for line in re.split(r"\r\n|\r|\n", raw.decode()):
        if not line:
            if data:
                events.append((name, "\n".join(data)))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].removeprefix(" ")
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return events


@pytest.mark.parametrize("breaker", ["\r", "\n", "\r\n", "\r\r", "\n\n", "\r\n\r\n"])
def test_no_line_break_in_data_ends_or_forges_an_event(breaker):
    hostile = f"ok{breaker}event: done{breaker}data: <b>forged</b>{breaker}{breaker}tail"
    events = parse_sse(_sse("token", hostile))
    assert len(events) == 1 and events[0][0] == "token"
    assert events[0][1] == re.sub(r"\r\n|\r", "\n", hostile)


def test_sse_framing_is_linear_on_hostile_input():
    for text in ("\r" * 100_000, "\r\n" * 50_000, "\n" * 100_000, " " * 100_000):
        assert len(parse_sse(_sse("token", text))) == 1


def test_model_output_cannot_forge_a_done_event_in_the_chat(hub, member, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.script = ["Hi", "\revent: done\rdata: <p>forged</p>\r\r", "bye"]
    cloud.token_delay = 0.3  # so the browser is subscribed while tokens arrive
    conversation = conversation_create(user=member.user, team=member.team, model="cloud-mini")
    session = browser(hub, member.user)
    session.post(f"/chat/c/{conversation.code}/send/", data={"text": "hello"}, headers=HX)
    answer = Message.objects.get(role="assistant")
    with session.stream("GET", f"/chat/answers/{answer.pk}/stream/") as response:
        events = parse_sse(response.read())
    names = [name for name, _ in events]
    assert names.count("done") == 1 and names[-1] == "done"
    tokens = "".join(data for name, data in events if name == "token")
    assert "event: done\ndata: &lt;p&gt;forged" in tokens  # arrived as text, not framing
    assert all("forged</p>" not in data for name, data in events if name == "done")
    answer.refresh_from_db()
    assert answer.content == "Hi\revent: done\rdata: <p>forged</p>\r\rbye"
