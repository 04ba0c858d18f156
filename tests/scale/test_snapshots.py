"""Catalogue and policy snapshots follow every change at once, not after the TTL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from apps.core import shared
from apps.core.shared import SharedVersion
from apps.providers.catalog import catalog_aget, catalog_invalidate
from apps.providers.models import LanguageModel
from tests.conftest import make_cloud_model
from tests.support.redis import redis_server_bin, temporary_redis


@pytest.fixture
def long_ttl(settings: Any) -> Iterator[None]:
    settings.HYBRIDHUB_CATALOG_TTL_SECONDS = 3600
    catalog_invalidate()
    yield
    catalog_invalidate()


def _names() -> set[str]:
    return set(asyncio.run(catalog_aget()).models)


@pytest.mark.django_db(transaction=True)
def test_catalogue_writes_reach_the_snapshot_despite_a_long_ttl(long_ttl, cloud):
    assert _names() == set()
    model = make_cloud_model(cloud.url, name="cloud-mini")
    assert _names() == {"cloud-mini"}
    model.enabled = False
    model.save()
    assert _names() == set()
    LanguageModel.objects.filter(pk=model.pk).delete()
    make_cloud_model(cloud.url, name="cloud-max")
    assert _names() == {"cloud-max"}


@pytest.fixture
def redis_url(settings, monkeypatch) -> Iterator[str]:
    if redis_server_bin() is None:
        pytest.skip("redis-server is not installed (Debian's redis-server; .ci/run has it)")
    with temporary_redis() as url:
        settings.REDIS_URL = url
        settings.HYBRIDHUB_SNAPSHOT_CHECK_SECONDS = 0
        monkeypatch.setattr(shared, "_sync_client", None)
        yield url
        monkeypatch.setattr(shared, "_sync_client", None)


def test_a_change_in_one_process_is_seen_by_another(redis_url):
    here, there = SharedVersion("policy-test"), SharedVersion("policy-test")  # two processes
    before = there.current()
    assert there.current() == before  # nothing changed: the snapshot stays
    here.bump()
    assert there.current() != before


def test_an_unreachable_redis_degrades_to_the_ttl(settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.HYBRIDHUB_SNAPSHOT_CHECK_SECONDS = 0
    monkeypatch.setattr(shared, "_sync_client", None)
    version = SharedVersion("catalog-test")
    version.bump()  # logged, not raised
    assert version.current() == (1, None)
    monkeypatch.setattr(shared, "_sync_client", None)
