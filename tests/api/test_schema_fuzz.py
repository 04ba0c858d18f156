"""A bounded, seeded schemathesis run against the published OpenAPI schema:
valid and invalid requests alike must never get a 5xx."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation import GenerationMode  # noqa: E402

# (operation path, generation mode) -> cases; a few hundred in all.
BUDGET = {
    ("/v1/chat/completions", GenerationMode.POSITIVE): 100,
    ("/v1/chat/completions", GenerationMode.NEGATIVE): 100,
    ("/v1/models", GenerationMode.POSITIVE): 5,
    ("/v1/models/{model_id}", GenerationMode.POSITIVE): 25,
    ("/v1/models/{model_id}", GenerationMode.NEGATIVE): 10,
}


@pytest.mark.timeout(600)
def test_no_request_from_the_schema_gets_a_5xx(hub, member, models):
    published = httpx.get(f"{hub.api}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(published).include(tag="OpenAI-compatible")
    operations = {op.ok().path: op.ok() for op in schema.get_all_operations()}
    assert set(operations) >= {path for path, _ in BUDGET}
    headers = {"Authorization": f"Bearer {member.key}"}
    failures: list[str] = []
    statuses: set[int] = set()
    for (path, mode), count in BUDGET.items():
        strategy = operations[path].as_strategy(generation_mode=mode)

        @given(case=strategy)
        @settings(
            max_examples=count, derandomize=True, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def call(case):
            response = case.call(base_url=hub.url, headers=headers, timeout=30)
            statuses.add(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r:.300} -> "
                                f"{response.status_code} {response.text[:300]}")  # fmt: skip

        call()
    assert not failures, "\n".join(failures[:5])
    assert {200, 400} <= statuses  # the run reached the views, answered and refused
