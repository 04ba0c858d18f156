"""The assembled HTTP API: per-app routers, one error body."""

from ninja import NinjaAPI

from apps.analytics.api import router as analytics_router
from apps.api import errors
from apps.api.openai_router import router as openai_router
from apps.budgets.api import router as budgets_router

api = NinjaAPI(
    title="HybridHub",
    version="1",
    description=(
        "OpenAI-compatible gateway: point any OpenAI SDK at this base URL. "
        "Each answer says where it ran and why (X-HybridHub-Route / -Reason headers, "
        "and the `hybridhub` field)."
    ),
    urls_namespace="api",
)
errors.install(api)
api.add_router("/", openai_router)
api.add_router("/budgets", budgets_router)

# The management API (/api/v1/): session or personal API key, OpenAI-style errors.
management_api = NinjaAPI(
    title="HybridHub management",
    version="1",
    description="Analytics tables as JSON, the same numbers as the pages and their CSV exports.",
    urls_namespace="management",
)
errors.install(management_api)
management_api.add_router("/analytics/", analytics_router)
