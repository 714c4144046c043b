"""Capture a spoken answer: record (from the microphone or an audio file) with VAD endpointing, transcribe
while it is spoken, and measure how it was said. The app and `viva interview --text --voice` both call it.

- ``capture_answer(question_id, bank, transcriber, ...) -> Answer``: blocking (call it from a worker or the
  CLI loop). The rubric's terms bias Whisper and are repaired from near-miss spellings; the answer's
  ``text`` is the repaired transcript, ``transcript`` the text as heard, with insights (pace, fillers,
  pauses, repairs), word timings and the recording (a temporary WAV for the microphone, which
  ``discard_recording`` removes once the answer is recorded; the file itself otherwise). ``stop`` ends a
  microphone recording early (push-to-talk release, Enter in the terminal); otherwise a pause (VAD) does.
- ``CaptureUnavailable`` (a ``UserError``): no microphone, no voice extra, an unreadable file; the message
  says what to do. ``NothingHeard`` (a ``CaptureUnavailable``): the recording held no words.
- ``microphone_available() -> str | None``: None when a microphone can be opened, else the reason.

Nothing heavy is imported with this module: numpy, sounddevice and faster-whisper load inside the functions.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from agent.answer import Answer
from agent.errors import UserError

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.speech.record import AudioSource
    from agent.speech.stt import Transcriber

log = logging.getLogger(__name__)

NOTHING_HEARD = "nothing was heard; type your answer or try again"
_VOICE_EXTRA = "pip install 'viva[voice]'"
TEMP_PREFIX = "viva-answer-"  # a microphone answer's temporary recording


class CaptureUnavailable(UserError):
    """A spoken answer cannot be captured here (no microphone, no voice extra, an unreadable audio file)."""


class NothingHeard(CaptureUnavailable):
    """The recording ended without a word in it (silence, noise, a microphone that gave nothing)."""

    def __init__(self, message: str = NOTHING_HEARD):
        super().__init__(message)


def _voice_extra_missing() -> str | None:
    for module in ("numpy", "faster_whisper", "soundfile"):
        if importlib.util.find_spec(module) is None:
            return f"voice answers need the voice extra ({module} is not installed): {_VOICE_EXTRA}"
    return None


def microphone_available() -> str | None:
    """None when an input device can be opened for recording, else the reason (what to do included)."""
    missing = _voice_extra_missing()
    if missing is not None:
        return missing
    from agent.speech.record import MicrophoneSource, RecorderUnavailable

    try:
        MicrophoneSource()
    except RecorderUnavailable as e:
        return str(e)
    return None


def _source(audio_file: Path | None) -> AudioSource:
    from agent.speech import audio as audio_mod
    from agent.speech import record

    if audio_file is None:
        try:
            return record.MicrophoneSource()
        except record.RecorderUnavailable as e:
            raise CaptureUnavailable(str(e)) from e
    path = Path(audio_file).expanduser()
    if not path.is_file():
        raise CaptureUnavailable(f"no audio file at {audio_file}: give the path of a WAV/FLAC/OGG/MP3 file")
    try:
        samples = audio_mod.load_audio(str(path))
    except Exception as e:
        raise CaptureUnavailable(f"cannot read {audio_file} as audio ({e})") from e
    return record.ArraySource(samples, realtime=False)


def capture_answer(question_id: str | None, bank: Bank | None, transcriber: Transcriber, *,
                   on_level: Callable[[float], None] | None = None, on_text: Callable[[str], None] | None = None,
                   stop: threading.Event | None = None, audio_file: Path | None = None) -> Answer:
    """Record a spoken answer to ``question_id`` and transcribe it (see the module docstring). ``on_text``
    gets the whole transcript so far each time it is read again; ``on_level`` the input level (0-1).
    Raises CaptureUnavailable when nothing can be recorded, NothingHeard when no word was heard."""
    missing = _voice_extra_missing()
    if missing is not None:
        raise CaptureUnavailable(missing)
    import numpy as np

    from agent.speech import audio as audio_mod
    from agent.speech import insights as ins
    from agent.speech import record, stt

    terms: list[str] = []
    if question_id:
        try:
            terms = stt.rubric_terms(question_id, bank)
        except Exception:  # an inline follow-up has no rubric of its own
            terms = []
    source = _source(audio_file)
    streamer = stt.StreamingTranscriber(transcriber, hotwords=terms, on_text=on_text)
    rec = record.Recorder(source=source, on_level=on_level, on_chunk=streamer, auto_stop=audio_file is None)
    try:
        rec.start()
    except record.RecorderUnavailable as e:
        streamer.close(1.0)
        raise CaptureUnavailable(str(e)) from e
    stop = stop if stop is not None else threading.Event()
    recording = None
    while recording is None:
        recording = rec.wait(0.05)
        if recording is None and stop.is_set():
            recording = rec.stop()
    samples = np.asarray(recording.audio, dtype=np.float32)
    tr = streamer.finish(samples, timeout=300)
    if not tr.text.strip():
        raise NothingHeard()
    audio_path = str(audio_file) if audio_file is not None else None
    if audio_path is None and samples.size:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".wav")
        os.close(fd)
        audio_mod.write_wav(tmp, samples, recording.sample_rate)
        audio_path = tmp
    insights = ins.compute_insights(tr.words, terms=terms, duration=tr.duration, text=tr.text).to_dict()
    insights["repairs"] = [{"heard": r.heard, "read_as": r.read_as} for r in tr.repairs]
    words: list[ins.WordDict] = [{"start": w.start, "end": w.end, "word": w.word} for w in tr.words]
    return Answer(text=tr.text, source="voice", transcript=tr.heard_text, insights=insights,
                  audio_path=audio_path, words=words)


def discard_recording(answer: Answer) -> None:
    """Remove the temporary WAV a microphone answer was recorded to (once it has been recorded: the history
    keeps its own copy when the keep_audio setting is on). A user's own audio file is never removed."""
    path = answer.audio_path
    if not path:
        return
    p = Path(path)
    if p.name.startswith(TEMP_PREFIX) and p.parent == Path(tempfile.gettempdir()):
        p.unlink(missing_ok=True)


def repair_lines(answer: Answer) -> list[str]:
    """What a terminal prints after a spoken answer: what was heard, then each rubric term read from a
    near-miss spelling ("heard 'proplexed it', read as 'perplexity'")."""
    lines = [f"heard: {answer.transcript if answer.transcript is not None else answer.text}"]
    for r in (answer.insights or {}).get("repairs", []):
        lines.append(f"heard '{r['heard']}', read as '{r['read_as']}'")
    return lines
