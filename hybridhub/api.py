"""The assembled HTTP API: per-app routers, one error body."""

from ninja import NinjaAPI

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
