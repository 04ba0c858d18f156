"""Change requests (issue #13, bug 8) through the console's HTTP views."""

import pytest
from django.contrib.auth.models import User

from apps.policy.models import PolicyChangeRequest, PolicyVersion
from apps.policy.services import policy_published_get

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def asked(client, team_admin):
    """The team admin raised their floor and asked for it to be published."""
    policy_published_get()
    client.force_login(team_admin.user)
    client.post(f"/policy/teams/{team_admin.team.pk}/floor/", {"floor": "2"}, **HX)
    response = client.post(f"/policy/requests/teams/{team_admin.team.pk}/", {"note": "legal"})
    assert response.status_code == 302
    return PolicyChangeRequest.objects.get()


@pytest.fixture
def root(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    return user


def test_asking_twice_for_one_draft_is_one_request(client, asked, team_admin):
    client.post(f"/policy/requests/teams/{team_admin.team.pk}/", {"note": "again"})
    assert PolicyChangeRequest.objects.get().note == "again"
    assert "floor confidential" in asked.changes


def test_nothing_to_ask_about_is_refused_readably(client, team_admin):
    policy_published_get()
    client.force_login(team_admin.user)
    page = client.post(f"/policy/requests/teams/{team_admin.team.pk}/", follow=True)
    assert "no changes to Engineering" in page.content.decode()
    assert not PolicyChangeRequest.objects.exists()


def test_team_admins_cannot_decide_and_outsiders_cannot_ask(client, asked, outsider):
    assert client.post(f"/policy/requests/{asked.pk}/publish/").status_code == 403
    client.force_login(outsider.user)
    assert client.post(f"/policy/requests/teams/{asked.team_id}/").status_code == 403


def test_reject_needs_a_reply(client, asked, root):
    client.force_login(root)
    page = client.post(f"/policy/requests/{asked.pk}/reject/", {"reply": " "}, follow=True)
    assert "Say why" in page.content.decode()
    client.post(f"/policy/requests/{asked.pk}/reject/", {"reply": "too strict"})
    asked.refresh_from_db()
    assert (asked.status, asked.reply, asked.decided_by) == ("rejected", "too strict", root)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/policy/publish/", "published"), ("/policy/discard/", "discarded")],
)
def test_publishing_or_discarding_the_draft_closes_its_requests(client, asked, root, path, status):
    client.force_login(root)
    assert client.post(path).status_code == 302
    asked.refresh_from_db()
    assert asked.status == status and asked.decided_by == root
    assert not PolicyVersion.objects.filter(status="draft").exists()


def test_publish_from_the_request(client, asked, root):
    client.force_login(root)
    client.post(f"/policy/requests/{asked.pk}/publish/")
    asked.refresh_from_db()
    assert asked.status == "published"
    assert policy_published_get().note == "Engineering: legal"
    again = client.post(f"/policy/requests/{asked.pk}/publish/", follow=True).content.decode()
    assert "already decided" in again
    assert client.post(f"/policy/requests/{asked.pk}/explode/").status_code == 404
