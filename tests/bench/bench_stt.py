"""Speech-to-text benchmark: real-time factor, streaming latency, rubric-term recall, peak memory.

    python tests/bench/bench_stt.py [--only rtf,stream,recall,memory,dev,unseen,unseen2,invented,dropped] [--device cpu|cuda|auto]

Audio is synthesised with Piper from tests/data/voice_answers.yaml (cached under the viva cache folder).
Prints a table and writes tests/bench/results/stt.json (or stt-<device>.json for a non-CPU device).

- rtf: a ~60 s answer transcribed three times (word timestamps, VAD, hotwords); wall time / audio time, and
  the process CPU time / audio time (the wall figure depends on what else the machine is doing).
- stream: answers of 15, 60 and 180 s fed through Recorder -> StreamingTranscriber in real time (audio
  arrives like a microphone's); the candidate stops (push-to-talk) at the end of speech, and the figure is the
  time from the end of speech to the final transcript. The 60 s answer is also run with VAD endpointing,
  which by design waits endpoint_silence_s after speech: both "after end of speech" and "after the endpoint".
- recall: every answer in the set, with and without rubric-term biasing; recall = rubric terms found in the
  transcript / rubric terms spoken.
- memory: peak RSS of a fresh process that loads Piper and Whisper, synthesises and transcribes.
- unseen: the sentences in tests/bench/data/unseen_sentences.yaml (written after the transcription code and
  never used to tune it; no test reads them), spoken by the Piper voice and by espeak-ng, each transcribed
  unbiased, biased (hotwords only) and biased with the repair pass (the default): rubric-term recall, word
  error rate, transcription time (biased / unbiased) and real-time factor, per voice. Recall and WER are
  scored after Whisper's English text normaliser (the whisper-normalizer package: numbers as digits,
  British spellings as American, "15%" = "fifteen percent"), the usual convention for Whisper WER; the strict
  recall (letters only, as the app's insights count terms) is reported beside it.
- dev: the same measures on tests/bench/data/stt_dev_sentences.yaml, the term repair's tuning set (written
  after unseen_sentences.yaml was last measured; the repair may be changed while looking at these, never at
  the unseen ones).
- unseen2: the same measures on tests/bench/data/unseen_sentences_2.yaml, a second held-out set (50 sentences,
  24 questions that no other speech sentence uses), written by a writer who never saw the transcriber run,
  after the code was done, and measured once; no test reads it and nothing was tuned on it.
- invented: 20 files of silence, noise (numpy, sox), hum, and speech followed by silence or noise, biased
  with a question's terms; invented words = any word in a file without speech, else words after the speech.
- dropped: 20 answers of three unseen sentences (Piper and espeak-ng in turn, 0.3-0.9 s pauses) through the
  app's path (``Services.listen`` on a file, as ctrl+o does); a sentence is dropped when no transcribed word
  lies in its stretch of audio, and misheard when words are there but under half of its content words.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from tests.speech_fixtures import join, silence, synth, voice_set  # noqa: E402

SR = 16_000
RESULTS = ROOT / "tests" / "bench" / "results"


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def build_answer(seconds: float, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Concatenate synthesised answers (0.4-0.8 s gaps, a 1.2 s thinking pause every 4th) up to ``seconds``."""
    rng = np.random.default_rng(seed)
    items = voice_set()
    order = rng.permutation(len(items))
    parts, gaps, terms = [], [], []
    total = 0.0
    i = 0
    while total < seconds:
        a = items[order[i % len(items)]]
        i += 1
        audio = synth(a["text"])
        parts.append(audio)
        terms.extend(a["rubric_terms"])
        g = 1.2 if i % 4 == 0 else float(rng.uniform(0.4, 0.8))
        gaps.append(g)
        total += audio.size / SR + g
    audio = join(parts, gaps[:-1])
    cut = int(seconds * SR)
    return audio[:cut], list(dict.fromkeys(terms))


def bench_rtf(device: str) -> dict:
    from agent.speech.stt import Transcriber

    tr = Transcriber(device=device).load()
    audio, terms = build_answer(60.0, seed=1)
    tr.transcribe(audio[: 5 * SR])  # warm-up
    walls, cpus = [], []
    for _ in range(3):
        c0, t0 = cpu_s(), time.perf_counter()
        out = tr.transcribe(audio, hotwords=terms[:40])
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_s() - c0)
    dur = audio.size / SR
    return {"audio_s": round(dur, 1), "device": tr.device, "beam_size": tr.beam_size,
            "wall_s": [round(w, 2) for w in walls], "rtf_wall_median": round(float(np.median(walls)) / dur, 3),
            "rtf_wall_best": round(min(walls) / dur, 3), "cpu_s_median": round(float(np.median(cpus)), 2),
            "cpu_per_audio_s": round(float(np.median(cpus)) / dur, 3), "words": len(out.words)}


def _stream_once(audio: np.ndarray, speech_s: float, terms: list[str], device: str, endpoint: bool) -> dict:
    from agent.speech.record import ArraySource, Recorder
    from agent.speech.stt import StreamingTranscriber, Transcriber

    stream = StreamingTranscriber(Transcriber(device=device), hotwords=terms[:40])
    src = ArraySource(audio, realtime=True)
    rec = Recorder(src, on_chunk=stream, auto_stop=endpoint, endpoint_silence_s=1.5, max_answer_s=600)
    c0 = cpu_s()
    t_start = time.perf_counter()
    rec.start()
    c_end = None
    if endpoint:
        r = rec.wait(speech_s + 60)
        assert r is not None
    else:
        time.sleep(max(0.0, t_start + speech_s - time.perf_counter()))
        c_end = cpu_s()
        r = rec.stop()
    t_speech_end = t_start + speech_s
    tr = stream.finish(r.audio, timeout=600)
    t_final = time.perf_counter()
    return {"mode": "endpoint" if endpoint else "push-to-talk", "speech_s": round(speech_s, 1),
            "stop_reason": r.reason, "windows": stream.windows_decoded,
            "words": len(tr.words), "cpu_per_audio_s": round((cpu_s() - c0) / speech_s, 3),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "after_speech_end_s": round(t_final - t_speech_end, 3),
            "after_stop_s": round(t_final - r.stopped_at, 3),
            # CPU work left at the end of speech: about the latency on an otherwise idle machine
            "cpu_after_speech_end_s": round(cpu_s() - c_end, 3) if c_end is not None else None}


def bench_stream(device: str) -> list[dict]:
    from agent.speech.stt import Transcriber

    Transcriber(device=device).load().transcribe(silence(1.0))
    out = []
    for seconds, seed in ((15.0, 2), (60.0, 3), (180.0, 4)):
        speech, terms = build_answer(seconds, seed)
        speech_s = speech.size / SR
        out.append(_stream_once(np.concatenate([speech, silence(0.5)]), speech_s, terms, device, endpoint=False))
        print(f"  stream {seconds:.0f}s push-to-talk: {out[-1]}", flush=True)
        if seconds == 60.0:
            out.append(_stream_once(np.concatenate([speech, silence(3.0)]), speech_s, terms, device, endpoint=True))
            print(f"  stream {seconds:.0f}s endpoint: {out[-1]}", flush=True)
    return out


def bench_recall(device: str) -> dict:
    from agent.speech.insights import find_terms
    from agent.speech.stt import Transcriber

    tr = Transcriber(device=device).load()
    items = voice_set()
    res = {"with": [0, 0], "without": [0, 0]}
    misses: dict[str, list] = {"with": [], "without": []}
    for a in items:
        audio = np.concatenate([silence(0.3), synth(a["text"]), silence(0.3)])
        for mode in ("with", "without"):
            t = tr.transcribe(audio, hotwords=a["rubric_terms"] if mode == "with" else None)
            found = find_terms(t.text, a["terms"])
            res[mode][0] += len(found)
            res[mode][1] += len(a["terms"])
            misses[mode] += [f"{a['id']}: {term}" for term in a["terms"] if term not in found]
    return {"answers": len(items), "terms_spoken": res["with"][1],
            "recall_with_biasing": round(res["with"][0] / res["with"][1], 4),
            "recall_without_biasing": round(res["without"][0] / res["without"][1], 4),
            "missed_with": misses["with"], "missed_without": misses["without"]}


UNSEEN = ROOT / "tests" / "bench" / "data" / "unseen_sentences.yaml"
UNSEEN_2 = ROOT / "tests" / "bench" / "data" / "unseen_sentences_2.yaml"  # the second held-out set (docstring)
DEV = ROOT / "tests" / "bench" / "data" / "stt_dev_sentences.yaml"  # the repair's tuning set
SENTENCE_SETS = {"dev": DEV, "unseen": UNSEEN, "unseen2": UNSEEN_2}  # --only part -> sentences (bench_unseen)
UNSEEN_LIMIT = 0  # --limit: the first N sentences only (to compare a slow model on the same subset)


def unseen_sentences(path: Path = UNSEEN) -> list[dict]:
    from ruamel.yaml import YAML

    return list(YAML(typ="safe").load(path.read_text())["sentences"])


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z0-9]+", text.lower().replace("-", " "))


_NORMALISER = None


def normalise(text: str) -> str:
    """Whisper's English text normaliser (lower case, no punctuation, numbers as digits, American spelling)."""
    global _NORMALISER
    if _NORMALISER is None:
        from whisper_normalizer.english import EnglishTextNormalizer

        _NORMALISER = EnglishTextNormalizer()
    return _NORMALISER(text)


def terms_heard(text: str, terms: list[str]) -> list[str]:
    """The terms found in ``text`` once both are normalised (find_terms' matching on normalised text)."""
    from agent.speech.insights import find_terms

    heard = normalise(text)
    return [t for t in terms if find_terms(heard, [normalise(t)])]


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """(word edits, reference words) after Whisper's English normaliser."""
    from rapidfuzz.distance import Levenshtein

    r, h = normalise(ref).split(), normalise(hyp).split()
    return Levenshtein.distance(r, h), len(r)


def voice_audio(text: str, voice: str) -> np.ndarray:
    """Piper ('piper', the bundled joe voice) or espeak-ng at its default voice and rate ('espeak')."""
    if voice == "piper":
        return synth(text)
    from agent.speech.audio import load_audio
    from tests.speech_fixtures import espeak_file

    with tempfile.TemporaryDirectory() as d:
        return load_audio(espeak_file(text, Path(d) / "a.wav"))


def bench_unseen(device: str, path: Path = UNSEEN) -> dict:
    from agent.bank import default_bank
    from agent.speech.insights import find_terms
    from agent.speech.stt import Transcriber, rubric_terms

    bank = default_bank()
    tr = Transcriber(device=device).load()
    tr.transcribe(silence(1.0))
    items = unseen_sentences(path)[: UNSEEN_LIMIT or None]
    out: dict = {"sentences": len(items), "voices": {}}
    modes = ("unbiased", "biased", "biased+repair")
    for voice in ("piper", "espeak"):
        acc = {m: {"found": 0, "strict": 0, "terms": 0, "edits": 0, "words": 0, "time": 0.0, "missed": []}
               for m in modes}
        audio_s = 0.0
        repairs: list[str] = []
        for it in items:
            audio = np.concatenate([silence(0.3), voice_audio(it["text"], voice), silence(0.3)])
            audio_s += audio.size / SR
            terms = rubric_terms(it["question"], bank)
            for m in modes:
                t0 = time.perf_counter()
                if m == "unbiased":
                    t = tr.transcribe(audio)
                else:
                    t = tr.transcribe(audio, hotwords=terms, repair=m == "biased+repair")
                a = acc[m]
                a["time"] += time.perf_counter() - t0
                found = terms_heard(t.text, it["terms"])
                a["found"] += len(found)
                a["strict"] += len(find_terms(t.text, it["terms"]))
                a["terms"] += len(it["terms"])
                a["missed"] += [f"{it['question']}: {x} (heard: {t.text})" for x in it["terms"] if x not in found]
                e, n = wer(it["text"], t.text)
                a["edits"] += e
                a["words"] += n
                if m == "biased+repair":
                    repairs += [f"{r.heard} -> {r.read_as}" for r in t.repairs]
        v = {"audio_s": round(audio_s, 1), "repairs": repairs}
        for m in modes:
            a = acc[m]
            v[m] = {"recall": round(a["found"] / a["terms"], 4), "recall_strict": round(a["strict"] / a["terms"], 4),
                    "terms": a["terms"],
                    "wer": round(a["edits"] / a["words"], 4), "time_s": round(a["time"], 2),
                    "rtf": round(a["time"] / audio_s, 3), "missed": a["missed"]}
        v["biased_over_unbiased_time"] = round(acc["biased+repair"]["time"] / acc["unbiased"]["time"], 3)
        out["voices"][voice] = v
        print(f"  {path.stem} {voice}: " + ", ".join(f"{m} recall {v[m]['recall']} wer {v[m]['wer']} rtf {v[m]['rtf']}"
                                               for m in modes) + f"; time ratio {v['biased_over_unbiased_time']}",
              flush=True)
    return out


def _noise_files(tmpdir: Path) -> list[tuple[str, np.ndarray, float | None, str]]:
    """(name, audio, end of speech or None, spoken text) for the invented-words benchmark."""
    import subprocess

    from agent.speech.audio import load_audio

    rng = np.random.default_rng(14)

    def sox(name: str, args: list[str]) -> np.ndarray:
        path = tmpdir / f"{name}.wav"
        subprocess.run(["sox", "-n", "-r", str(SR), "-c", "1", str(path), *args], check=True, capture_output=True)
        return load_audio(path)

    files: list[tuple[str, np.ndarray, float | None, str]] = []
    for sec in (2, 5, 10, 30):
        files.append((f"silence {sec}s", silence(sec), None, ""))
    for sigma in (0.005, 0.02, 0.05, 0.2):
        files.append((f"white noise sd {sigma}", rng.normal(0, sigma, 6 * SR).astype(np.float32), None, ""))
    files.append(("brown noise", sox("brown", ["synth", "8", "brownnoise", "vol", "0.3"]), None, ""))
    files.append(("pink noise", sox("pink", ["synth", "8", "pinknoise", "vol", "0.3"]), None, ""))
    hum = sox("hum", ["synth", "8", "sine", "50", "vol", "0.2"])
    files.append(("50 Hz hum", hum, None, ""))
    files.append(("hum + noise", hum + rng.normal(0, 0.01, hum.size).astype(np.float32), None, ""))
    items = unseen_sentences()
    for k in range(8):
        it = items[(7 * k + 3) % len(items)]
        voice = "piper" if k % 2 == 0 else "espeak"
        speech = voice_audio(it["text"], voice)
        tail = silence(5.0) if k < 4 else rng.normal(0, 0.01, 5 * SR).astype(np.float32)
        kind = "silence" if k < 4 else "noise"
        files.append((f"{voice} speech + 5 s {kind}", np.concatenate([silence(0.5), speech, tail]),
                      0.5 + speech.size / SR, it["question"]))
    return files


def bench_invented(device: str) -> dict:
    from agent.speech.stt import Transcriber, rubric_terms

    tr = Transcriber(device=device).load()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, audio, speech_end, qid in _noise_files(Path(d)):
            terms = rubric_terms(qid or "z-loss")
            t = tr.transcribe(audio, hotwords=terms)
            invented = [w.text for w in t.words if speech_end is None or w.start > speech_end + 0.3]
            rows.append({"file": name, "seconds": round(audio.size / SR, 1), "invented_words": len(invented),
                         "invented": " ".join(invented), "text": t.text})
    total = sum(r["invented_words"] for r in rows)
    print(f"  invented words on {len(rows)} files: {total}", flush=True)
    return {"files": len(rows), "invented_words": total, "rows": rows}


def bench_dropped(device: str) -> dict:
    import threading

    from agent.speech.audio import write_wav
    from tui.services import Services

    items = unseen_sentences()
    rng = np.random.default_rng(20)
    svc = Services()
    svc.transcriber().load()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for k in range(20):
            picked = [items[(3 * k + j) % len(items)] for j in range(3)]
            voice = "piper" if k % 2 == 0 else "espeak"
            parts = [voice_audio(p["text"], voice) for p in picked]
            gaps = [float(rng.uniform(0.3, 0.9)) for _ in parts[:-1]]
            audio = join(parts, gaps)
            spans, t = [], 0.3
            for i, part in enumerate(parts):
                spans.append((t, t + part.size / SR))
                t += part.size / SR + (gaps[i] if i < len(gaps) else 0.0)
            path = Path(d) / f"answer-{k}.wav"
            write_wav(str(path), np.concatenate([silence(0.3), audio, silence(0.5)]), SR)
            t0 = time.perf_counter()
            ans = svc.listen(picked[0]["question"], lambda level: None, lambda text: None, threading.Event(),
                             audio_file=path)
            elapsed = time.perf_counter() - t0
            heard = set(_words(ans.text))
            dropped, misheard = [], []
            for p, (a, b) in zip(picked, spans, strict=True):
                # dropped: no transcribed word in the sentence's stretch of audio; misheard: words there, but
                # under half of the sentence's content words (the audio was read, badly)
                words_there = [w for w in ans.words or [] if w["end"] > a and w["start"] < b]
                content = [w for w in _words(p["text"]) if len(w) >= 4]
                if not words_there:
                    dropped.append(p["text"])
                elif sum(w in heard for w in content) < 0.5 * len(content):
                    misheard.append(p["text"])
            rows.append({"answer": k, "voice": voice, "seconds": round(audio.size / SR, 1), "sentences": 3,
                         "dropped": dropped, "misheard": misheard, "elapsed_s": round(elapsed, 2),
                         "text": ans.text})
    total = sum(len(r["dropped"]) for r in rows)
    bad = sum(len(r["misheard"]) for r in rows)
    print(f"  {len(rows)} answers ({3 * len(rows)} sentences): {total} dropped, {bad} misheard", flush=True)
    return {"answers": len(rows), "sentences": 3 * len(rows), "dropped": total, "misheard": bad, "rows": rows}


def bench_memory(device: str) -> dict:
    code = (
        "import os, resource, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "def hwm():\n"
        "    try:\n"  # VmHWM is this process's peak; ru_maxrss would include the parent's before exec
        "        for line in open('/proc/self/status'):\n"
        "            if line.startswith('VmHWM:'):\n"
        "                return int(line.split()[1])\n"
        "    except OSError:\n"
        "        pass\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "from agent.speech.tts import Speaker, NullPlayer\n"
        "from agent.speech.stt import Transcriber\n"
        "from agent.speech.audio import resample\n"
        "base = hwm()\n"
        "sp = Speaker(engine='piper', player=NullPlayer()).load()\n"
        "tts = hwm()\n"
        f"tr = Transcriber(device={device!r}).load()\n"
        "a, sr = sp.synthesize('The z-loss keeps the log partition function close to zero, which helps stability.')\n"
        "t = tr.transcribe(resample(a, sr))\n"
        "peak = hwm()\n"
        "print(base, tts, peak)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "VIVA_CACHE_DIR": str(Path(tempfile.gettempdir()) / "viva-bench-mem")})
    base, tts, peak = (int(x) / 1024 for x in out.stdout.split()[-3:])
    return {"python_baseline_mb": round(base), "after_piper_mb": round(tts), "peak_piper_and_whisper_mb": round(peak)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="rtf,stream,recall,memory")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None, help="whisper_model for this run (a size name or a model folder); "
                    "results go to stt-<tag>.json")
    ap.add_argument("--tag", default=None, help="name for the results file of a --model run")
    ap.add_argument("--limit", type=int, default=0, help="unseen: only the first N sentences")
    args = ap.parse_args()
    global UNSEEN_LIMIT
    UNSEEN_LIMIT = args.limit
    parts = args.only.split(",")
    if args.model:
        os.environ["VIVA_WHISPER_MODEL"] = args.model
    result: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
                    "model": args.tag or args.model or "bundled tiny.en (CTranslate2)"}
    name = "stt" + (f"-{args.tag or Path(args.model).name}" if args.model else "")
    path = RESULTS / (f"{name}.json" if args.device == "cpu" else f"{name}-{args.device}.json")
    if path.exists():  # keep sections not re-run this time
        result = {**json.loads(path.read_text()), **result}
    if "rtf" in parts:
        result["rtf"] = bench_rtf(args.device)
        print("rtf", result["rtf"], flush=True)
    if "stream" in parts:
        result["stream"] = bench_stream(args.device)
    if "recall" in parts:
        result["recall"] = bench_recall(args.device)
        print("recall", {k: v for k, v in result["recall"].items() if not k.startswith("missed")}, flush=True)
    if "memory" in parts:
        result["memory"] = bench_memory(args.device)
    for part, sentences in SENTENCE_SETS.items():
        if part in parts:
            result[part] = bench_unseen(args.device, sentences)
    if "invented" in parts:
        result["invented"] = bench_invented(args.device)
    if "dropped" in parts:
        result["dropped"] = bench_dropped(args.device)
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"]["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    print()
    print(f"{'measure':56} {'value':>12}  target")
    rows = []
    if "rtf" in result:
        r = result["rtf"]
        rows += [(f"real-time factor, wall, median ({r['audio_s']} s audio)", r["rtf_wall_median"], "<= 0.15"),
                 ("real-time factor, wall, best", r["rtf_wall_best"], "<= 0.15"),
                 ("CPU seconds per audio second", r["cpu_per_audio_s"], "")]
    for s in result.get("stream", []):
        rows.append((f"end of speech -> final transcript, {s['speech_s']:.0f} s, {s['mode']}",
                     s["after_speech_end_s"], "<= 2.0 s at 60 s" if s["mode"] == "push-to-talk" else ""))
        if s.get("cpu_after_speech_end_s") is not None:
            rows.append((f"  CPU s of work left at end of speech, {s['speech_s']:.0f} s", s["cpu_after_speech_end_s"], ""))
        rows.append((f"  windows decoded while speaking, {s['speech_s']:.0f} s, {s['mode']}", s["windows"], ""))
        rows.append((f"  CPU s per audio s, {s['speech_s']:.0f} s, {s['mode']}", s["cpu_per_audio_s"], ""))
        if s["mode"] == "endpoint":
            rows.append((f"endpoint -> final transcript, {s['speech_s']:.0f} s", s["after_stop_s"], ""))
    if "recall" in result:
        r = result["recall"]
        rows += [(f"rubric-term recall with biasing ({r['answers']} answers)", r["recall_with_biasing"], ">= 0.95"),
                 ("rubric-term recall without biasing", r["recall_without_biasing"], "< with")]
    if "memory" in result:
        m = result["memory"]
        rows += [("peak RSS, Piper + Whisper loaded (MB)", m["peak_piper_and_whisper_mb"], "")]
    for part in SENTENCE_SETS:
        if part not in result:
            continue
        u = result[part]
        for voice, v in u["voices"].items():
            for m in ("unbiased", "biased", "biased+repair"):
                rows += [(f"{part} ({u['sentences']}), {voice}, {m}: term recall", v[m]["recall"],
                          ">= 0.95" if m == "biased+repair" else ""),
                         (f"  {voice}, {m}: term recall, strict", v[m].get("recall_strict", ""), ""),
                         (f"  {voice}, {m}: word error rate", v[m]["wer"], ""),
                         (f"  {voice}, {m}: real-time factor", v[m]["rtf"], "<= 0.25" if m == "biased+repair" else "")]
            rows.append((f"  {voice}: biased+repair time / unbiased time", v["biased_over_unbiased_time"], "<= 1.3"))
    if "invented" in result:
        i = result["invented"]
        rows.append((f"invented words, {i['files']} silence/noise/tail files", i["invented_words"], "0"))
    if "dropped" in result:
        dr = result["dropped"]
        rows.append((f"dropped sentences, {dr['answers']} answers, app path", dr["dropped"], "0"))
        rows.append(("  misheard sentences (words there, under half right)", dr.get("misheard", 0), ""))
    for name, value, target in rows:
        print(f"{name:56} {value:>12}  {target}")
    print(f"load average {result['machine']['load_avg_at_start']} -> {result['machine']['load_avg_at_end']} "
          f"on {os.cpu_count()} CPUs")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
