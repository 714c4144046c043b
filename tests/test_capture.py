"""Capturing a spoken answer (agent.speech.capture): real audio through Whisper."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.answer import Answer
from agent.bank import load_bank
from agent.speech.capture import CaptureUnavailable, NothingHeard, capture_answer, microphone_available
from tests.speech_fixtures import espeak_file, silence
from tests.test_interview import BANK_DIR

SR = 16_000
ANSWER = ("Softmax turns the logits into probabilities that sum to one. The largest logit gets the largest "
          "probability.")


@pytest.fixture(scope="module")
def small_bank():
    return load_bank([BANK_DIR], packaged=False)


@pytest.fixture(scope="module")
def transcriber():
    from agent.speech.stt import Transcriber

    return Transcriber(model="bundled", device="cpu").load()


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Path:
    return espeak_file(ANSWER, tmp_path_factory.mktemp("spoken") / "softmax.wav")


@pytest.fixture(scope="module")
def silent(tmp_path_factory) -> Path:
    from agent.speech.audio import write_wav

    return write_wav(tmp_path_factory.mktemp("silent") / "silence.wav", silence(3.0), SR)


def _first_question(bank) -> str:
    return next(q for q in bank.questions.values() if q.id in bank.rubrics).id


def test_a_spoken_file_gives_a_voice_answer(small_bank, transcriber, spoken) -> None:
    shown: list[str] = []
    ans = capture_answer(_first_question(small_bank), small_bank, transcriber, on_text=shown.append,
                         audio_file=spoken)
    assert isinstance(ans, Answer) and ans.spoken and ans.source == "voice"
    text = ans.text.lower()
    assert "softmax" in text and "sum to one" in text and "probabilit" in text, ans.text
    assert ans.transcript is not None and "sum to one" in ans.transcript.lower()
    assert ans.audio_path == str(spoken)
    assert ans.words and len(ans.words) >= 12
    assert all(w["start"] <= w["end"] for w in ans.words) and ans.words[0]["start"] < 1.5
    assert ans.insights is not None and ans.insights["words"] == len(ans.words)
    assert 60 < ans.insights["wpm"] < 300 and ans.insights["repairs"] == []


def test_a_silent_recording_says_nothing_was_heard(small_bank, transcriber, silent) -> None:
    with pytest.raises(NothingHeard) as e:
        capture_answer(_first_question(small_bank), small_bank, transcriber, audio_file=silent)
    assert str(e.value) == "nothing was heard; type your answer or try again"
    assert isinstance(e.value, CaptureUnavailable)


def test_missing_and_unreadable_files_are_named(small_bank, transcriber, tmp_path) -> None:
    missing = tmp_path / "nope.wav"
    with pytest.raises(CaptureUnavailable) as e:
        capture_answer(None, small_bank, transcriber, audio_file=missing)
    assert str(missing) in str(e.value) and not isinstance(e.value, NothingHeard)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(CaptureUnavailable) as e:
        capture_answer(None, small_bank, transcriber, audio_file=junk)
    assert f"cannot read {junk} as audio" in str(e.value)


def test_microphone_available_gives_the_reason() -> None:
    import sounddevice as sd

    try:
        has_input = sd.query_devices(kind="input").get("max_input_channels", 0) > 0
    except Exception:
        has_input = False
    reason = microphone_available()
    if has_input:
        assert reason is None
    else:
        assert reason is not None and "microphone" in reason and "type your answer" in reason


def test_only_a_temporary_recording_is_discarded(tmp_path) -> None:
    import os
    import tempfile

    from agent.speech.capture import TEMP_PREFIX, discard_recording

    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".wav")
    os.close(fd)
    own = tmp_path / f"{TEMP_PREFIX}mine.wav"  # the user's file, whatever its name
    own.write_bytes(b"RIFF")
    discard_recording(Answer(text="x", source="voice", audio_path=tmp))
    discard_recording(Answer(text="x", source="voice", audio_path=str(own)))
    assert not Path(tmp).exists() and own.exists()
