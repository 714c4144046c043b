"""Text-to-speech benchmark: time to first audio for ~30-word questions on CPU, and voice load time.

    python tests/bench/bench_tts.py

"First audio" is the time from ``Speaker.speak(text)`` to the first samples handed to the player, with the
voice already loaded (the app loads it at start-up) and an empty cache (each question is new text). Three
ways: the default (the first few words synthesised as their own lead piece), without the lead piece (whole
first sentence), and from the disk cache (a question spoken before or prefetched). espeak-ng for comparison.
Prints a table and writes tests/bench/results/tts.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"

QUESTIONS = [
    'Explain the causal language modeling loss used to pretrain models like GPT. Why is the cross-entropy computed at every position, and how does it relate to maximum likelihood and to perplexity?',
    'What exactly does the z-loss penalise in large language model training, and why does it improve the numerical stability of the softmax when the model is trained in low precision formats?',
    'How does rotary position embedding encode the relative positions of two tokens in attention, and what happens when the model later sees sequences much longer than the ones it was trained on?',
    'Compare layer normalization with batch normalization for sequence models. Why do most modern transformers prefer the pre-norm arrangement, and what does RMSNorm remove from the computation to save time?',
    'Why does ELECTRA learn more efficiently than masked language modeling with the same compute, and what are the roles of the small generator and the discriminator during its pre-training?',
    'Describe direct preference optimization for aligning language models. How does it avoid training a separate reward model, and what does the beta parameter control when you tune it in practice?',
]


class FirstAudio:
    """A player that records when the first samples arrive and plays nothing."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.pieces = 0

    def play(self, audio: np.ndarray, sample_rate: int, cancel: threading.Event) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.pieces += 1

    def stop(self) -> None:
        pass


def measure(engine: str, lead_words: int, cache: Path, texts: list[str]) -> list[float]:
    from agent.speech.tts import Speaker

    out = []
    for text in texts:
        player = FirstAudio()
        sp = Speaker(engine=engine, player=player, cache_dir=cache, lead_words=lead_words)
        sp.load()
        job = sp.speak(text)
        job.wait(120)
        assert job.error is None, job.error
        out.append(job.first_audio_s)
    return out


def lead_piece_cpu_ms(texts: list[str]) -> tuple[list[float], list[float]]:
    """Process CPU time and wall time to synthesise each question's lead piece (no cache). The CPU figure
    hardly depends on what else the machine runs; on an idle machine wall time is at most about this."""
    from agent.speech.tts import PiperEngine, split_pieces

    eng = PiperEngine("bundled")
    cpu, wall = [], []
    for text in texts:
        piece = split_pieces(text, 3)[0]
        t = os.times()
        w = time.perf_counter()
        eng.synth(piece)
        wall.append(round((time.perf_counter() - w) * 1000))
        t2 = os.times()
        cpu.append(round((t2.user + t2.system - t.user - t.system) * 1000))
    return cpu, wall


def main() -> int:
    from agent.speech.tts import load_piper

    t0 = time.perf_counter()
    load_piper("bundled")
    load_s = time.perf_counter() - t0
    words = [len(q.split()) for q in QUESTIONS]
    res: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
                 "question_words": words, "piper_load_s": round(load_s, 2)}
    with tempfile.TemporaryDirectory() as d:
        cache = Path(d)
        res["piper_lead_piece_ms"] = [round(x * 1000) for x in measure("piper", 3, cache / "a", QUESTIONS)]
        res["piper_whole_sentence_ms"] = [round(x * 1000) for x in measure("piper", 0, cache / "b", QUESTIONS)]
        res["piper_cached_ms"] = [round(x * 1000, 1) for x in measure("piper", 3, cache / "a", QUESTIONS)]
        res["espeak_ms"] = [round(x * 1000) for x in measure("espeak", 3, cache / "c", QUESTIONS)]
    res["lead_piece_cpu_ms"], res["lead_piece_wall_ms"] = lead_piece_cpu_ms(QUESTIONS)
    res["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"{'first audio, ~30-word question (ms)':44} {'median':>8} {'max':>8}  target")
    for key, label, target in [("piper_lead_piece_ms", "Piper, lead piece (default), new text", "<= 300"),
                               ("piper_whole_sentence_ms", "Piper, whole first sentence, new text", ""),
                               ("piper_cached_ms", "Piper, from the disk cache", ""),
                               ("espeak_ms", "espeak-ng, lead piece, new text", ""),
                               ("lead_piece_cpu_ms", "Piper lead piece: process CPU time", ""),
                               ("lead_piece_wall_ms", "Piper lead piece: wall time (same run)", "")]:
        v = res[key]
        res[key.replace("_ms", "_median_ms")] = float(np.median(v))
        print(f"{label:44} {np.median(v):8.0f} {max(v):8.0f}  {target}")
    print(f"Piper voice load (incl. warm-up): {load_s:.2f} s; questions of {min(words)}-{max(words)} words; "
          f"load average {res['machine']['load_avg_at_start']} -> {res['machine']['load_avg_at_end']} on "
          f"{os.cpu_count()} CPUs")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tts.json").write_text(json.dumps(res, indent=2) + "\n")
    print("wrote tests/bench/results/tts.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
