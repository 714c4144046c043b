"""Audio made by the tests: technical answers synthesised with Piper or espeak-ng, at 16 kHz mono."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"


def voice_set() -> list[dict]:
    """The synthesised-answer set: [{topic, question, text, terms (contained), rubric_terms (biasing)}]."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load((DATA / "voice_answers.yaml").read_text())
    out = []
    for topic in doc["topics"]:
        for i, a in enumerate(topic["answers"]):
            out.append({"id": f"{topic['id']}-{i + 1}", "topic": topic["id"], "question": topic.get("question"),
                        "text": a["text"], "terms": list(a["terms"]), "rubric_terms": list(topic["terms"])})
    return out


def synth(text: str, engine: str = "piper", cache_dir: Path | None = None) -> np.ndarray:
    """Speak ``text`` with the given engine and return 16 kHz mono float32 audio (cached on disk)."""
    from agent.speech.audio import resample
    from agent.speech.tts import NullPlayer, Speaker

    sp = Speaker(engine=engine, player=NullPlayer(), lead_words=0, cache_dir=cache_dir)
    if engine == "piper":
        sp._engine, sp._engine_loaded = _piper_deterministic(), True  # the same text gives the same audio
    audio, sr = sp.synthesize(text)
    return resample(audio, sr, 16_000)


@functools.lru_cache(maxsize=1)
def _piper_deterministic():
    from agent.speech.tts import PiperEngine

    return PiperEngine(deterministic=True)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16_000), np.float32)


def join(parts: list[np.ndarray], gap_s: float | list[float] = 0.5) -> np.ndarray:
    """Concatenate pieces with silent gaps (one gap length, or one per boundary)."""
    gaps = gap_s if isinstance(gap_s, list) else [gap_s] * (len(parts) - 1)
    out: list[np.ndarray] = []
    for i, p in enumerate(parts):
        out.append(p)
        if i < len(parts) - 1:
            out.append(silence(gaps[i]))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def espeak_file(text: str, path: Path) -> Path:
    """``espeak-ng -w`` with its default voice and rate, as a user would make an answer file."""
    import subprocess

    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def count_windows(transcriber) -> dict:
    """Watch the 30 s windows Whisper decodes: each call of ``generate_with_fallback`` adds 1 to
    ``["windows"]`` and the temperature it ended at (above 0 after a fallback) to ``["temperatures"]``.
    ``stop_counting(transcriber)`` undoes it."""
    model = transcriber.model
    seen: dict = {"windows": 0, "temperatures": []}
    real = type(model).generate_with_fallback

    def counted(*a, **kw):
        out = real(model, *a, **kw)
        seen["windows"] += 1
        seen["temperatures"].append(out[2])
        return out

    model.generate_with_fallback = counted
    return seen


def reset_count(seen: dict) -> None:
    seen["windows"] = 0
    seen["temperatures"] = []


def stop_counting(transcriber) -> None:
    del transcriber.model.generate_with_fallback
