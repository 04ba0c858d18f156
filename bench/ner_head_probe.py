"""Can four encoder layers and a small learned head replace the NER model's six?

    .venv/bin/python bench/ner_head_probe.py              # collect, fit, build, compare
    .venv/bin/python -m bench.privacy_eval.run --split test --ner \
        --ner-graph var/ner-probe/head.onnx     # the privacy set with the probe's graph
    .venv/bin/python bench/ner_head_probe.py --layers 3 --kernel 1 --hidden 0   # linear, 3

An experiment, not part of the hub (decision 0005, fifth round: tried, not
shipped). The derived int8 graph (ner_graph) is cut after ``--layers`` of its
six encoder layers; a head is fitted with numpy to reproduce the full
graph's label probabilities (distillation: the six-layer graph labels the
text, no human labels) from the cut graph's hidden states of each word
piece and its ``--kernel`` neighbours, through ``--hidden`` ReLU units (0: a
linear head). The head becomes a ``Conv`` over the sequence, so the graph
keeps the shipped one's inputs and outputs and ``ner._Model`` reads it as it
reads the shipped one.

Training text: the privacy set's tune split (bench/privacy_eval) and the
paragraphs of the installed packages' own descriptions (their ``METADATA``,
prose full of product names: what the tune split lacks); each read through
ner_gate's windows, as the hub reads it. The figures printed are token
agreement with the six-layer graph on the test split (whether a token is
part of an entity, and its part); the privacy set's recall and false
positives come from ``bench.privacy_eval.run --ner-graph`` on the built file,
and ``tests/policy/test_ner.py`` shows the hand-written cases.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.policy.detectors import ner, ner_gate  # noqa: E402

OUT = ROOT / "var" / "ner-probe"
SET = ROOT / "bench" / "privacy_eval" / "data" / "set.jsonl"
HIDDEN_STATE = "/bert/encoder/layer.{}/output/LayerNorm/LayerNormalization_output_0"


def metadata_paragraphs(limit: int = 6000) -> list[str]:
    """Prose paragraphs of the installed packages' descriptions, shuffled (seed 1)."""
    site = Path(ner._model_directory()).parents[2]  # site-packages
    paragraphs = []
    for path in sorted(site.glob("*.dist-info/METADATA")):
        body = path.read_text(encoding="utf-8", errors="replace").partition("\n\n")[2]
        for paragraph in re.split(r"\n\s*\n", body):
            paragraph = paragraph.strip()
            letters = sum(ch.isalpha() for ch in paragraph)
            if 80 <= len(paragraph) <= 1500 and letters > 0.6 * len(paragraph):
                paragraphs.append(paragraph)
    random.Random(1).shuffle(paragraphs)
    return paragraphs[:limit]


def texts_of(split: str) -> list[str]:
    with SET.open(encoding="utf-8") as file:
        records = [json.loads(line) for line in file]
    return [r["text"] for r in records if r["split"] == split]


def collect(model: Any, graph: Path, texts: list[str], layer: int, kernel: int) -> Any:
    """(features, teacher logits) for every word piece the hub would label:
    the hidden state after ``layer`` layers of the piece and its neighbours,
    and the six-layer graph's logits."""
    import numpy as np
    import onnx
    import onnxruntime

    proto = onnx.load(str(graph))
    proto.graph.output.append(
        onnx.helper.make_tensor_value_info(
            HIDDEN_STATE.format(layer - 1), onnx.TensorProto.FLOAT, None
        )
    )
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    reach = kernel // 2
    features, logits = [], []
    for text in texts:
        text = text[: ner.MAX_MODEL_CHARS]
        for begin, end in ner_gate.Gate(text).windows:
            ids = model.tokenizer.encode(text[begin:end], add_special_tokens=False).ids
            for start, stop, own_from, own_to in ner._windows(len(ids)) if ids else ():
                row = np.array([[model.cls, *ids[start:stop], model.sep]], dtype=np.int64)
                out, hidden = session.run(
                    None,
                    {
                        "input_ids": row,
                        "attention_mask": np.ones_like(row),
                        "token_type_ids": 0 * row,
                    },
                )
                first, last = own_from - start + 1, own_to - start + 1  # after [CLS]
                padded = np.pad(hidden[0], ((reach, reach), (0, 0)))
                features.append(
                    np.concatenate([padded[first + j : last + j] for j in range(kernel)], axis=1)
                )
                logits.append(out[0, first:last])
    return np.concatenate(features), np.concatenate(logits)


def _softmax(z: Any) -> Any:
    import numpy as np

    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def fit(x: Any, logits: Any, hidden: int, steps: int) -> dict[str, Any]:
    """A head from features to label probabilities, fitted to the teacher's
    probabilities (soft cross-entropy, Adam, minibatches of 2048, seed 0),
    with the feature standardisation folded into the first layer."""
    import numpy as np

    rng = np.random.default_rng(0)
    target = _softmax(logits)
    mean, std = x.mean(0), x.std(0) + 1e-6
    xn = ((x - mean) / std).astype(np.float32)
    d, labels = x.shape[1], target.shape[1]
    prior = np.log(target.mean(0) + 1e-6).astype(np.float32)
    if hidden:
        params = [
            rng.normal(0, d**-0.5, (d, hidden)).astype(np.float32),
            np.zeros(hidden, np.float32),
            rng.normal(0, hidden**-0.5, (hidden, labels)).astype(np.float32),
            prior,
        ]
    else:
        params = [np.zeros((d, labels), np.float32), prior]
    moments = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        rate = 0.003 * min(1.0, (steps - step) / (0.3 * steps) + 0.05)
        batch = rng.integers(0, len(xn), 2048)
        a = xn[batch]
        if hidden:
            z = a @ params[0] + params[1]
            r = np.maximum(z, 0)
            g = (_softmax(r @ params[2] + params[3]) - target[batch]) / len(batch)
            gz = (g @ params[2].T) * (z > 0)
            grads = [a.T @ gz + 1e-4 * params[0], gz.sum(0), r.T @ g + 1e-4 * params[2], g.sum(0)]
        else:
            g = (_softmax(a @ params[0] + params[1]) - target[batch]) / len(batch)
            grads = [a.T @ g + 1e-4 * params[0], g.sum(0)]
        for i, grad in enumerate(grads):
            moments[0][i] = 0.9 * moments[0][i] + 0.1 * grad
            moments[1][i] = 0.999 * moments[1][i] + 0.001 * grad * grad
            m_hat = moments[0][i] / (1 - 0.9**step)
            v_hat = moments[1][i] / (1 - 0.999**step)
            params[i] -= rate * m_hat / (np.sqrt(v_hat) + 1e-8)
    first = params[0] / std[:, None]
    head = {"w1": first, "b1": params[1] - (mean / std) @ params[0]}
    if hidden:
        head |= {"w2": params[2], "b2": params[3]}
    return head


def apply(head: dict[str, Any], x: Any) -> Any:
    import numpy as np

    z = x @ head["w1"] + head["b1"]
    return np.maximum(z, 0) @ head["w2"] + head["b2"] if "w2" in head else z


def agreement(student: Any, teacher: Any) -> tuple[float, float]:
    """Share of tokens on which both say "part of an entity" or both do not,
    and on which they also agree on the part."""

    def decide(p: Any) -> tuple[Any, Any]:
        q = p.copy()
        q[:, 0] = -1
        return 1 - p[:, 0] >= 0.5, (q.argmax(-1) + 1) // 2  # B- and I- of a part as one

    (e1, p1), (e0, p0) = decide(_softmax(student)), decide(_softmax(teacher))
    same = e1 == e0
    return float(same.mean()), float((same & (~e0 | (p1 == p0))).mean())


def build(graph: Path, layer: int, head: dict[str, Any], out: Path) -> None:
    """The derived graph cut after ``layer`` layers, the head as a Conv over
    the sequence (kernel = the neighbours it reads), ``logits`` as before."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden = HIDDEN_STATE.format(layer - 1)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    onnx.utils.extract_model(str(graph), str(out), names, [hidden], check_model=False)
    proto = onnx.load(str(out))
    width = ner._config(ner._model_directory())["hidden_size"]
    kernel = head["w1"].shape[0] // width

    def conv(w: Any) -> Any:  # (kernel * width, out) -> (out, width, kernel)
        return np.ascontiguousarray(w.reshape(kernel, width, -1).transpose(2, 1, 0)).astype(
            np.float32
        )

    inits = [numpy_helper.from_array(conv(head["w1"]), "head.c1"),
             numpy_helper.from_array(head["b1"].astype(np.float32), "head.b1")]  # fmt: skip
    nodes = [
        helper.make_node("Transpose", [hidden], ["head.x"], perm=[0, 2, 1]),
        helper.make_node("Conv", ["head.x", "head.c1", "head.b1"], ["head.z"],
                         pads=[kernel // 2] * 2, kernel_shape=[kernel]),
    ]  # fmt: skip
    last = "head.z"
    if "w2" in head:
        second = np.ascontiguousarray(head["w2"].T[:, :, None])
        inits += [
            numpy_helper.from_array(second, "head.c2"),
            numpy_helper.from_array(head["b2"].astype(np.float32), "head.b2"),
        ]
        nodes += [
            helper.make_node("Relu", ["head.z"], ["head.r"]),
            helper.make_node(
                "Conv", ["head.r", "head.c2", "head.b2"], ["head.y"], kernel_shape=[1]
            ),
        ]
        last = "head.y"
    nodes.append(helper.make_node("Transpose", [last], ["logits"], perm=[0, 2, 1]))
    proto.graph.initializer.extend(inits)
    proto.graph.node.extend(nodes)
    del proto.graph.output[:]
    proto.graph.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, None))
    onnx.save(proto, str(out))


def speed(paths: dict[str, Path]) -> None:
    """ms per onnxruntime call, one thread, best of five repeats of 30 calls."""
    import numpy as np

    rng = np.random.default_rng(0)
    sessions = {name: ner._session(path) for name, path in paths.items()}
    for shape in ((1, 30), (6, 32), (12, 40)):
        ids = rng.integers(1000, 19_000, size=shape).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids}
        best = {}
        for name, session in sessions.items():
            times = []
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(30):
                    session.run(None, feed)
                times.append((time.perf_counter() - started) / 30 * 1000)
            best[name] = min(times)
        print(f"rows x pieces {shape}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in best.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4, help="encoder layers kept (of 6)")
    parser.add_argument("--kernel", type=int, default=3, help="word pieces the head reads (odd)")
    parser.add_argument("--hidden", type=int, default=256, help="ReLU units; 0: a linear head")
    parser.add_argument("--steps", type=int, default=6000)
    args = parser.parse_args()
    graph = ner.derived_graph(ROOT / "var" / "ner")
    model = ner._Model(ner._model_directory(), ROOT / "var" / "ner")
    OUT.mkdir(parents=True, exist_ok=True)
    train = texts_of("tune") + metadata_paragraphs()
    x, teacher = collect(model, graph, train, args.layers, args.kernel)
    x_test, teacher_test = collect(model, graph, texts_of("test"), args.layers, args.kernel)
    print(f"word pieces: {len(x)} to fit on, {len(x_test)} to test on", flush=True)
    head = fit(x, teacher, args.hidden, args.steps)
    for name, (features, logits) in (("fit", (x, teacher)), ("test", (x_test, teacher_test))):
        entity, part = agreement(apply(head, features), logits)
        print(f"{name}: agrees with six layers on {entity:.4f} of tokens (entity or not), "
              f"{part:.4f} with the part")  # fmt: skip
    out = OUT / "head.onnx"
    build(graph, args.layers, head, out)
    print(f"graph: {out}")
    speed({"six layers": graph, "probe": out})


if __name__ == "__main__":
    main()
