"""The OpenVINO prompt reader on the packaged tiny model: the keys and values it hands
to torch are float32's to bfloat16 precision, decoding from them gives float32's
answer, and 'auto' turns it on only where it was measured to pay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from qa.models import embedders, registry
from qa.models.hf_generator import TransformersGenerator
from qa.models.openvino_prefill import MODEL_XML, OpenVinoPrefill, export_prefill
from qa.models.protocols import ChatMessage
from qa.models.registry import generator_folder, uses_openvino_prefill
from qa.settings import Settings

PASSAGE = (
    "The clinic is open Monday to Friday from 8 am to 6 pm, and on Saturday from 9 am to "
    "noon. It is closed on Sundays and public holidays. Appointments can be booked by "
    "phone or online; walk-in patients are seen between 8 and 10 am."
)
MESSAGES = [
    ChatMessage(role="system", content="You answer questions from the passages."),
    ChatMessage(
        role="user",
        content=f'<passage n="1">\n{PASSAGE}\n</passage>\n\nQuestion: When is the clinic '
        "open on Saturday?\nAnswer in one or two sentences.",
    ),
]


@pytest.fixture(scope="module")
def tiny() -> tuple[Path, Path]:
    """The tiny preset's folder and its exported prompt reader, in the shared cache that
    `qa models prepare` fills (exported here if it has not been)."""
    cache = Settings().cache_dir
    folder = generator_folder("tiny", cache)
    return folder, export_prefill(folder, cache)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(-1, a.shape[-1])
    b = b.reshape(-1, b.shape[-1])
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def test_the_cache_it_reads_is_float32s(tiny: tuple[Path, Path]) -> None:
    folder, exported = tiny
    assert (exported / MODEL_XML).is_file()
    generator = TransformersGenerator(folder, "tiny")
    model = generator._model
    ids = generator._encode(MESSAGES)["input_ids"]
    reader = OpenVinoPrefill(exported, threads=0)
    for length in (3, ids.shape[1]):  # a one-row mask and the whole prompt
        cache = reader.cache(ids[:, :length], model.config)
        with torch.inference_mode():
            reference = model(input_ids=ids[:, :length], use_cache=True).cache
        assert cache.get_seq_length() == length
        for ours, theirs in zip(cache.layers, reference.layers, strict=True):
            assert ours.keys.shape == theirs.keys.shape
            assert _cosines(ours.keys.numpy(), theirs.keys.numpy()).min() > 0.99
            assert _cosines(ours.values.numpy(), theirs.values.numpy()).min() > 0.99


def test_decoding_from_it_gives_float32s_answer(tiny: tuple[Path, Path]) -> None:
    folder, exported = tiny
    plain = TransformersGenerator(folder, "tiny")
    read = TransformersGenerator(folder, "tiny", prefill=OpenVinoPrefill(exported, threads=0))
    expected = "".join(plain.stream(MESSAGES, max_new_tokens=24))
    assert expected.strip()
    assert "".join(read.stream(MESSAGES, max_new_tokens=24)) == expected
    one_token = [ChatMessage(role="user", content="Hi")]
    assert "".join(read.stream(one_token, max_new_tokens=4)).strip()


def test_auto_reads_with_openvino_only_on_bfloat16_hardware_in_float32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embedders, "native_bfloat16", lambda: True)
    assert uses_openvino_prefill("auto", "float32")
    assert not uses_openvino_prefill("auto", "bfloat16")
    assert not uses_openvino_prefill("torch", "float32")
    monkeypatch.setattr(embedders, "native_bfloat16", lambda: False)
    assert not uses_openvino_prefill("auto", "float32")
    assert uses_openvino_prefill("openvino", "float32")  # asked for, it is used anyway


def test_the_loaded_generator_reads_with_openvino_when_asked(tiny: tuple[Path, Path]) -> None:
    cache = Settings().cache_dir
    with_reader = registry.load_generator("tiny", cache, prefill="openvino")
    without = registry.load_generator("tiny", cache, prefill="torch")
    assert isinstance(with_reader, TransformersGenerator)
    assert isinstance(with_reader._prefill, OpenVinoPrefill)
    assert isinstance(without, TransformersGenerator) and without._prefill is None


def test_each_model_folder_gets_its_own_export(tmp_path: Path) -> None:
    from qa.models.openvino_prefill import model_identity

    first, second = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for folder in (first, second):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    assert model_identity(first) != model_identity(second)  # same name, elsewhere
    before = model_identity(first)
    (first / "model.safetensors").write_bytes(b"new weights")
    assert model_identity(first) != before
    assert model_identity(first) == model_identity(first)


def test_auto_falls_back_to_torch_when_the_export_fails(
    tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import qa.models.openvino_prefill as prefill

    def unexportable(folder: Path, cache_dir: Path) -> Path:
        raise RuntimeError("cannot trace this architecture")

    monkeypatch.setattr(prefill, "export_prefill", unexportable)
    monkeypatch.setattr(embedders, "native_bfloat16", lambda: True)
    cache = Settings().cache_dir
    with caplog.at_level("WARNING", logger="qa.models.registry"):
        generator = registry.load_generator("tiny", cache, prefill="auto")
    assert isinstance(generator, TransformersGenerator) and generator._prefill is None
    assert "cannot trace this architecture" in caplog.text
    with pytest.raises(RuntimeError, match="cannot trace"):
        registry.load_generator("tiny", cache, prefill="openvino")
