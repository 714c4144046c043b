"""Speaking: Piper and espeak-ng synthesis, the on-disk cache, streaming playback order, no output device."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soundfile as sf

from agent.speech.tts import NO_OUTPUT_MESSAGE, Speaker, split_pieces, split_sentences

QUESTION = ("Explain the causal language modeling loss. Why is the cross-entropy computed at every position, "
            "and how does this relate to maximum likelihood and perplexity?")


class ListPlayer:
    """Collects what would be played, taking as long as real playback would (scaled down)."""

    def __init__(self, speed: float = 20.0):
        self.played: list[tuple[np.ndarray, int, float]] = []
        self.speed = speed
        self.stopped = 0

    def play(self, audio: np.ndarray, sample_rate: int, cancel: threading.Event) -> None:
        self.played.append((audio, sample_rate, time.perf_counter()))
        cancel.wait(audio.size / sample_rate / self.speed)

    def stop(self) -> None:
        self.stopped += 1


def test_split_sentences_and_lead_piece() -> None:
    assert split_sentences("One. Two?  Three!") == ["One.", "Two?", "Three!"]
    assert split_pieces(QUESTION, lead_words=3) == [
        "Explain the causal", "language modeling loss.",
        "Why is the cross-entropy computed at every position, and how does this relate to maximum likelihood "
        "and perplexity?"]
    assert split_pieces("In short, what is RoPE and why rotate?", 3)[0] == "In short,"
    assert split_pieces("What is RoPE?", 3) == ["What is RoPE?"]
    assert split_pieces(QUESTION, lead_words=0) == split_sentences(QUESTION)
    assert split_pieces("   ") == []


@pytest.mark.slow
def test_piper_synthesis_is_cached_on_disk(tmp_path, monkeypatch) -> None:
    sp = Speaker(engine="piper", cache_dir=tmp_path, player=ListPlayer())
    audio, sr = sp.synthesize("What is perplexity?")
    assert sr == 22050 and audio.size > sr * 0.5 and np.abs(audio).max() > 0.05
    files = list((tmp_path / "tts").glob("*.npy"))
    assert len(files) == 1

    def boom(text: str) -> np.ndarray:
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr(sp.engine, "synth", boom)
    again, _ = sp.synthesize("What is perplexity?")
    np.testing.assert_array_equal(again, audio)
    # a different text or voice is a different cache entry
    other = Speaker(engine="espeak", cache_dir=tmp_path, player=ListPlayer())
    other.synthesize("What is perplexity?")
    assert len(list((tmp_path / "tts").glob("*.npy"))) == 2


@pytest.mark.slow
def test_speak_streams_pieces_in_order_and_round_trips(tmp_path) -> None:
    from agent.speech.audio import resample
    from agent.speech.insights import find_terms
    from agent.speech.stt import Transcriber

    player = ListPlayer()
    sp = Speaker(engine="piper", cache_dir=tmp_path, player=player)
    sp.load()
    job = sp.speak(QUESTION)
    assert job.wait(120)
    assert job.error is None
    assert job.pieces_played == len(split_pieces(QUESTION)) == 3
    assert job.first_audio_s is not None and job.first_audio_s > 0
    assert [p[1] for p in player.played] == [22050] * 3
    audio = np.concatenate([resample(a, sr) for a, sr, _ in player.played])
    # biased with every term it checks, as the app biases with the question's terms (biased with only two of them,
    # the tiny model heard "maximum likelihood" as "Max and a likelihood" in two of four full test runs)
    tr = Transcriber(device="cpu").transcribe(audio, hotwords=["perplexity", "cross-entropy", "maximum likelihood"])
    assert find_terms(tr.text, ["cross-entropy", "every position", "maximum likelihood", "perplexity"]) == [
        "cross-entropy", "every position", "maximum likelihood", "perplexity"], tr.text


@pytest.mark.slow
def test_stop_cancels_speaking(tmp_path) -> None:
    player = ListPlayer(speed=0.5)  # slower than real time: the first piece is still "playing"
    sp = Speaker(engine="piper", cache_dir=tmp_path, player=player)
    job = sp.speak(QUESTION)
    deadline = time.monotonic() + 60
    while not player.played and time.monotonic() < deadline:
        time.sleep(0.01)
    sp.stop()
    assert job.wait(5)
    assert job.pieces_played <= 1
    assert player.stopped == 1


@pytest.mark.slow
def test_no_output_device_is_said_once_and_text_carries_on(tmp_path) -> None:
    import sounddevice as sd

    try:
        sd.query_devices(kind="output")
        pytest.skip("this machine has an audio output device")
    except Exception:
        pass
    messages: list[str] = []
    sp = Speaker(engine="piper", cache_dir=tmp_path, on_status=messages.append)
    for _ in range(2):
        job = sp.speak("What is a KV cache?")
        assert job.wait(30)
        assert job.error is None and job.pieces_played == 0
    assert len(messages) == 1 and messages[0].startswith(NO_OUTPUT_MESSAGE)


@pytest.mark.slow
def test_missing_piper_voice_falls_back_to_espeak(tmp_path) -> None:
    messages: list[str] = []
    sp = Speaker(engine="piper", voice=str(tmp_path / "nope.onnx"), cache_dir=tmp_path, player=ListPlayer(),
                 on_status=messages.append)
    audio, sr = sp.synthesize("Hello there.")
    assert sp.engine.name == "espeak" and audio.size > 0 and sr > 0
    assert len(messages) == 1 and "espeak" in messages[0] and "nope.onnx" in messages[0]


def test_espeak_speaks_text_that_starts_with_a_dash() -> None:
    """A line starting with "-" (a bullet, a minus sign) is text to speak, not an espeak-ng option."""
    from agent.speech.tts import EspeakEngine

    eng = EspeakEngine()
    for text in ("- the loss is cross-entropy", "-3 is the log probability", "--stdout"):
        audio = eng.synth(text)
        assert audio.size / eng.sample_rate > 0.5, text  # spoken words, not an empty or failed run


def test_engine_none_is_silent(tmp_path) -> None:
    player = ListPlayer()
    sp = Speaker(engine="none", cache_dir=tmp_path, player=player)
    job = sp.speak("Anything.")
    assert job.wait(5) and job.pieces_played == 0 and player.played == []


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["piper", "espeak"])
def test_cli_say_writes_a_wav(tmp_path, capsys, engine: str) -> None:
    from agent.cli import main

    out = tmp_path / f"{engine}.wav"
    assert main(["say", "What", "is", "label", "smoothing?", "--out", str(out), "--engine", engine]) == 0
    info = sf.info(str(out))
    assert info.duration > 0.8 and info.channels == 1
    assert str(out) in capsys.readouterr().out
