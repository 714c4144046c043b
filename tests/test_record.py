"""Recording: endpointing, length limit, push-to-talk and chunk hand-off on synthesised speech fed through the
same entry point as the microphone callback (ArraySource), and a clear error when there is no microphone."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from agent.speech.record import ArraySource, Recorder, RecorderUnavailable
from tests.speech_fixtures import join, silence, synth

SR = 16_000


@pytest.fixture(scope="module")
def sentences() -> list[np.ndarray]:
    return [synth("Rotary embeddings rotate the query and the key."),
            synth("The score then depends on the relative position."),
            synth("Each pair of dimensions uses its own frequency.")]


def _run(audio: np.ndarray, **kw) -> tuple[Recorder, list[tuple[np.ndarray, float]], list[float]]:
    chunks: list[tuple[np.ndarray, float]] = []
    levels: list[float] = []
    rec = Recorder(ArraySource(audio), on_chunk=lambda a, t: chunks.append((a, t)), on_level=levels.append, **kw)
    rec.start()
    assert rec.wait(60) is not None
    return rec, chunks, levels


def test_endpoint_after_silence_but_not_on_a_thinking_pause(sentences) -> None:
    s1, s2, s3 = sentences
    audio = join([s1, s2, s3, silence(4.0)], gap_s=[1.0, 0.4, 0.0])  # 1.0 s thinking pause, then 4 s silence
    rec, chunks, _ = _run(audio, endpoint_silence_s=1.5)
    r = rec.wait()
    assert r.reason == "silence"
    speech_end = (s1.size + s2.size + s3.size) / SR + 1.4
    assert r.speech_end_s == pytest.approx(speech_end, abs=0.35)
    # stopped about 1.5 s after the end of speech, well before the end of the audio
    assert r.duration == pytest.approx(r.speech_end_s + 1.5, abs=0.1)
    # speech was handed over in several chunks while "recording", covering all three sentences in order
    assert len(chunks) >= 2
    starts = [t for _, t in chunks]
    assert starts == sorted(starts) and starts[0] == 0.0
    covered = sum(a.size for a, _ in chunks) / SR
    assert covered >= speech_end - 0.3
    for a, t in chunks:  # chunks are slices of the recording at their stated times
        i = int(round(t * SR))
        np.testing.assert_array_equal(a, r.audio[i:i + a.size])


def test_a_longer_endpoint_setting_keeps_recording(sentences) -> None:
    s1, s2, _ = sentences
    audio = join([s1, s2, silence(1.0)], gap_s=[2.0, 0.0])
    r = _run(audio, endpoint_silence_s=2.5)[0].wait()
    assert r.reason == "source_ended"  # the 2 s pause did not end it and the tail was too short
    assert r.duration == pytest.approx(audio.size / SR, abs=0.05)


def test_endpoint_follows_the_setting(sentences, monkeypatch) -> None:
    from agent.config import reset_settings

    monkeypatch.setenv("VIVA_ENDPOINT_SILENCE_S", "0.8")
    reset_settings()
    s1, s2, _ = sentences
    audio = join([s1, s2, silence(3.0)], gap_s=[1.0, 0.0])
    r = _run(audio)[0].wait()
    assert r.reason == "silence"
    assert r.speech_end_s == pytest.approx(s1.size / SR, abs=0.5)  # the 1.0 s pause ended it


def test_max_answer_length(sentences) -> None:
    audio = np.concatenate(sentences * 2)
    r = _run(audio, max_answer_s=3.0)[0].wait()
    assert r.reason == "max_length"
    assert r.duration == pytest.approx(3.0, abs=0.001)


def test_silence_never_endpoints_and_gives_no_chunks() -> None:
    rec, chunks, levels = _run(silence(5.0), endpoint_silence_s=1.0)
    r = rec.wait()
    assert r.reason == "source_ended" and not r.has_speech and chunks == []
    assert levels and max(levels) == 0.0


def test_noise_is_not_speech() -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, 5 * SR).astype(np.float32)
    rec, chunks, levels = _run(noise, endpoint_silence_s=1.0)
    assert not rec.wait().has_speech and chunks == []
    assert min(levels) > 0.5  # loud input shows on the meter


def test_level_meter_follows_the_voice(sentences) -> None:
    audio = join([silence(1.0), sentences[0], silence(1.0)], gap_s=0.0)
    _, _, levels = _run(audio, auto_stop=False)
    assert all(0.0 <= v <= 1.0 for v in levels)
    n = len(levels)
    assert max(levels[n // 4: 3 * n // 4]) > 0.5
    assert max(levels[: n // 8]) == 0.0
    assert len(levels) >= (audio.size / SR) * 25  # about 30 updates a second


def test_push_to_talk_stop_in_real_time(sentences) -> None:
    chunks: list[tuple[np.ndarray, float]] = []
    audio = np.concatenate([sentences[0], sentences[1], silence(5.0)])
    rec = Recorder(ArraySource(audio, realtime=True), on_chunk=lambda a, t: chunks.append((a, t)), auto_stop=False)
    stopped = []
    rec.on_stop = stopped.append
    rec.start()
    time.sleep(1.5)
    assert rec.recording
    r = rec.stop()
    assert r.reason == "manual" and stopped == [r]
    assert 1.3 <= r.duration <= 2.0
    assert chunks and chunks[-1][1] + chunks[-1][0].size / SR == pytest.approx(r.duration, abs=0.05)
    assert not rec.recording
    assert rec.stop() is r  # idempotent


def test_streaming_transcription_while_recording(sentences) -> None:
    from agent.speech.insights import find_terms
    from agent.speech.stt import StreamingTranscriber, Transcriber

    texts: list[str] = []
    stream = StreamingTranscriber(Transcriber(device="cpu"), hotwords=["rotary", "relative position"],
                                  on_text=texts.append)
    audio = join([*sentences, silence(2.0)], gap_s=[0.6, 0.6, 0.0])
    rec = Recorder(ArraySource(audio, realtime=True, speed=2.0), on_chunk=stream, endpoint_silence_s=1.5,
                   min_chunk_s=1.0)
    rec.start()
    r = rec.wait(60)
    assert r is not None and r.reason == "silence"
    tr = stream.finish(r.audio, timeout=120)
    # the text shown while speaking is the whole transcript so far, read again as audio arrives
    assert stream.windows_decoded >= 1 and texts
    assert find_terms(tr.text, ["rotary", "relative position", "frequency"]) == [
        "rotary", "relative position", "frequency"], tr.text
    starts = [w.start for w in tr.words]
    assert starts == sorted(starts)
    third = (sentences[0].size + sentences[1].size) / SR + 1.2
    assert any("frequency" in w.text.lower() and w.start > third for w in tr.words)
    with pytest.raises(RuntimeError):
        stream.feed(np.zeros(10, np.float32), 0.0)


def test_no_microphone_gives_recorder_unavailable() -> None:
    import sounddevice as sd

    try:
        sd.query_devices(kind="input")
        pytest.skip("this machine has a microphone")
    except Exception:
        pass
    with pytest.raises(RecorderUnavailable, match="type your answer"):
        Recorder()


def test_portaudio_missing_gives_recorder_unavailable(monkeypatch) -> None:
    from agent.speech.record import MicrophoneSource

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails like a missing PortAudio
    with pytest.raises(RecorderUnavailable, match="PortAudio"):
        MicrophoneSource()


def test_streaming_backlog_loses_nothing(sentences) -> None:
    """Audio arriving faster than it is decoded: the worker reads the newest window, never a queue of
    fragments, and the final transcript is decoded from everything fed."""
    from agent.speech.insights import find_terms
    from agent.speech.stt import StreamingTranscriber, Transcriber

    stream = StreamingTranscriber(Transcriber(device="cpu"), hotwords=["rotary", "relative position"])
    t = 0.0
    for s in sentences:  # all three arrive at once
        piece = np.concatenate([s, silence(0.4)])
        stream.feed(piece, t)
        t += piece.size / SR
    tr = stream.finish(timeout=120)
    assert stream.windows_decoded <= 3
    assert find_terms(tr.text, ["rotary", "relative position", "frequency"]) == [
        "rotary", "relative position", "frequency"], tr.text
    assert tr.duration == pytest.approx(t, abs=0.01)


def test_finish_keeps_settled_sentences_and_decodes_only_the_rest(sentences) -> None:
    """finish() keeps what streaming settled and decodes only the audio after the settled boundary (no word
    twice, none lost, repair still applied); audio other than what was fed is decoded whole."""
    from agent.speech.insights import find_terms
    from agent.speech.stt import StreamingTranscriber, Transcriber

    transcriber = Transcriber(device="cpu")
    audio = join([*sentences, silence(0.5)], gap_s=[0.8, 0.8, 0.0])
    cut_s = sentences[0].size / SR + 0.4  # in the pause after the first sentence
    first = transcriber.transcribe(audio[: int(cut_s * SR)], hotwords=["rotary"]).segments
    assert first and "rotary" in " ".join(s.text.lower() for s in first)

    def settled() -> StreamingTranscriber:
        stream = StreamingTranscriber(transcriber, hotwords=["rotary", "relative position"])
        stream.close()  # no worker: the settled state is set here, as the worker would have left it
        stream._finished = False
        stream.feed(audio, 0.0)
        stream._committed, stream._committed_s = list(first), cut_s
        return stream

    decoded: list[int] = []
    real = transcriber.transcribe

    def counting(a, *args, **kw):
        decoded.append(np.asarray(a).size)
        return real(a, *args, **kw)

    transcriber.transcribe = counting  # type: ignore[method-assign]
    try:
        tr = settled().finish(audio)
        assert decoded == [audio.size - int(cut_s * SR)]  # only the audio after the boundary
        assert tr.segments[: len(first)] == first
        assert find_terms(tr.text, ["rotary", "relative position", "frequency"]) == [
            "rotary", "relative position", "frequency"], tr.text
        assert tr.text.lower().count("rotary") == 1, tr.text
        starts = [w.start for w in tr.words]
        assert starts == sorted(starts) and starts[-1] > cut_s
        assert tr.duration == pytest.approx(audio.size / SR, abs=0.01)
        decoded.clear()
        other = audio.copy()
        other[: SR // 2] += 0.01
        settled().finish(other)
        assert decoded == [other.size]  # not what was fed: the whole recording, in one pass
    finally:
        del transcriber.transcribe
