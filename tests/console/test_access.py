"""Team admins see their own teams only: in diffs and audit, in the simulator;
malformed or team-less console paths are refused."""

import pytest

from apps.policy.services import policy_publish, policy_published_get, policy_working_get

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def detector(name, word):
    return {"name": name, "kind": "keywords", "patterns": word, "level": "2", "label": ""}


@pytest.fixture
def two_teams(admin_client, team, outsider):
    """Org patterns and each team's confidential keywords, edited and published."""
    policy_published_get()
    admin_client.post("/policy/custom/org/", detector("org-codes", "orgsecretpattern"), **HX)
    admin_client.post(f"/policy/custom/{team.pk}/", detector("eng-words", "engkeyword"), **HX)
    admin_client.post(
        f"/policy/custom/{outsider.team.pk}/", detector("legal-words", "legalkeyword"), **HX
    )
    policy_publish(actor=None)  # type: ignore[arg-type]
    return team, outsider.team


def test_team_admin_sees_only_their_teams_part_of_the_audit(client, team_admin, two_teams):
    client.force_login(team_admin.user)
    page = client.get("/policy/versions/").content.decode()
    assert "engkeyword" in page
    assert "legalkeyword" not in page and "legal-words" not in page
    assert "orgsecretpattern" not in page and "org-codes" not in page


def test_org_admin_sees_whole_diffs(admin_client, two_teams):
    page = admin_client.get("/policy/versions/").content.decode()
    assert "engkeyword" in page and "legalkeyword" in page and "orgsecretpattern" in page


def test_simulator_offers_and_accepts_only_the_admins_teams(client, team_admin, two_teams):
    client.force_login(team_admin.user)
    page = client.get("/policy/simulate/").content.decode()
    assert "Engineering" in page and "Legal" not in page
    legal = two_teams[1]
    data = {
        "conversation": "hello", "team": legal.pk, "source": "api", "model": "auto",
        "max_tokens": "10", "against": "published",
    }  # fmt: skip
    html = client.post("/policy/simulate/", data).content.decode()
    assert "Legal" not in html and "legalkeyword" not in html
    assert "Select a valid choice" in html


@pytest.mark.parametrize(
    "path",
    [
        "/policy/custom/²/", "/policy/custom/٣/", "/policy/custom/007/", "/policy/custom/0/",
        "/policy/custom/99999/", "/policy/custom/-1/", "/policy/custom/1e3/",
        "/policy/custom/²/x/delete/", "/policy/custom/99999/x/delete/",
        "/policy/teams/99999/floor/", "/policy/teams/0/floor/",
    ],
)  # fmt: skip
def test_paths_that_name_no_team_are_not_found(admin_client, team, path):
    policy_published_get()
    response = admin_client.post(path, {**detector("x", "y"), "floor": "1"}, **HX)
    assert response.status_code == 404
    teams = policy_working_get()[1].teams
    assert set(teams) <= {str(team.pk)}


def test_a_team_admin_cannot_reach_another_team_by_any_spelling(client, team_admin, outsider):
    policy_published_get()
    client.force_login(team_admin.user)
    other = outsider.team.pk
    for path in (f"/policy/custom/{other}/", f"/policy/custom/{other}/x/delete/"):
        assert client.post(path, detector("x", "y"), **HX).status_code == 403
    assert client.post(f"/policy/teams/{other}/floor/", {"floor": "3"}, **HX).status_code == 403
    assert str(other) not in policy_working_get()[1].teams
