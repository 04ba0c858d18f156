"""The weekly review: what could have stayed local, what should have gone to
the cloud, and each request opened in the policy by its recorded signals."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client

from apps.analytics.review import week_of
from apps.chat.models import Conversation, Message
from tests.analytics.conftest import NOW, cloud, local, record


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _week() -> dict[str, str]:
    return {"week": NOW.date().isoformat()}


def test_cloud_requests_that_could_have_stayed_local(known, team_admin):
    cheap = record(user=team_admin.user, team_id=team_admin.team.pk, level=0,
                   level_name="public", complexity=0.05, estimated_tokens=30, prompt_tokens=30,
                   completion_tokens=20, cost_micros=555, **cloud())  # fmt: skip
    page = _client(known.staff).get("/analytics/review/", _week())
    assert page.status_code == 200
    table = {t.name: t for t in page.context["tables"]}["stay_local"]
    assert str(cheap.code) in table.links
    complex_one = next(r for r in known.rows if (r.complexity or 0) > 0.5)
    assert str(complex_one.code) not in table.links  # complex work belongs in the cloud
    assert table.totals[-1] >= 555  # the saving includes it
    assert f"/analytics/review/{cheap.code}/".encode() in page.content


def test_signals_open_in_the_policy_without_text(known, team_admin, outsider):
    theirs = next(r for r in known.rows if r.team_id == outsider.team.pk)
    ours = next(r for r in known.rows if r.team_id == team_admin.team.pk and r.model_name)
    client = _client(team_admin.user)
    page = client.get(f"/analytics/review/{ours.code}/")
    assert page.status_code == 200
    assert b"Published policy" in page.content and b"would go to" in page.content
    assert client.get(f"/analytics/review/{theirs.code}/").status_code == 404


def test_local_answers_that_should_have_gone_to_the_cloud(known, member, team_admin):
    first = record(user=member.user, team_id=member.team.pk, source="chat",
                   estimated_tokens=321, level_name="public", **local())  # fmt: skip
    record(user=member.user, team_id=member.team.pk, source="chat", estimated_tokens=321,
           created_at=NOW + timedelta(minutes=3), **cloud())  # fmt: skip
    # regenerated: the same history sent again, answered locally again
    again = record(user=team_admin.user, team_id=team_admin.team.pk, source="chat",
                   estimated_tokens=55, **local())  # fmt: skip
    record(user=team_admin.user, team_id=team_admin.team.pk, source="chat", estimated_tokens=55,
           created_at=NOW + timedelta(minutes=1), **local())  # fmt: skip
    # then a different question (another size) in the cloud: no signal
    record(user=team_admin.user, team_id=team_admin.team.pk, source="chat", estimated_tokens=56,
           created_at=NOW + timedelta(minutes=2), **cloud())  # fmt: skip
    conversation = Conversation.objects.create(user=member.user, team=member.team)
    Message.objects.create(conversation=conversation, role="assistant", feedback=-1,
                           route={"local": True, "model": "tiny", "level": "internal"})  # fmt: skip
    # the local model unsure of its own answer (a sure one is no signal)
    unsure = record(user=member.user, team_id=member.team.pk, source="api",
                    estimated_tokens=77, answer_confidence=0.42, **local())  # fmt: skip
    record(user=member.user, team_id=member.team.pk, source="api", estimated_tokens=78,
           answer_confidence=0.97, **local())  # fmt: skip
    page = _client(known.staff).get("/analytics/review/", _week())  # the message is from now
    table = {t.name: t for t in page.context["tables"]}["go_cloud"]
    signals = [row[-1] for row in table.rows]
    assert sorted(signals) == [
        "asked again on cloud-mini", "model unsure (0.42)", "regenerated", "thumbs down"
    ]  # fmt: skip
    assert {str(first.code), str(again.code), str(unsure.code)} <= set(table.links)


def test_week_changes_and_rules(known):
    page = _client(known.staff).get("/analytics/review/", _week())
    tables = {t.name: t for t in page.context["tables"]}
    changes = {row[0]: row for row in tables["changes"].rows}
    assert set(changes) == {"Requests", "Spend (USD)", "Cloud share (%)", "Latency p95 (ms)"}
    this_week = week_of(NOW.date().isoformat())
    in_week = [r for r in known.rows if week_of(r.created_at.date().isoformat()) == this_week]
    assert changes["Requests"][2] == len(in_week)
    assert tables["rules"].totals[1] == len(in_week)
