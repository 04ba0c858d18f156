"""The policy console over HTTP, as a browser (and htmx) would use it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Membership
from apps.gateway.models import UsageRecord
from apps.policy.classification import DETECTOR_PACKS
from apps.policy.complexity import DEFAULT_WEIGHTS
from apps.policy.detectors import ner
from apps.policy.models import PolicyAuditEntry, PolicyVersion
from apps.policy.services import policy_published_get, policy_working_get

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def org_admin(admin_client):
    policy_published_get()
    return admin_client


def rule_post(**fields):
    data = {"name": "Legal to local", "enabled": "on", "action": "route", "models": "@local"}
    data.update(fields)
    return data


def test_members_without_an_admin_role_are_refused(client, member):
    client.force_login(member.user)
    assert client.get("/policy/").status_code == 403
    client.logout()
    assert client.get("/policy/").status_code == 302  # to the login page


def test_org_admin_sees_every_section(org_admin):
    page = org_admin.get("/policy/").content.decode()
    for heading in (
        "Sensitivity levels",
        "Built-in detectors",
        "Routing rules",
        "Complexity weights",
    ):
        assert heading in page
    assert "Live: <strong>v1</strong>" in page


@pytest.mark.parametrize("active", [True, False])
def test_the_detectors_say_whether_names_in_running_text_are_found(org_admin, monkeypatch, active):
    """The NER model is a deployment setting, not a policy one: the admin who
    switches the person and address detectors sees which of them runs."""
    monkeypatch.setattr(ner, "active", lambda: active)
    page = org_admin.get("/policy/").content.decode()
    assert ('id="ner-status"' in page) and (("NER model is off" in page) is not active)
    response = org_admin.post("/policy/detectors/packs/uk/", **HX)  # the section alone
    assert ("found by the on-prem NER model" in response.content.decode()) is active


def test_adding_a_rule_answers_with_the_section_and_starts_a_draft(org_admin, team):
    response = org_admin.post("/policy/rules/", rule_post(teams=[team.pk], min_level="2"), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="rules"')
    assert 'id="draft-bar"' in html and 'hx-swap-oob="true"' in html
    assert "Legal to local" in html and "level ≥ confidential" in html
    version, document = policy_working_get()
    assert version.status == "draft"
    assert [r.name for r in document.rules][-2:] == [
        "Legal to local",
        "Everything else runs locally",
    ]
    assert PolicyAuditEntry.objects.get().summary == "Added rule 'Legal to local'"


def test_invalid_input_is_shown_inline_and_nothing_is_saved(org_admin):
    response = org_admin.post("/policy/rules/", rule_post(action="block", message=""), **HX)
    html = response.content.decode()
    assert "Not saved." in html and "needs a message" in html
    assert not PolicyVersion.objects.filter(status="draft").exists()

    response = org_admin.post("/policy/rules/", rule_post(min_complexity="7"), **HX)
    assert "less than or equal to 1" in response.content.decode()


def test_reorder_toggle_and_delete(org_admin):
    org_admin.post("/policy/rules/", rule_post(name="A"), **HX)
    rule_id = policy_working_get()[1].rules[-2].id
    org_admin.post(f"/policy/rules/{rule_id}/up/", **HX)
    assert [r.name for r in policy_working_get()[1].rules][1] == "A"
    org_admin.post(f"/policy/rules/{rule_id}/toggle/", **HX)
    assert not next(r for r in policy_working_get()[1].rules if r.id == rule_id).enabled
    org_admin.post(f"/policy/rules/{rule_id}/delete/", **HX)
    assert rule_id not in [r.id for r in policy_working_get()[1].rules]


def test_publish_and_roll_back_from_the_browser(org_admin):
    org_admin.post(
        "/policy/weights/",
        {name: "0.5" for name in DEFAULT_WEIGHTS},
        **HX,
    )
    published = org_admin.post("/policy/publish/", {"note": "flatter weights"}, follow=True)
    assert published.redirect_chain == [("/policy/", 302)]  # a reload cannot publish again
    page = published.content.decode()
    assert "Published v2." in page
    assert policy_published_get().note == "flatter weights"
    org_admin.post("/policy/versions/1/rollback/")
    assert policy_published_get().number == 3
    versions = org_admin.get("/policy/versions/").content.decode()
    assert "Rolled back to v1 (as v3)" in versions and "flatter weights" in versions


def test_bad_custom_regex_is_refused_with_a_reason(org_admin):
    data = {"name": "bad", "kind": "regex", "patterns": r"(\w+) \1", "level": "2", "label": ""}
    html = org_admin.post("/policy/custom/org/", data, **HX).content.decode()
    assert "Not saved." in html and "needs backtracking" in html
    good = {
        "name": "codenames",
        "kind": "keywords",
        "patterns": "bluebird\nredwing",
        "level": "2",
        "label": "",
    }
    html = org_admin.post("/policy/custom/org/", good, **HX).content.decode()
    assert "codenames" in html and "bluebird, redwing" in html


def test_team_admins_edit_only_their_teams_and_cannot_publish(client, team_admin, outsider):
    client.force_login(team_admin.user)
    page = client.get("/policy/").content.decode()
    assert "Engineering" in page and "Legal" not in page and "Routing rules" not in page
    client.post(f"/policy/teams/{team_admin.team.pk}/floor/", {"floor": "2"}, **HX)
    assert policy_working_get()[1].team(team_admin.team.pk).floor == 2
    assert (
        client.post(f"/policy/teams/{outsider.team.pk}/floor/", {"floor": "3"}, **HX).status_code
        == 403
    )
    assert client.post("/policy/publish/").status_code == 403
    assert client.post("/policy/rules/", rule_post(), **HX).status_code == 403


def test_simulator_explains_a_decision_and_escapes_the_text(org_admin, team, local_model):
    data = {
        "conversation": "<script>alert(1)</script> mail ann@corp.example",
        "team": team.pk, "source": "api", "model": "auto", "max_tokens": "100",
        "against": "published",
    }  # fmt: skip
    html = org_admin.post("/policy/simulate/", data, **HX).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert '<mark class="finding" title="EMAIL (email)">ann@corp.example</mark>' in html
    assert "confidential" in html and "Sensitive data stays on-prem" in html
    assert "tiny" in html and "Estimated cost" in html


def test_replay_shows_what_a_draft_would_change(org_admin, member, local_model, cloud_model):
    base = dict(
        team=member.team, user=member.user, source="api", requested_model="auto", status="ok",
        policy_version=1, rule_id="default", level=0, level_name="public", found_level=0,
        floor_level=0, complexity=0.1, complexity_features={"length": 0.1}, estimated_tokens=20,
        prompt_tokens=20, completion_tokens=10,
    )  # fmt: skip
    UsageRecord.objects.create(**base, model_name="tiny", privacy_zone="on_prem")
    UsageRecord.objects.create(
        **{**base, "level": 2, "level_name": "confidential", "found_level": 2},
        model_name="tiny",
        privacy_zone="on_prem",
    )
    old = UsageRecord.objects.create(**base, model_name="tiny", privacy_zone="on_prem")
    UsageRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))

    # Draft: public traffic now goes to the cloud first.
    org_admin.post(
        "/policy/rules/", rule_post(name="Public to cloud", models="@cloud", max_level="0"), **HX
    )
    html = org_admin.get("/policy/replay/?days=7").content.decode()
    assert "<td>Requests</td><td>2</td>" in html
    assert '<td>Destination changes</td><td colspan="2">1</td>' in html
    assert "would now go to a less private zone" in html
    assert "tiny (on_prem)" in html and "cloud-mini (vendor)" in html


def test_login_page_works(client, member):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "mia", "password": "pw-mia"})
    assert response.status_code == 302
    Membership.objects.filter(user=member.user).update(role="admin")
    assert client.get("/policy/").status_code == 200


def test_unknown_rule_actions_and_vanished_rules_are_refused(org_admin):
    assert org_admin.post("/policy/rules/default/explode/", **HX).status_code == 404
    html = org_admin.post("/policy/rules/gone/", rule_post(), **HX).content.decode()
    assert "That rule no longer exists." in html
    assert not PolicyVersion.objects.filter(status="draft").exists()


def test_national_packs_are_grouped_and_switched_on_in_one_click(org_admin):
    page = org_admin.get("/policy/").content.decode()
    assert 'id="pack-uk"' in page and "United Kingdom identifiers" in page
    assert "/policy/detectors/packs/eu/" in page
    detectors = policy_working_get()[1].detectors
    assert not any(detectors[name].enabled for name in DETECTOR_PACKS["uk"])

    response = org_admin.post("/policy/detectors/packs/uk/", **HX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="detectors"')
    detectors = policy_working_get()[1].detectors
    assert all(detectors[name].enabled for name in DETECTOR_PACKS["uk"])
    assert all(detectors[name].level == 3 for name in DETECTOR_PACKS["uk"])
    assert not any(detectors[name].enabled for name in DETECTOR_PACKS["us"])
    assert PolicyAuditEntry.objects.get().summary == "Enabled the UK identifier pack"
    assert org_admin.post("/policy/detectors/packs/xx/", **HX).status_code == 404


def test_only_org_admins_enable_packs(client, team_admin):
    client.force_login(team_admin.user)
    assert client.post("/policy/detectors/packs/uk/", **HX).status_code == 403
