"""Personas, factories and real servers shared by the whole suite.

- ``cloud``: a real loopback HTTP server speaking the OpenAI wire format.
- ``hub``: HybridHub itself, served by uvicorn on 127.0.0.1.
- ``tiny_gguf``: a random-weight llama GGUF that ctransformers really runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.accounts.models import Membership, Team
from apps.accounts.services import api_key_create
from apps.budgets.leases import leases_reset
from apps.providers.adapters import adapters_close
from apps.providers.catalog import catalog_invalidate
from apps.providers.models import LanguageModel, ModelFallback, PrivacyZone, Provider
from tests.support.openai_mock import MockCloud, ServerThread
from tests.support.tiny_gguf import write_tiny_llama_gguf

# --- process exit -------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Free native models while their libraries are loaded, then leave without
    # running interpreter teardown, where ctransformers is known to crash: the
    # run's result must not depend on how the native destructors race.
    adapters_close()
    session.config._hybridhub_exitstatus = exitstatus  # type: ignore[attr-defined]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    status = getattr(config, "_hybridhub_exitstatus", None)
    if status is not None and os.environ.get("HYBRIDHUB_TEST_HARD_EXIT", "1") == "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(status))


# --- per-process state ---------------------------------------------------------


@pytest.fixture(autouse=True)
def _budget_leases_forgotten() -> Iterator[None]:
    """Budget leases live in the process (apps/budgets/leases.py) while each
    test's rows are rolled back: no test may find another's lease."""
    yield
    leases_reset()


# --- servers ------------------------------------------------------------------


@pytest.fixture(scope="session")
def cloud_server() -> Iterator[tuple[MockCloud, ServerThread]]:
    mock = MockCloud()
    server = ServerThread(mock).start()
    yield mock, server
    server.stop()


@pytest.fixture
def cloud(cloud_server: tuple[MockCloud, ServerThread]) -> MockCloud:
    """The mock vendor, reset for each test; ``cloud.url`` is its base URL."""
    mock, server = cloud_server
    mock.__init__()  # type: ignore[misc]
    mock.url = server.url + "/v1"  # type: ignore[attr-defined]
    return mock


@pytest.fixture(scope="session")
def _hub_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[ServerThread]:
    from hybridhub.asgi import application

    with django_db_blocker.unblock():  # start-up tidies interrupted chat answers
        server = ServerThread(application).start()
    yield server
    server.stop()


@dataclass
class Hub:
    url: str

    @property
    def api(self) -> str:
        return self.url + "/v1"


@pytest.fixture
def hub(_hub_server: ServerThread, transactional_db: None) -> Iterator[Hub]:
    """HybridHub on a real ASGI server; data is committed so it can see it.
    The models a test loaded are freed after it (each test's rows are new)."""
    catalog_invalidate()
    yield Hub(url=_hub_server.url)
    adapters_close()


# --- models ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def slow_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wider and deeper: a few milliseconds a token, so a 2000-token answer
    takes seconds and a test can act in the middle of it."""
    path = tmp_path_factory.mktemp("models") / "slow-llama.gguf"
    return write_tiny_llama_gguf(path, n_embd=512, n_ff=2048, n_layer=4)


def make_local_model(path: Path, *, name: str = "tiny", **fields: Any) -> LanguageModel:
    provider, _ = Provider.objects.get_or_create(
        name="local-ct",
        defaults={"kind": Provider.Kind.LOCAL_CTRANSFORMERS, "privacy_zone": PrivacyZone.ON_PREM},
    )
    fields.setdefault("context_window", 2048)
    fields.setdefault("threads", 1)
    return LanguageModel.objects.create(
        provider=provider, name=name, model_file=str(path), model_type="llama", **fields
    )


def make_cloud_model(
    base_url: str, *, name: str = "cloud-mini", provider: str = "mockai", **fields: Any
) -> LanguageModel:
    vendor, _ = Provider.objects.get_or_create(
        name=provider,
        defaults={
            "kind": Provider.Kind.OPENAI_COMPATIBLE,
            "privacy_zone": PrivacyZone.VENDOR,
            "base_url": base_url,
            "api_key_env": "MOCKAI_API_KEY",
            "timeout_seconds": 5,
            "max_retries": 2,
        },
    )
    fields.setdefault("context_window", 128000)
    fields.setdefault("input_price_per_mtok", 150_000)
    fields.setdefault("output_price_per_mtok", 600_000)
    return LanguageModel.objects.create(
        provider=vendor, name=name, upstream_id=f"up-{name}", **fields
    )


def add_fallbacks(model: LanguageModel, *fallbacks: LanguageModel) -> None:
    for position, fallback in enumerate(fallbacks):
        ModelFallback.objects.create(model=model, fallback=fallback, position=position)


@pytest.fixture
def local_model(tiny_gguf: Path, db: None) -> LanguageModel:
    return make_local_model(tiny_gguf)


@pytest.fixture
def cloud_model(cloud: MockCloud, db: None) -> LanguageModel:
    return make_cloud_model(cloud.url)  # type: ignore[attr-defined]


# --- personas -------------------------------------------------------------------


@dataclass
class Persona:
    user: User
    team: Team
    key: str  # a live API key for the team


@pytest.fixture
def team(db: None) -> Team:
    return Team.objects.create(name="Engineering", slug="eng")


def _persona(username: str, team: Team, role: str = Membership.Role.MEMBER) -> Persona:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-" + username)
    Membership.objects.create(user=user, team=team, role=role)
    return Persona(user=user, team=team, key=api_key_create(user=user, team=team, name="t").secret)


@pytest.fixture
def member(team: Team) -> Persona:
    return _persona("mia", team)


@pytest.fixture
def team_admin(team: Team) -> Persona:
    return _persona("ada", team, Membership.Role.ADMIN)


@pytest.fixture
def outsider(db: None) -> Persona:
    other = Team.objects.create(name="Legal", slug="legal")
    return _persona("otto", other)
