"""Keys follow membership; keys are shown once and never travel in a cookie;
revocation is one-way; the usage ledger cannot be edited or deleted."""

import openai
import pytest
from django.contrib.auth.models import User

from apps.accounts.models import ApiKey, Membership
from apps.accounts.services import api_key_authenticate, api_key_create
from apps.gateway.models import UsageRecord


def test_a_removed_members_key_stops_at_once_and_says_so(hub, member, client):
    api = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=10)
    assert next(m.id for m in api.models.list()) == "auto"

    Membership.objects.filter(user=member.user, team=member.team).delete()

    with pytest.raises(openai.AuthenticationError):
        api.models.list()
    with pytest.raises(openai.AuthenticationError):
        api.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    client.force_login(member.user)
    listing = client.get("/chat/keys/").content.decode()
    assert "no longer in Engineering" in listing and "Revoke</button>" not in listing


def test_a_key_for_one_team_does_not_follow_the_user_into_another(member, outsider):
    Membership.objects.create(user=member.user, team=outsider.team)
    other = api_key_create(user=member.user, team=outsider.team, name="legal")
    Membership.objects.filter(user=member.user, team=member.team).delete()
    assert api_key_authenticate(secret=member.key) is None
    assert api_key_authenticate(secret=other.secret) is not None


@pytest.fixture
def staff_client(client, db):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-root")
    client.force_login(admin)
    return client


def test_admin_shows_a_new_key_once_on_a_no_store_page_not_in_a_cookie(staff_client, member):
    response = staff_client.post(
        "/admin/accounts/apikey/add/",
        {"name": "ci", "user": member.user.pk, "team": member.team.pk},
    )
    key = ApiKey.objects.get(name="ci")
    page = response.content.decode()
    assert response.status_code == 200
    secret = page.split('<code id="new-key">')[1].split("</code>")[0]
    assert secret.startswith(f"hh_{key.prefix}_") and api_key_authenticate(secret=secret)
    assert "no-store" in response["Cache-Control"]
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in morsel.value for morsel in staff_client.cookies.values())
    listing = staff_client.get("/admin/accounts/apikey/").content.decode()
    assert secret not in listing


def test_revocation_is_one_way_in_the_admin(staff_client, member):
    key = ApiKey.objects.get(user=member.user)
    staff_client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    revoked_at = key.revoked_at
    assert revoked_at is not None

    # The change form has no revoked_at input; posting one anyway changes nothing.
    form = staff_client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert 'name="revoked_at' not in form
    staff_client.post(
        f"/admin/accounts/apikey/{key.pk}/change/",
        {"name": "renamed", "revoked_at_0": "", "revoked_at_1": ""},
    )
    key.refresh_from_db()
    assert key.revoked_at == revoked_at and api_key_authenticate(secret=member.key) is None


def test_usage_ledger_is_append_only_in_the_admin(staff_client, member):
    row = UsageRecord.objects.create(team=member.team, user=member.user, status="ok")
    changelist = staff_client.get("/admin/gateway/usagerecord/").content.decode()
    assert "delete_selected" not in changelist
    staff_client.post(
        "/admin/gateway/usagerecord/",
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    assert staff_client.get(f"/admin/gateway/usagerecord/{row.pk}/delete/").status_code == 403
    staff_client.post(f"/admin/gateway/usagerecord/{row.pk}/delete/", {"post": "yes"})
    staff_client.post(f"/admin/gateway/usagerecord/{row.pk}/change/", {"status": "error"})
    assert UsageRecord.objects.get(pk=row.pk).status == "ok"
    detail = staff_client.get(f"/admin/gateway/usagerecord/{row.pk}/change/").content.decode()
    assert 'name="status"' not in detail and "ok" in detail
