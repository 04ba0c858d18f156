"""The learning job: recorded signals become examples (features only), a
refit is proposed in the draft, and nothing is ever published."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.analytics import learning
from apps.analytics.models import AskedAgain
from apps.chat.models import Conversation, Message
from apps.gateway.models import UsageRecord
from apps.policy import difficulty
from apps.policy.models import LearningRun, PolicyVersion
from apps.policy.services import policy_published_get

pytestmark = pytest.mark.django_db

HARD_FEATURES = {f: 0.0 for f in difficulty.FEATURES} | {"numbers": 1.0, "operations": 1.0}
EASY_FEATURES = {f: 0.0 for f in difficulty.FEATURES} | {"log_tokens": 0.3}


def record(
    member, features, *, zone="on_prem", requested="auto", when=None, source="chat", confidence=None
):
    # Folded: the re-asks among these rows are the ones traffic() records
    # by hand, not what the fold would find in rows ten minutes apart.
    row = UsageRecord.objects.create(
        folded=True,
        source=source,
        answer_confidence=confidence,
        user=member.user,
        team=member.team,
        requested_model=requested,
        model_name="small" if zone == "on_prem" else "gpt",
        privacy_zone=zone,
        complexity=difficulty.score(features).score,
        complexity_features=features,
        status="ok",
    )
    if when is not None:
        UsageRecord.objects.filter(pk=row.pk).update(created_at=when)
        row.refresh_from_db()
    return row


def traffic(member, hard=20, easy=20):
    """Local answers to arithmetic that users re-ask or thumb down, and
    local small talk nobody complains about."""
    conversation = Conversation.objects.create(user=member.user, team=member.team)
    base = timezone.now() - timezone.timedelta(days=1)
    for i in range(hard):
        at = base + timezone.timedelta(minutes=10 * i)
        row = record(member, HARD_FEATURES, when=at)
        if i % 2:
            AskedAgain.objects.create(
                created_at=at, code=row.code, team_id=member.team.pk, model_name="small",
                then_model="gpt", then_local=False,
            )  # fmt: skip
        else:
            answer = Message.objects.create(
                conversation=conversation, role="assistant", route={"local": True}, feedback=-1
            )
            Message.objects.filter(pk=answer.pk).update(created_at=at)
    for i in range(easy):
        record(member, EASY_FEATURES, when=base + timezone.timedelta(minutes=10 * i + 5))


def test_signals_become_labelled_examples_without_text(member):
    traffic(member, hard=4, easy=3)
    examples = learning.collect()
    signals = sorted(e.signal for e in examples)
    assert signals.count("asked again on a cloud model") == 2
    assert signals.count("thumbs down on a local answer") == 2
    assert signals.count("local answer, no complaint") == 3
    assert {e.label for e in examples if "complaint" in e.signal} == {0}
    assert all(set(e.features) == set(difficulty.FEATURES) for e in examples)


def test_cloud_answers_to_easy_scored_prompts_asked_for_explicitly_count_as_hard(member):
    record(member, EASY_FEATURES, zone="vendor", requested="gpt")
    [example] = learning.collect()
    assert (example.label, example.signal) == (1, "cloud model asked for an easy-scored prompt")


def test_local_answers_the_model_was_unsure_of_count_as_hard(member):
    unsure_below = difficulty.UNSURE_BELOW
    for source in ("chat", "api"):
        record(member, HARD_FEATURES, source=source, confidence=unsure_below - 0.01)
        record(member, EASY_FEATURES, source=source, confidence=unsure_below)
    record(member, HARD_FEATURES, zone="vendor", requested="gpt", confidence=0.1)  # not local
    examples = sorted((e.label, e.signal) for e in learning.collect())
    assert examples == [
        (0, "local answer, no complaint"),  # chat, sure enough; a sure API answer says nothing
        (1, learning.UNSURE),
        (1, learning.UNSURE),
    ]


def test_proposal_learns_the_pattern_and_only_writes_a_draft(member):
    published = policy_published_get()
    traffic(member)
    # Learning the pattern widens the gap between what users complained
    # about and what they did not (the hard score alone may not rise: the
    # shipped weights can already score it high and the refit lowers the bias).
    before = difficulty.score(HARD_FEATURES).score - difficulty.score(EASY_FEATURES).score
    call_command("learn_routing")
    assert PolicyVersion.objects.get(status="published").pk == published.pk
    assert PolicyVersion.objects.get(pk=published.pk).document == published.document
    draft = PolicyVersion.objects.get(status="draft")
    team_weights = draft.document["teams"][str(member.team.pk)]["complexity_weights"]
    after = (
        difficulty.score(HARD_FEATURES, team_weights).score
        - difficulty.score(EASY_FEATURES, team_weights).score
    )
    assert after > before
    runs = {run.team_id: run for run in LearningRun.objects.all()}
    assert set(runs) == {None, member.team.pk}
    team_run = runs[member.team.pk]
    assert team_run.examples == 40 and team_run.draft_number == draft.number
    assert team_run.signals["local answer, no complaint"] == 20
    assert team_run.auc_after >= team_run.auc_before


def test_too_few_examples_propose_nothing(member):
    traffic(member, hard=3, easy=3)
    assert learning.run() == []
    assert not PolicyVersion.objects.filter(status="draft").exists()
    assert not LearningRun.objects.exists()
