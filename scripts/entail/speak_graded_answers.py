"""Speak the project's graded answers (train and dev topics) and transcribe them as the app does, for fitting the
stacked grader on what it will really read from a spoken answer.

    python scripts/entail/speak_graded_answers.py [--minutes 40] [--limit N] [--shard K/N]

Each answer of 8 words or more on a train or dev topic (data/graded_answers/*.jsonl), in a fixed shuffle, is
spoken by the bundled Piper voice or by espeak-ng (chosen by a hash of the answer, as in
tests/bench/bench_spoken_grades.py) and transcribed by the bundled Whisper on the CPU with the question's rubric
hotwords and the repair pass: the app's own path. What was heard goes to
data/graded_answers/heard/heard.jsonl beside the answer's file, line and grade (the grade stays: it is of what
was meant). Answers already there are skipped, so it runs in instalments (``--minutes``). The test topics are
never spoken here: bench_spoken_grades.py measures them. One run leaves part of a two-core CPU idle: two runs side
by side (``--shard 0/2`` and ``--shard 1/2``: every second answer each, appending whole lines to the same file)
spoke 17.6 answers a minute on two cores, one run alone 10.5.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_stacker import HEARD, load  # noqa: E402


def voice_of(text: str) -> str:
    return "piper" if int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % 2 else "espeak"


def speak_and_hear(rows: list[dict]):
    """Per row, in order: its voice and what the app's transcription heard of its answer spoken in that voice
    (the question's rubric hotwords, the repair pass)."""
    from agent.speech.audio import SAMPLE_RATE, resample
    from agent.speech.stt import Transcriber, rubric_terms
    from agent.speech.tts import EspeakEngine, PiperEngine

    voices = {"piper": PiperEngine("bundled"), "espeak": EspeakEngine()}
    stt = Transcriber(model="bundled", device="cpu")
    for r in rows:
        voice = voice_of(r["answer"])
        eng = voices[voice]
        audio = eng.synth(r["answer"])
        if eng.sample_rate != SAMPLE_RATE:
            audio = resample(audio, eng.sample_rate)
        yield voice, stt.transcribe(audio, hotwords=rubric_terms(r["id"])).text.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=40.0, help="stop starting new answers after this long")
    ap.add_argument("--limit", type=int, default=0, help="at most this many new answers (0: no limit)")
    ap.add_argument("--shard", default="0/1", metavar="K/N", help="only every N-th answer still to speak, from the "
                    "K-th (0-based): N runs side by side share the work")
    args = ap.parse_args(argv)
    try:
        k, n_shards = (int(v) for v in args.shard.split("/"))
        if not 0 <= k < n_shards:
            raise ValueError(args.shard)
    except ValueError:
        ap.error(f"--shard {args.shard!r}: give K/N with 0 <= K < N, e.g. 0/2 and 1/2 for two runs side by side")

    rows = [r for r in load() if r["split"] in ("train", "dev") and len(r["answer"].split()) >= 8]
    random.Random(11).shuffle(rows)
    done = set()
    if HEARD.is_file():
        done = {(r["file"], r["line"]) for r in map(json.loads, HEARD.read_text("utf-8").splitlines()) if r}
    todo = [r for r in rows if (r["file"], r["line"]) not in done][k::n_shards]
    if args.limit:
        todo = todo[: args.limit]
    print(f"{len(done)} answers heard before, {len(todo)} to go", flush=True)
    HEARD.parent.mkdir(parents=True, exist_ok=True)
    t0, n = time.perf_counter(), 0
    with open(HEARD, "a", encoding="utf-8") as f:
        heard_one = speak_and_hear(todo)
        for r in todo:
            if time.perf_counter() - t0 > args.minutes * 60:
                break
            voice, heard = next(heard_one)
            f.write(json.dumps({"file": r["file"], "line": r["line"], "id": r["id"], "kind": r.get("kind"),
                                "grade": r["grade"], "voice": voice, "heard": heard}, ensure_ascii=False) + "\n")
            f.flush()
            n += 1
            if n % 50 == 0:
                print(f"  {n} in {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"done: {n} answers in {time.perf_counter() - t0:.0f} s ({len(done) + n} in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
