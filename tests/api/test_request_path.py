"""The completion path's database work: a key authenticated from this
process's cache is still re-checked on every request (revocation, expiry,
membership and rate limits act at once), and the gateway reaches the
database in two thread hops per request (docs/decisions/0006)."""

import asyncio
from datetime import timedelta

import openai
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.models import ApiKey, Membership
from apps.core.chat_types import ChatMessage, GenerationParams
from apps.gateway import ledger, services
from apps.gateway.models import UsageRecord
from apps.gateway.services import Caller, ChatRequest, completion_start

HI = [{"role": "user", "content": "hi"}]


def _complete(client):
    return client.chat.completions.create(model="cloud-mini", messages=HI)


def _key(member):
    return ApiKey.objects.get(user=member.user, team=member.team)


@pytest.mark.parametrize(
    "take_away",
    [
        pytest.param(lambda m: ApiKey.objects.filter(pk=_key(m).pk).update(
            revoked_at=timezone.now()), id="revoked"),
        pytest.param(lambda m: ApiKey.objects.filter(pk=_key(m).pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)), id="expired"),
        pytest.param(lambda m: User.objects.filter(pk=m.user.pk).update(is_active=False),
                     id="user-deactivated"),
        pytest.param(lambda m: Membership.objects.filter(user=m.user, team=m.team).delete(),
                     id="left-the-team"),
    ],
)  # fmt: skip
def test_a_cached_key_that_stopped_working_is_refused_on_the_next_request(
    client, member, models, take_away
):
    _complete(client)
    _complete(client)  # the second one authenticates from the cache
    assert UsageRecord.objects.count() == 2

    take_away(member)

    with pytest.raises(openai.AuthenticationError) as refused:
        _complete(client)
    assert refused.value.body["code"] == "invalid_api_key"
    assert UsageRecord.objects.count() == 2  # nobody to charge: no ledger row


def test_a_new_rate_limit_applies_to_a_cached_key_at_once(client, member, models):
    _complete(client)
    ApiKey.objects.filter(pk=_key(member).pk).update(rpm_limit=1)
    codes = []
    for _ in range(3):  # two of them fall in one clock minute, whatever the time
        try:
            _complete(client)
        except openai.RateLimitError as exc:
            codes.append(exc.body["code"])
    assert "rate_limited" in codes


def test_a_wrong_secret_with_a_cached_prefix_is_refused(client, member, hub, models):
    _complete(client)
    prefix, _, rest = member.key.rpartition("_")
    forged = openai.OpenAI(base_url=hub.api, api_key=f"{prefix}_{'x' * len(rest)}", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        _complete(forged)


@pytest.mark.django_db(transaction=True)
def test_a_completion_reaches_the_database_in_two_thread_hops(member, cloud_model, monkeypatch):
    """One hop before dispatch (key, limits, budget signal, decision,
    reservation) and one after (ledger row, settlement); the rollups are
    folded later, on the ledger writer's own thread (decision 0010)."""
    hops = []
    real = services.sync_to_async

    def counting(func, *args, **kwargs):
        hops.append(getattr(func, "__qualname__", repr(func)))
        return real(func, *args, **kwargs)

    monkeypatch.setattr(services, "sync_to_async", counting)
    monkeypatch.setattr(ledger, "sync_to_async", counting)  # the ledger's group commit
    caller = Caller(user_id=member.user.pk, team_id=member.team.pk, api_key_id=None)
    chat = ChatRequest(
        model=cloud_model.name,
        messages=(ChatMessage("user", "Say something."),),
        params=GenerationParams(max_tokens=8, stream=False),
    )

    async def run():
        completion = await completion_start(caller=caller, request=chat)
        return await completion.collect()

    assert asyncio.run(run())
    assert hops == ["_Admission.run", "ledger_batch_write"]
    assert UsageRecord.objects.get().status == "ok"


@pytest.mark.django_db
def test_the_recheck_stamps_last_use_at_most_once_a_minute(member):
    from apps.accounts.key_cache import api_key_recheck

    key = _key(member)
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=long_ago, rpm_limit=7)

    limits = api_key_recheck(api_key_id=key.pk)
    assert (limits.rpm_limit, limits.tpm_limit) == (7, None)
    stamped = ApiKey.objects.get(pk=key.pk).last_used_at
    assert stamped > long_ago

    api_key_recheck(api_key_id=key.pk)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == stamped
    assert api_key_recheck(api_key_id=key.pk + 1000) is None
