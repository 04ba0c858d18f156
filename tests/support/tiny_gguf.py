"""Write a tiny random-weight llama GGUF that ctransformers and llama.cpp both load.

ctransformers 0.2.27 predates most current model families: it wants the ``llama``
architecture, a SentencePiece (``llama``) vocabulary and a separate
``output.weight`` (no tied embeddings). This file has exactly that, with a few
hundred tokens and two small layers, so real inference runs in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = (
    "the a an and or of to in on for is are was be it this that with as at by "
    "from hello world local cloud model data team answer question yes no ok "
    "good fast slow private public token stream gateway route budget policy"
).split()

N_EMBD = 64
N_HEAD = 4
N_LAYER = 2
N_FF = 128
N_CTX = 2048


def _vocab() -> tuple[list[str], list[float], list[int]]:
    import gguf

    normal, control, byte = (
        gguf.TokenType.NORMAL,
        gguf.TokenType.CONTROL,
        gguf.TokenType.BYTE,
    )
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, control, control]
    tokens += [f"<0x{i:02X}>" for i in range(256)]
    types += [byte] * 256
    pieces = ["▁" + w for w in WORDS] + list("abcdefghijklmnopqrstuvwxyz") + ["▁"]
    tokens += pieces
    types += [normal] * len(pieces)
    scores = [0.0] * 3 + [-1000.0] * 256 + [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama_gguf(
    path: Path,
    *,
    seed: int = 0,
    n_embd: int = N_EMBD,
    n_ff: int = N_FF,
    n_layer: int = N_LAYER,
) -> Path:
    """Write the model to ``path`` and return it; the same seed gives the same file.

    Wider or deeper settings make a "slow" model whose tokens take real time,
    for tests that must catch a generation in the middle.
    """
    import gguf

    rng = np.random.default_rng(seed)
    tokens, scores, types = _vocab()
    n_vocab = len(tokens)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("hybridhub-tiny-llama")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(n_embd // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)

    writer.add_tensor("token_embd.weight", weights(n_vocab, n_embd))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    output = weights(n_vocab, n_embd)
    # Zero logits for <unk>, <s> and </s>: with the other logits spread around
    # zero, sampling (greedy or top-k) practically never picks them, so
    # generations run to max_tokens and tests control their length.
    output[:3] = 0
    writer.add_tensor("output.weight", output)
    for i in range(n_layer):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{blk}.{name}.weight", weights(n_embd, n_embd))
        writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{blk}.ffn_gate.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"{blk}.ffn_up.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"{blk}.ffn_down.weight", weights(n_embd, n_ff))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    print(write_tiny_llama_gguf(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf")))
