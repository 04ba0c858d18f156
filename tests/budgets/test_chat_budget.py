"""Budgets in the chat: a blocked answer says why; the budget box reloads after an answer."""

from apps.chat.models import Message
from apps.chat.services import conversation_create
from tests.chat.test_chat import HX, browser, sse_events
from tests.conftest import make_cloud_model, make_local_model

from .conftest import set_budget


def test_a_blocked_answer_says_which_budget_and_when_it_resets(hub, member, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    set_budget(team=member.team, limit=10, period="day")
    conversation = conversation_create(user=member.user, team=member.team, model="cloud-mini")
    session = browser(hub, member.user)
    session.post(f"/chat/c/{conversation.code}/send/", data={"text": "hello"}, headers=HX)
    answer = Message.objects.get(role="assistant")
    done = "\n".join(data for name, data in sse_events(session, answer.pk) if name == "done")
    assert "team eng budget cannot cover this request" in done and "resets at" in done
    answer.refresh_from_db()
    assert answer.status == "error" and not cloud.requests


def test_the_budget_box_reloads_after_an_answer(hub, member, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny")
    set_budget(team=member.team, limit=10**6)
    conversation = conversation_create(user=member.user, team=member.team)
    session = browser(hub, member.user)
    session.post(f"/chat/c/{conversation.code}/send/", data={"text": "hello"}, headers=HX)
    answer = Message.objects.get(role="assistant")
    done = "\n".join(data for name, data in sse_events(session, answer.pk) if name == "done")
    assert f'hx-get="/budgets/sidebar/?team={member.team.pk}"' in done
    box = session.get(f"/budgets/sidebar/?team={member.team.pk}").text
    assert "Team eng budget" in box
