"""With REDIS_URL set but Redis down, chat pages and sends keep working:
nothing is marked stopped on a guess, and nothing raises."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.chat import fanout
from apps.chat.models import Message
from apps.chat.services import answers_interrupted_mark, conversation_create, streaming_answer
from apps.core import shared


@pytest.fixture
def redis_down(settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(shared, "_sync_client", None)
    yield
    monkeypatch.setattr(shared, "_sync_client", None)


def test_an_answer_in_flight_is_left_alone_when_redis_cannot_say(redis_down, member):
    conversation = conversation_create(user=member.user, team=member.team)
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status=Message.Status.STREAMING
    )
    Message.objects.filter(pk=answer.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    answer.refresh_from_db()
    assert fanout.live_text(answer.pk) is None  # the page shows what was saved
    assert fanout.orphaned_mark(answer) is False
    assert streaming_answer(conversation) == answer
    assert answers_interrupted_mark() == 0
    assert Message.objects.get(pk=answer.pk).status == Message.Status.STREAMING
