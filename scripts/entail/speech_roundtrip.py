"""Speak corpus sentences with the bundled Piper voice and with espeak-ng, transcribe them with the bundled
Whisper (the app's own transcription path, biased toward nothing), and append what was heard to
data/entail/speech.jsonl. Sentences already there are skipped, so it can be rerun as the corpus grows.

    python scripts/entail/speech_roundtrip.py [--per-concept 3] [--limit N]

Each concept contributes ``--per-concept`` sentences (a stating one, a contradicting or misconception one,
and a partial one), each in one voice chosen by a hash of the sentence: the recognition errors are the
ones the app really makes (terms misheard, numbers written as words, punctuation lost).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_corpus import DATA, load_concepts, seeded  # noqa: E402


def choose(c: dict, n: int) -> list[str]:
    rng = seeded(c["id"], "speech")
    picks = [rng.choice([c["states"][0], c["states"][3], c["states"][4]]),
             rng.choice(c["contradicts"] + c["misconception_states"]),
             rng.choice(c["partly"] + c["states"][1:3])]
    return picks[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-concept", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many new sentences (0: all)")
    args = ap.parse_args(argv)

    from agent.speech.stt import Transcriber
    from agent.speech.tts import EspeakEngine, PiperEngine

    out_path = DATA / "speech.jsonl"
    done = set()
    if out_path.is_file():
        for line in out_path.read_text("utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                done.add(r["text"])
    todo = []
    for c in load_concepts():
        for s in choose(c, args.per_concept):
            if s not in done:
                todo.append(s)
                done.add(s)
    if args.limit:
        todo = todo[: args.limit]
    print(f"{len(todo)} sentences to speak and transcribe")
    voices = {"piper": PiperEngine("bundled"), "espeak": EspeakEngine()}
    stt = Transcriber(model="bundled", device="cpu")
    t0 = time.perf_counter()
    with open(out_path, "a", encoding="utf-8") as f:
        for i, s in enumerate(todo, 1):
            voice = "piper" if seeded(s, "voice").random() < 0.5 else "espeak"
            eng = voices[voice]
            audio = eng.synth(s)
            tr = stt.transcribe(audio if eng.sample_rate == 16000 else _resample(audio, eng.sample_rate))
            f.write(json.dumps({"text": s, "voice": voice, "transcript": tr.text.strip()}, ensure_ascii=False) + "\n")
            f.flush()
            if i % 50 == 0:
                print(f"{i}/{len(todo)} in {time.perf_counter() - t0:.0f} s")
    print(f"done: {len(todo)} in {time.perf_counter() - t0:.0f} s")
    return 0


def _resample(audio, sr: int):
    from agent.speech.audio import resample

    return resample(audio, sr)


if __name__ == "__main__":
    sys.exit(main())
