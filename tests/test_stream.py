"""Streaming transcription: words settled by two agreeing readings, short windows, a final pass over the rest
only, and a finish() that never waits for a stale window. Real audio (espeak-ng) through the bundled Whisper."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest

from tests.speech_fixtures import espeak_file, join, silence

pytestmark = pytest.mark.slow

SR = 16_000

SENTENCES = [
    "A prefix language model uses full bidirectional attention over the prefix, and causal attention over "
    "the rest.",
    "The loss is computed only on the tokens after the prefix.",
    "Rotary embeddings rotate the query and the key by an angle that grows with the position.",
    "Each pair of dimensions uses its own frequency, so the score depends on the relative distance.",
    "Dropout is applied to the attention weights, and the residual stream is normalised before each block.",
]
KEYS = ["directional attention", "computed only", "query", "frequency", "residual"]


@pytest.fixture(scope="module")
def transcriber():
    from agent.speech.stt import Transcriber

    return Transcriber(model="bundled", device="cpu").load()


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> list[np.ndarray]:
    from agent.speech.audio import load_audio

    d = tmp_path_factory.mktemp("stream")
    return [load_audio(espeak_file(s, d / f"s{i}.wav")) for i, s in enumerate(SENTENCES)]


@pytest.fixture(scope="module")
def answer(parts) -> np.ndarray:
    return np.concatenate([silence(0.3), join(parts, [0.5, 0.8, 0.4, 0.7]), silence(0.6)])


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("-", " "))


def _seam_repeats(words, cuts: list[float]) -> list[str]:
    """Words read twice at a settled boundary: the same word (or two) just before and just after a cut."""
    out = []
    for c in cuts:
        before = [w for w in words if w.end <= c][-2:]
        after = [w for w in words if w.start >= c][:2]
        norm = [_words(w.word) for w in before + after]
        b, a = norm[: len(before)], norm[len(before):]
        if a and b and (a[0] == b[-1] or (len(a) > 1 and len(b) > 1 and a[:2] == b[-2:])):
            out.append(f"{' '.join(w.word for w in before)} | {' '.join(w.word for w in after)}")
    return out


def test_streaming_in_real_time_equals_the_one_pass_decode(transcriber, answer) -> None:
    """A five-sentence answer spoken in real time: words are settled while it is spoken (short windows),
    and the final transcript keeps every sentence, reads no word twice at a seam, and matches the one-pass
    decode of the same recording."""
    from rapidfuzz.distance import Levenshtein

    from agent.speech.record import ArraySource, Recorder
    from agent.speech.stt import StreamingTranscriber

    one_pass = transcriber.transcribe(answer).text
    cuts: list[float] = []
    windows: list[float] = []
    stream = StreamingTranscriber(transcriber)
    real = transcriber.transcribe

    def watching(audio, *a, **kw):  # the windows the worker reads, and where it settles
        if threading.current_thread().name == "viva-stt-stream":
            windows.append(np.asarray(audio).size / SR)
            cuts.append(stream._committed_s)
        return real(audio, *a, **kw)

    transcriber.transcribe = watching  # type: ignore[method-assign]
    try:
        rec = Recorder(ArraySource(answer, realtime=True), on_chunk=stream, auto_stop=False, min_chunk_s=2.0)
        rec.start()
        time.sleep(answer.size / SR + 0.1)
        r = rec.stop()
        tr = stream.finish(r.audio, timeout=60)
    finally:
        del transcriber.transcribe
    cuts = sorted({c for c in cuts if c > 0})
    assert cuts, "nothing was settled while the answer was spoken"
    assert max(windows) < answer.size / SR / 2, windows  # windows start at the settled boundary
    text = tr.text.lower()
    assert all(k in text for k in KEYS), tr.text
    assert not _seam_repeats(tr.words, cuts), (_seam_repeats(tr.words, cuts), tr.text)
    starts = [w.start for w in tr.words]
    assert starts == sorted(starts)
    # as good as the one-pass decode: no more word errors against what was said (tiny.en misreads the
    # espeak-ng voice in places, both ways), and about as many words
    ref = _words(" ".join(SENTENCES))
    stream_err = Levenshtein.distance(ref, _words(tr.text))
    one_pass_err = Levenshtein.distance(ref, _words(one_pass))
    assert stream_err <= one_pass_err + max(2, len(ref) // 25), (stream_err, one_pass_err, one_pass, tr.text)
    assert abs(len(_words(tr.text)) - len(_words(one_pass))) <= 3, (one_pass, tr.text)


def test_settling_needs_two_agreeing_readings(transcriber, parts) -> None:
    """One reading settles nothing; a second that agrees settles up to a pause, and the window after it
    starts in that pause (never inside a word)."""
    from agent.speech.stt import StreamingTranscriber

    stream = StreamingTranscriber(transcriber)
    first = np.concatenate([silence(0.3), parts[0], silence(0.6)])
    stream.feed(first, 0.0)
    deadline = time.time() + 60
    while stream.windows_decoded < 1 and time.time() < deadline:
        time.sleep(0.02)
    assert stream.windows_decoded == 1 and stream._committed == [] and stream._committed_s == 0.0
    stream.feed(np.concatenate([parts[1], silence(0.6)]), first.size / SR)
    while stream.windows_decoded < 2 and time.time() < deadline:
        time.sleep(0.02)
    cut = stream._committed_s
    settled = " ".join(s.text for s in stream._committed).lower()
    assert "directional" in settled and "computed" not in settled, settled
    assert stream._committed[-1].end < cut < 0.3 + parts[0].size / SR + 0.6
    tr = stream.finish(timeout=60)
    assert "computed only on the" in tr.text.lower(), tr.text
    assert tr.text.lower().count("directional") == 1


def test_finish_does_not_wait_for_a_stale_window(transcriber, parts) -> None:
    """finish() while the worker reads a long window that the final audio makes stale: it gives that window
    up and returns sooner than the window's own decode takes (measured here on the same audio)."""
    from agent.speech.stt import StreamingTranscriber

    long = join([*parts, *parts[:2]], 0.5)[: 28 * SR]
    short = np.concatenate([silence(0.3), parts[1], silence(0.3)])
    transcriber.transcribe(long)  # warm
    t0 = time.perf_counter()
    transcriber.transcribe(long)
    window_s = time.perf_counter() - t0

    stream = StreamingTranscriber(transcriber)
    stream.feed(long, 0.0)
    deadline = time.time() + 30
    while stream._inflight is None and time.time() < deadline:
        time.sleep(0.005)
    assert stream._inflight is not None
    time.sleep(0.05)
    t0 = time.perf_counter()
    tr = stream.finish(short, timeout=60)  # another recording: the window being read is stale
    finish_s = time.perf_counter() - t0
    assert "computed only on the" in tr.text.lower(), tr.text
    assert "rotary" not in tr.text.lower()
    assert finish_s < window_s, (finish_s, window_s)
    assert stream.windows_decoded == 0  # the abandoned reading was dropped
    assert not stream._thread.is_alive()


def test_stop_returns_between_model_calls(transcriber, parts) -> None:
    """transcribe(stop=...) gives up after the model call under way; a set stop decodes nothing."""
    audio = join([*parts, *parts], 0.6)  # over 30 s: two Whisper windows
    assert audio.size / SR > 40
    full = transcriber.transcribe(audio)
    assert transcriber.transcribe(audio, stop=lambda: True).segments == []
    ev = threading.Event()
    timer = threading.Timer(0.3, ev.set)
    timer.start()
    t0 = time.perf_counter()
    part = transcriber.transcribe(audio, stop=ev)
    timer.cancel()
    assert time.perf_counter() - t0 < full.elapsed_s
    assert len(part.segments) < len(full.segments)


def test_a_short_tail_after_the_last_reading_costs_nothing(transcriber, parts) -> None:
    """When the worker's last window read everything fed, a recording that is only 25 ms longer (a click) is
    finished from that reading: no decode at all."""
    from agent.speech.stt import StreamingTranscriber
    from tests.speech_fixtures import count_windows, reset_count, stop_counting

    audio = np.concatenate([silence(0.3), parts[1], silence(0.5)])
    stream = StreamingTranscriber(transcriber)
    stream.feed(audio, 0.0)
    deadline = time.time() + 60
    while stream.windows_decoded < 1 and time.time() < deadline:
        time.sleep(0.02)
    assert stream.windows_decoded == 1
    click = np.random.default_rng(3).normal(0, 0.3, int(0.025 * SR)).astype(np.float32)
    seen = count_windows(transcriber)
    try:
        reset_count(seen)
        tr = stream.finish(np.concatenate([audio, click]), timeout=60)
        assert seen["windows"] == 0, seen
    finally:
        stop_counting(transcriber)
    assert "computed only on the" in tr.text.lower(), tr.text
    assert tr.duration == pytest.approx((audio.size + click.size) / SR, abs=0.01)


def test_silence_only_stream_gives_empty_text(transcriber) -> None:
    from agent.speech.stt import StreamingTranscriber

    shown: list[str] = []
    stream = StreamingTranscriber(transcriber, hotwords=["prefix", "causal"], on_text=shown.append)
    quiet = np.random.default_rng(0).normal(0, 0.003, 8 * SR).astype(np.float32)
    for i in range(4):  # chunks as a Recorder hands them over
        stream.feed(quiet[i * 2 * SR:(i + 1) * 2 * SR], 2.0 * i)
    tr = stream.finish(quiet, timeout=60)
    assert tr.text == "" and tr.words == []
    assert all(t == "" for t in shown)
