from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_authenticate, api_key_create, api_key_revoke


def test_key_is_stored_hashed_with_a_visible_prefix(member):
    issued = api_key_create(user=member.user, team=member.team, name="ci")
    row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.secret.startswith(f"hh_{row.prefix}_")
    assert issued.secret not in row.secret_hash
    assert len(row.secret_hash) == 64


def test_authenticate_accepts_the_key_and_records_last_use(member):
    issued = api_key_create(user=member.user, team=member.team, name="ci")
    found = api_key_authenticate(secret=issued.secret)
    assert found is not None and found.pk == issued.api_key.pk
    assert found.team == member.team and found.user == member.user
    assert ApiKey.objects.get(pk=found.pk).last_used_at is not None


@pytest.mark.parametrize("mangle", [lambda s: s[:-1] + "x", lambda s: "hh_nope_" + s, lambda s: ""])
def test_authenticate_rejects_wrong_keys(member, mangle):
    assert api_key_authenticate(secret=mangle(member.key)) is None


def test_revoked_key_and_inactive_user_are_refused(member):
    api_key_revoke(api_key=ApiKey.objects.get(user=member.user))
    assert api_key_authenticate(secret=member.key) is None

    issued = api_key_create(user=member.user, team=member.team, name="again")
    member.user.is_active = False
    member.user.save()
    assert api_key_authenticate(secret=issued.secret) is None


def test_last_used_is_not_rewritten_on_every_request(member):
    recent = timezone.now() - timedelta(seconds=5)
    ApiKey.objects.filter(user=member.user).update(last_used_at=recent)
    api_key_authenticate(secret=member.key)
    assert ApiKey.objects.get(user=member.user).last_used_at == recent


def test_keys_only_for_members(member, outsider):
    with pytest.raises(ValidationError):
        api_key_create(user=outsider.user, team=member.team, name="sneaky")


def test_management_command_prints_a_working_key(member):
    out = StringIO()
    call_command("create_api_key", user="mia", team="eng", name="cli", stdout=out)
    assert api_key_authenticate(secret=out.getvalue().strip()) is not None
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_key", user="nobody", team="eng", stdout=out)


def test_management_command_refuses_non_members(member, outsider):
    with pytest.raises(CommandError, match="not a member"):
        call_command("create_api_key", user="otto", team="eng", stdout=StringIO())


def test_admin_shows_the_key_once_and_stores_only_its_hash(admin_client, member):
    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"name": "from-admin", "user": member.user.pk, "team": member.team.pk},
    )
    # On a page of its own, not in a message (whose cookie would carry it).
    assert not list(response.context["messages"])
    secret = response.content.decode().split('<code id="new-key">')[1].split("</code>")[0]
    assert api_key_authenticate(secret=secret).name == "from-admin"
    listing = admin_client.get("/admin/accounts/apikey/").content.decode()
    assert secret not in listing


def test_admin_refuses_a_key_for_a_non_member(admin_client, member, outsider):
    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"name": "x", "user": outsider.user.pk, "team": member.team.pk},
    )
    assert response.status_code == 200
    assert "not a member" in response.content.decode()
    assert not ApiKey.objects.filter(name="x").exists()
