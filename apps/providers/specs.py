"""Providers and models as plain, immutable data (no Django, no I/O).

Routing and the policy engine work on these, so they can run anywhere: the
request path, the simulator, replay and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Runtimes the hub loads into its own process. They are one way of being
# on-prem: an OpenAI-compatible server (vLLM, llama.cpp's server, Ollama,
# TGI) in the on-prem zone is just as local (``is_local``).
IN_PROCESS_KINDS = ("local_ctransformers", "local_llama_cpp")
LOCAL_KINDS = IN_PROCESS_KINDS  # the old name

# What each runtime can do beyond plain text generation (the names are the
# request fields, GenerationParams.features). A function of the provider's
# kind, not a column: it changes with the adapter code, not with the row.
# Kinds not listed (cloud, OpenAI-compatible) forward every field.
_LOCAL_FEATURES: dict[str, frozenset[str]] = {
    # Its one penalty, repetition_penalty, divides a seen token's logit (CTRL's
    # rule); OpenAI's presence/frequency penalties subtract from it, by count
    # for frequency. No setting of one equals the other, so they are refused.
    "local_ctransformers": frozenset(),
    "local_llama_cpp": frozenset(
        {"response_format", "seed", "embeddings", "tools", "tool_choice", "parallel_tool_calls"}
        | {"logprobs", "top_logprobs", "presence_penalty", "frequency_penalty"}
    ),
}

# What an admin can say a model cannot do (LanguageModel.can_call_tools,
# can_structured_output), with the request fields each covers: the runtime's
# kind says what a server forwards, not what the model behind it can do.
CAPABILITIES: dict[str, frozenset[str]] = {
    "tools": frozenset({"tools", "tool_choice", "parallel_tool_calls"}),
    "structured_output": frozenset({"response_format"}),
}


@dataclass(frozen=True)
class ProviderSpec:
    id: int
    name: str
    kind: str
    privacy_zone: str
    base_url: str
    api_key_env: str
    timeout_seconds: float
    max_retries: int
    version: str  # changes whenever the row does; adapters rebuild on change
    replica_urls: tuple[str, ...] = ()  # more servers of the same models (replicas.py)

    @property
    def base_urls(self) -> tuple[str, ...]:
        return (self.base_url, *self.replica_urls)

    @property
    def is_local(self) -> bool:
        """Data sent here never leaves our machines: ``@local``, the privacy
        fallback, the analytics split and the route badge all go by this."""
        return self.privacy_zone == "on_prem"

    @property
    def in_process(self) -> bool:
        """Loaded into the hub's own process (needs a model file)."""
        return self.kind in IN_PROCESS_KINDS


@dataclass(frozen=True)
class LocalSpec:
    model_file: str
    model_type: str
    gpu_layers: int
    threads: int
    context_length: int
    chat_template: str
    custom_chat_template: str
    max_queue: int
    queue_timeout_seconds: float


@dataclass(frozen=True)
class ModelSpec:
    id: int
    name: str
    provider: ProviderSpec
    upstream_id: str
    context_window: int
    input_price_per_mtok: int
    output_price_per_mtok: int
    team_ids: frozenset[int]  # empty: every team
    fallback_names: tuple[str, ...]
    local: LocalSpec | None
    version: str
    tier: int = 0  # capability tier 1-3; 0: from what the model is (policy.capability)
    unable: frozenset[str] = frozenset()  # CAPABILITIES an admin said it lacks

    def allowed_for(self, team_id: int | None) -> bool:
        return not self.team_ids or team_id in self.team_ids

    def cost_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        """Integer micro-dollars, rounded up so spend is never under-counted."""
        total = prompt_tokens * self.input_price_per_mtok
        total += completion_tokens * self.output_price_per_mtok
        return -(-total // 1_000_000)


def unsupported_features(model: ModelSpec, features: frozenset[str]) -> frozenset[str]:
    """The request fields in ``features`` that ``model`` cannot honour: its
    runtime does not, or an admin said the model cannot (``unable``)."""
    lacking: frozenset[str] = frozenset()
    for name in model.unable:
        lacking |= CAPABILITIES[name] & features
    supported = _LOCAL_FEATURES.get(model.provider.kind)
    return lacking if supported is None else lacking | (features - supported)


def capabilities(model: ModelSpec) -> dict[str, str]:
    """For each of CAPABILITIES: "yes", "no" (an admin said so) or "not in
    this runtime" (its kind cannot, whatever the model): what the console shows."""
    supported = _LOCAL_FEATURES.get(model.provider.kind)
    out = {}
    for name, fields in CAPABILITIES.items():
        if supported is not None and not fields <= supported:
            out[name] = "not in this runtime"
        else:
            out[name] = "no" if name in model.unable else "yes"
    return out


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    loaded_at: float = 0.0

    def get(self, name: str) -> ModelSpec | None:
        return self.models.get(name)

    def for_team(self, team_id: int | None) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.allowed_for(team_id)]
