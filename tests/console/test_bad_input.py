"""Garbage in any form field gives a readable answer, never a server error."""

import pytest

from apps.chat.models import Message
from apps.chat.services import conversation_create
from apps.policy.services import policy_published_get

GARBAGE = {
    "name": "x" * 500, "models": "@nope, ,,", "min_level": "9", "max_complexity": "abc",
    "min_tokens": "-5", "days": ["9"], "start_hour": "99", "teams": ["abc"], "users": "1,a",
    "patterns": "(", "kind": "regex", "level": "7", "floor": "x", "length": "2",
    "text": "", "value": "x", "team": "abc", "title": "", "sensitivity": "secret", "model": "",
    "conversation": "not-a-uuid", "against": "everything", "note": "n" * 1000,
}  # fmt: skip


@pytest.mark.django_db
def test_console_endpoints_refuse_garbage_cleanly(admin_client, team):
    policy_published_get()
    paths = [
        "/policy/levels/", "/policy/detectors/", "/policy/weights/", "/policy/custom/org/",
        f"/policy/custom/{team.pk}/", "/policy/custom/org/nope/delete/",
        f"/policy/teams/{team.pk}/floor/", "/policy/rules/", "/policy/rules/nope/",
        "/policy/rules/nope/edit/", "/policy/rules/nope/explode/", "/policy/publish/",
        "/policy/versions/999/rollback/", "/policy/simulate/",
    ]  # fmt: skip
    for path in paths:
        response = admin_client.post(path, GARBAGE, HTTP_HX_REQUEST="true")
        assert response.status_code < 500, path
    assert admin_client.get("/policy/replay/?days=abc").status_code == 200


@pytest.mark.django_db
def test_chat_endpoints_refuse_garbage_cleanly(client, member):
    conversation = conversation_create(user=member.user, team=member.team)
    answer = Message.objects.create(conversation=conversation, role="assistant", content="hi")
    client.force_login(member.user)
    paths = [
        "/chat/new/", "/chat/team/", "/chat/preview/", f"/chat/c/{conversation.code}/rename/",
        f"/chat/c/{conversation.code}/settings/", f"/chat/answers/{answer.pk}/feedback/",
        f"/chat/answers/{answer.pk}/stop/", "/chat/keys/",
    ]  # fmt: skip
    for path in paths:
        assert client.post(path, GARBAGE, HTTP_HX_REQUEST="true").status_code < 500, path
    assert client.get("/chat/search/?q=" + "%" * 50).status_code == 200
