"""The calibration page: curve from recorded traffic, operating point into
the draft (never published), readable errors, admins only."""

import pytest

from apps.gateway.models import UsageRecord
from apps.policy.models import LearningRun, PolicyVersion
from apps.policy.services import policy_published_get

pytestmark = pytest.mark.django_db
URL = "/policy/calibration/"


@pytest.fixture
def org_admin(admin_client):
    policy_published_get()
    return admin_client


def traffic(n=100):
    for i in range(n):
        UsageRecord.objects.create(
            requested_model="auto", model_name="small", privacy_zone="on_prem",
            complexity=i / n, complexity_features={"lexical": 0.0}, status="ok",
        )  # fmt: skip


def draft_threshold():
    draft = PolicyVersion.objects.get(status="draft")
    rule = next(r for r in draft.document["rules"] if r["id"] == "complex")
    return rule["when"]["min_complexity"]


def test_page_shows_the_curve_and_the_current_threshold(org_admin):
    traffic()
    LearningRun.objects.create(examples=42, signals={"thumbs down on a local answer": 7},
                               threshold=0.4, changes={"numbers": [0.5, 1.2]})  # fmt: skip
    page = org_admin.get(URL).content.decode()
    assert "<svg" in page and "100 requests" in page
    assert "42" in page and "thumbs down on a local answer: 7" in page
    assert "numbers 0.50 → 1.20" in page


def test_target_share_sets_the_threshold_in_the_draft_only(org_admin):
    traffic()
    published = policy_published_get()
    response = org_admin.post(URL, {"target": "share", "value": "20"}, follow=True)
    assert "Replay it, then publish" in response.content.decode()
    assert draft_threshold() == pytest.approx(0.8)
    assert PolicyVersion.objects.get(status="published").pk == published.pk


def test_quality_first_sends_more_up_than_a_small_share(org_admin):
    traffic()
    org_admin.post(URL, {"target": "quality"})
    quality = draft_threshold()
    org_admin.post(URL, {"target": "share", "value": "5"})
    assert quality < draft_threshold()


def test_bad_input_is_a_readable_error_not_a_500(org_admin):
    traffic()
    response = org_admin.post(URL, {"target": "share", "value": "250"})
    assert response.status_code == 200
    assert "between 0 and 100%" in response.content.decode()
    response = org_admin.post(URL, {"target": "nonsense"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not PolicyVersion.objects.filter(status="draft").exists()


def test_no_traffic_says_so(org_admin):
    page = org_admin.get(URL).content.decode()
    assert "No recent traffic yet" in page
    response = org_admin.post(URL, {"target": "quality"}, follow=True)
    assert "No recent traffic to calibrate on yet" in response.content.decode()


def test_members_and_team_admins_cannot_change_it(client, member, team_admin):
    client.force_login(member.user)
    assert client.get(URL).status_code == 403
    client.force_login(team_admin.user)
    assert client.get(URL).status_code == 200
    assert client.post(URL, {"target": "quality"}).status_code == 403
