""" "Ask a stronger model": the offer on a local answer, the refusals (in the
user's words, never a bypass of the privacy rules), the new answer as
another version, and the escalation as a training signal for learn_routing."""

import pytest
from django.core.exceptions import ValidationError

from apps.analytics import learning
from apps.chat.escalation import answer_escalate, escalation_offer
from apps.chat.models import Escalation, Message
from apps.chat.services import answer_request, conversation_create
from apps.gateway.models import UsageRecord
from apps.policy import difficulty
from tests.chat.test_chat import HX, browser, sse_events
from tests.conftest import make_cloud_model, make_local_model

FEATURES = {f: 0.0 for f in difficulty.FEATURES} | {"log_tokens": 0.3, "lexical": 0.4}


@pytest.fixture
def models(db, tiny_gguf, cloud):
    return make_local_model(tiny_gguf, name="tiny"), make_cloud_model(cloud.url, name="cloud-mini")


@pytest.fixture
def conversation(member):
    return conversation_create(user=member.user, team=member.team)


def local_answer(conversation, text="what is the capital of Burkina Faso?", **route):
    """A question and the tiny local model's finished answer, with its ledger row."""
    row = UsageRecord.objects.create(
        source="chat", user=conversation.user, team=conversation.team, requested_model="auto",
        model_name="tiny", privacy_zone="on_prem", complexity=0.2,
        complexity_features=FEATURES, status="ok",
    )  # fmt: skip
    Message.objects.create(conversation=conversation, role="user", content=text)
    route = {"model": "tiny", "local": True, "tier": 1, "ledger": str(row.code), "why": "…"} | route
    return Message.objects.create(
        conversation=conversation, role="assistant", content="Paris.", route=route
    )


def test_a_local_answer_offers_the_cheapest_stronger_model(models, conversation):
    answer = local_answer(conversation)
    offer = escalation_offer(answer=answer)
    assert offer is not None and offer.to_model == "cloud-mini" and not offer.refusal


def test_escalating_keeps_the_local_answer_as_a_version_and_records_the_signal(
    models, member, conversation
):
    answer = local_answer(conversation)
    stronger = answer_escalate(user=member.user, conversation=conversation, answer_id=answer.pk)
    answer.refresh_from_db()
    assert answer.replaced and answer.content == "Paris."  # an earlier version now
    assert stronger.status == "streaming"
    assert stronger.route == {"escalated_from": {"model": "tiny", "tier": 1}}
    _, request = answer_request(answer_id=stronger.pk)
    assert request.above_tier == 1 and request.model == "auto"
    assert [m.content for m in request.messages] == ["what is the capital of Burkina Faso?"]
    signal = Escalation.objects.get()
    assert (signal.from_model, signal.from_tier, signal.to_model) == ("tiny", 1, "cloud-mini")
    assert str(signal.ledger_code) == answer.route["ledger"]
    assert signal.complexity_features == FEATURES  # the answered request's, from its row
    assert signal.answer_id == stronger.pk and signal.team_id == member.team.pk


def test_a_confidential_chat_is_never_escalated_to_the_cloud(models, member, conversation):
    conversation.sensitivity = "confidential"
    conversation.save()
    answer = local_answer(conversation)
    offer = escalation_offer(answer=answer)
    assert offer is not None and offer.to_model == ""
    assert "confidential" in offer.refusal and "on-prem" in offer.refusal
    with pytest.raises(ValidationError, match="confidential"):
        answer_escalate(user=member.user, conversation=conversation, answer_id=answer.pk)
    assert not Escalation.objects.exists()
    assert not Message.objects.get(pk=answer.pk).replaced


def test_only_the_latest_answer_of_a_weaker_model_is_offered(models, member, conversation):
    earlier = local_answer(conversation)
    latest = local_answer(conversation, "and of Mali?")
    cloud = Message.objects.create(
        conversation=conversation, role="assistant", route={"model": "cloud-mini", "local": False}
    )
    assert escalation_offer(answer=earlier) is None
    assert escalation_offer(answer=cloud) is None  # tier 3: nothing stronger exists
    assert escalation_offer(answer=latest) is not None
    with pytest.raises(ValidationError, match="latest finished answer"):
        answer_escalate(user=member.user, conversation=conversation, answer_id=earlier.pk)


def test_the_page_loads_the_action_and_its_refusal(client, models, member, conversation):
    client.force_login(member.user)
    earlier = local_answer(conversation)
    answer = local_answer(conversation, "and of Mali?")
    page = client.get(f"/chat/c/{conversation.code}/").content.decode()
    assert page.count("/escalation/") == 1  # the latest answer's, loaded after the page
    assert f'hx-get="/chat/answers/{answer.pk}/escalation/"' in page
    action = client.get(f"/chat/answers/{answer.pk}/escalation/").content.decode()
    assert f'hx-post="/chat/answers/{answer.pk}/escalate/"' in action
    assert "Ask a stronger model" in action and "cloud-mini" in action
    assert "<button" not in client.get(f"/chat/answers/{earlier.pk}/escalation/").content.decode()
    conversation.sensitivity = "confidential"
    conversation.save()
    action = client.get(f"/chat/answers/{answer.pk}/escalation/").content.decode()
    assert "/escalate/" not in action and "disabled" in action
    assert "This conversation is confidential" in action


def test_an_answer_the_model_was_unsure_of_says_so_beside_the_action(
    client, models, member, conversation
):
    client.force_login(member.user)
    unsure_below = difficulty.UNSURE_BELOW
    for confidence, said in [(unsure_below - 0.01, True), (unsure_below, False), (None, False)]:
        answer = local_answer(conversation, confidence=confidence)
        action = client.get(f"/chat/answers/{answer.pk}/escalation/").content.decode()
        assert ("tiny was unsure of this answer." in action) is said
        assert "Ask a stronger model" in action
    # Still said where no stronger model may answer: the person should know.
    conversation.sensitivity = "confidential"
    conversation.save()
    answer = local_answer(conversation, confidence=unsure_below / 2)
    action = client.get(f"/chat/answers/{answer.pk}/escalation/").content.decode()
    assert "tiny was unsure of this answer." in action and "disabled" in action


def test_a_forged_request_gets_a_readable_refusal(client, models, member, outsider, conversation):
    conversation.sensitivity = "confidential"
    conversation.save()
    answer = local_answer(conversation)
    client.force_login(member.user)
    plain = client.post(f"/chat/answers/{answer.pk}/escalate/")
    assert plain.status_code == 400 and "confidential" in plain.content.decode()
    htmx = client.post(f"/chat/answers/{answer.pk}/escalate/", headers=HX)
    assert htmx.headers["HX-Retarget"] == "#composer-error"
    assert "may not go to any stronger model" in htmx.content.decode()
    client.force_login(outsider.user)
    assert client.post(f"/chat/answers/{answer.pk}/escalate/").status_code == 404
    assert not Escalation.objects.exists()


def test_escalation_end_to_end_feeds_the_learning_job(hub, member, conversation, tiny_gguf, cloud):
    make_local_model(tiny_gguf, name="tiny")
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.natural_length = 6
    session = browser(hub, member.user)
    session.post(f"/chat/c/{conversation.code}/send/", data={"text": "hello world"}, headers=HX)
    local = Message.objects.get(role="assistant")
    done = "\n".join(data for name, data in sse_events(session, local.pk) if name == "done")
    assert f"/chat/answers/{local.pk}/escalation/" in done  # offered as soon as it finishes
    local.refresh_from_db()
    assert local.route["model"] == "tiny" and cloud.requests == []

    response = session.post(f"/chat/answers/{local.pk}/escalate/", headers=HX)
    assert response.status_code == 200
    stronger = Message.objects.exclude(pk=local.pk).get(role="assistant")
    sse_events(session, stronger.pk)
    stronger.refresh_from_db()
    assert stronger.status == "done" and stronger.route["model"] == "cloud-mini"
    assert "escalation: you asked for a stronger model than tiny" in stronger.route["why"]
    assert any(r.startswith("escalation:") for r in stronger.route["reasons"])
    assert cloud.requests[-1]["messages"][-1]["content"] == "hello world"

    local_row = UsageRecord.objects.get(model_name="tiny")
    assert str(local_row.code) == local.route["ledger"]
    assert Escalation.objects.get().ledger_code == local_row.code
    examples = learning.collect()
    # one example: the local answer, labelled by the action itself (not also
    # as "no complaint" or by the timing inference); the cloud answer is none
    [example] = examples
    assert (example.label, example.signal) == (1, learning.ESCALATED)
    assert example.features == local_row.complexity_features
    page = session.get(f"/chat/c/{conversation.code}/").text
    assert "/escalation/" not in page  # cloud-mini is the strongest tier


def test_a_ledger_code_that_is_not_a_uuid_is_ignored(models, member, conversation):
    answer = local_answer(conversation)
    answer.route["ledger"] = "not-a-uuid"
    answer.save()
    answer_escalate(user=member.user, conversation=conversation, answer_id=answer.pk)
    signal = Escalation.objects.get()
    assert signal.ledger_code is None and "lexical" in signal.complexity_features


def test_an_escalation_hands_over_the_history_the_stronger_model_can_hold(
    models, member, conversation
):
    conversation.model = "tiny"  # 2048 tokens: a quarter of it for the history
    conversation.save()
    for i in range(6):
        Message.objects.create(conversation=conversation, role="user", content="word " * 300)
        Message.objects.create(conversation=conversation, role="assistant", content=f"ok {i}")
    answer = local_answer(conversation)
    _, on_tiny = answer_request(answer_id=answer.pk)
    stronger = answer_escalate(user=member.user, conversation=conversation, answer_id=answer.pk)
    _, escalated = answer_request(answer_id=stronger.pk)
    assert len(on_tiny.messages) < len(escalated.messages) == 13
    assert escalated.messages[-1].content == on_tiny.messages[-1].content
