"""Recording answers: push-to-talk and voice-activity endpointing, 16 kHz mono.

API for the UI:

``Recorder(source=None, on_level=None, on_chunk=None, on_stop=None, endpoint_silence_s=None,
max_answer_s=None, auto_stop=True)``
    ``source``: an ``AudioSource`` (default ``MicrophoneSource()``, which raises ``RecorderUnavailable``
    with the message to show when there is no input device or PortAudio is missing; typing stays
    available). ``on_level(level)``: live input level in 0..1 for a meter (about 30 times a second).
    ``on_chunk(audio, start_s)``: each completed stretch of speech (cut at a short pause) while recording
    goes on; pass a ``StreamingTranscriber`` here. ``on_stop(recording)``: called once when recording ends.
    ``start()`` begins recording; ``stop()`` (push-to-talk release) ends it and returns a ``Recording``;
    ``wait(timeout)`` blocks until the endpoint (``endpoint_silence_s`` of silence after speech, default
    ``settings.endpoint_silence_s`` = 1.5 s; shorter thinking pauses do not end it) or ``max_answer_s``
    (default ``settings.max_answer_s``) and returns the ``Recording``. With ``auto_stop=False`` only
    ``stop()`` and the length limit end the recording.
``Recording``: ``audio`` (float32, 16 kHz), ``duration``, ``reason`` ("manual" | "silence" | "max_length" |
    "source_ended"), ``speech_end_s`` (the end of the last speech), ``stopped_at`` (perf_counter time).

Every source calls the same ``Recorder.feed(frames)`` entry point from its own thread (the PortAudio
callback for the microphone), which only queues the frames; a processing thread runs the VAD (Silero,
streamed frame by frame), the level meter, chunking and endpointing. ``ArraySource`` feeds an array
through that same path, in real time or as fast as possible, for tests, benchmarks and answer files.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agent.speech.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME = 512  # samples per VAD frame (32 ms at 16 kHz)
FRAME_S = FRAME / SAMPLE_RATE


class RecorderUnavailable(RuntimeError):
    """No microphone can be used; ``str(e)`` is the message to show. Typing remains available."""


@dataclass
class Recording:
    audio: np.ndarray
    reason: str
    speech_end_s: float | None
    stopped_at: float
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate

    @property
    def has_speech(self) -> bool:
        return self.speech_end_s is not None


# --------------------------------------------------------------------------- sources


class AudioSource(Protocol):
    def start(self, callback: Callable[[np.ndarray], None], on_end: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


class MicrophoneSource:
    """The default input device through sounddevice (PortAudio)."""

    def __init__(self, device: int | str | None = None, blocksize: int = FRAME):
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:
            raise RecorderUnavailable(
                "voice answers are unavailable: the audio library could not be loaded "
                f"({e}). Install PortAudio (Debian/Ubuntu: apt install libportaudio2) and viva[voice]; "
                "you can type your answer instead."
            ) from e
        try:
            info = sd.query_devices(device, kind="input")
        except Exception as e:
            raise RecorderUnavailable(
                "no microphone found: connect one (or choose it in your system sound settings) to answer by "
                "voice; you can type your answer instead."
            ) from e
        if not info or info.get("max_input_channels", 0) < 1:
            raise RecorderUnavailable("no microphone found; you can type your answer instead.")
        self.sd = sd
        self.device = device
        self.blocksize = blocksize
        self._stream = None

    def start(self, callback: Callable[[np.ndarray], None], on_end: Callable[[], None]) -> None:
        def cb(indata, frames, time_info, status):  # PortAudio thread: copy and hand over only
            if status:
                log.debug("input status: %s", status)
            callback(indata[:, 0].copy())

        try:
            self._stream = self.sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                               blocksize=self.blocksize, device=self.device, callback=cb,
                                               finished_callback=on_end)
            self._stream.start()
        except Exception as e:
            raise RecorderUnavailable(f"the microphone could not be opened ({e}); you can type your answer "
                                      "instead.") from e

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None


class ArraySource:
    """Feeds a 16 kHz mono array in blocks, paced like a microphone (``realtime=True``) or flat out."""

    def __init__(self, audio: np.ndarray, realtime: bool = False, blocksize: int = FRAME, speed: float = 1.0):
        self.audio = np.asarray(audio, dtype=np.float32)
        self.realtime = realtime
        self.blocksize = blocksize
        self.speed = speed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, callback: Callable[[np.ndarray], None], on_end: Callable[[], None]) -> None:
        def run() -> None:
            t0 = time.perf_counter()
            for i in range(0, self.audio.size, self.blocksize):
                if self._stop.is_set():
                    return
                if self.realtime:
                    due = t0 + (i + self.blocksize) / SAMPLE_RATE / self.speed
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                callback(self.audio[i:i + self.blocksize].copy())
            on_end()

        self._thread = threading.Thread(target=run, name="viva-array-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------------- VAD


class StreamingVad:
    """Silero VAD (the model faster-whisper ships) run frame by frame with its state carried over."""

    def __init__(self) -> None:
        try:
            from faster_whisper.vad import get_vad_model
        except ImportError as e:
            from agent.errors import MissingExtra

            raise MissingExtra("voice", "faster-whisper", "voice answers") from e

        self.session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros((1, 1, 128), np.float32)
        self.c = np.zeros((1, 1, 128), np.float32)
        self.ctx = np.zeros(64, np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        x = np.concatenate([self.ctx, frame])[None, :]
        out, self.h, self.c = self.session.run(None, {"input": x, "h": self.h, "c": self.c})
        self.ctx = frame[-64:]
        return float(np.asarray(out).ravel()[0])


# --------------------------------------------------------------------------- recorder


class Recorder:
    """Push-to-talk recording with VAD endpointing and chunked hand-off (see module docstring)."""

    def __init__(self, source: AudioSource | None = None, on_level: Callable[[float], None] | None = None,
                 on_chunk: Callable[[np.ndarray, float], None] | None = None,
                 on_stop: Callable[[Recording], None] | None = None, endpoint_silence_s: float | None = None,
                 max_answer_s: float | None = None, auto_stop: bool = True, chunk_pause_s: float = 0.35,
                 min_chunk_s: float = 4.0, max_chunk_s: float = 20.0, threshold: float = 0.5):
        from agent.config import get_settings

        s = get_settings()
        self.source = source if source is not None else MicrophoneSource()
        self.on_level = on_level
        self.on_chunk = on_chunk
        self.on_stop = on_stop
        self.endpoint_silence_s = endpoint_silence_s if endpoint_silence_s is not None else s.endpoint_silence_s
        self.max_answer_s = max_answer_s if max_answer_s is not None else s.max_answer_s
        self.auto_stop = auto_stop
        self.chunk_pause_s = chunk_pause_s
        self.min_chunk_s = min_chunk_s
        self.max_chunk_s = max_chunk_s
        self.threshold = threshold
        self._vad = StreamingVad()
        self._q: queue.Queue[np.ndarray | None] = queue.Queue()
        self._frames: list[np.ndarray] = []
        self._pending = np.zeros(0, np.float32)
        self._n = 0  # samples processed by the VAD
        self._probs: list[float] = []
        self._in_speech = False
        self._last_speech_end: int | None = None  # sample index
        self._chunk_start = 0
        self._chunk_has_speech = False
        self._reason: str | None = None
        self._done = threading.Event()
        self._recording: Recording | None = None
        self._stop_lock = threading.Lock()
        self._started = False
        self._manual = False
        self._level_every = max(1, int(0.033 * SAMPLE_RATE / FRAME))

    # ---- the one entry point every source calls
    def feed(self, frames: np.ndarray) -> None:
        if not self._done.is_set():
            self._q.put(frames)

    def _source_ended(self) -> None:
        self._q.put(None)

    def start(self) -> Recorder:
        if self._started:
            raise RuntimeError("a Recorder records once; make a new one for the next answer")
        self._started = True
        self._worker = threading.Thread(target=self._process, name="viva-recorder", daemon=True)
        self._worker.start()
        self.source.start(self.feed, self._source_ended)
        return self

    # ---- processing thread
    def _process(self) -> None:
        while not self._done.is_set():
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                self._finish("manual" if self._manual else "source_ended")
                return
            self._frames.append(item)
            self._pending = np.concatenate([self._pending, item])
            while self._pending.size >= FRAME and not self._done.is_set():
                frame, self._pending = self._pending[:FRAME], self._pending[FRAME:]
                self._frame(frame)

    def _audio(self) -> np.ndarray:
        return np.concatenate(self._frames) if self._frames else np.zeros(0, np.float32)

    def _frame(self, frame: np.ndarray) -> None:
        p = self._vad(frame)
        self._probs.append(p)
        self._n += FRAME
        idx = len(self._probs)
        if self.on_level and idx % self._level_every == 0:
            rms = float(np.sqrt(np.mean(frame * frame)))
            # -60 dBFS .. 0 dBFS -> 0 .. 1
            self.on_level(max(0.0, min(1.0, (20 * np.log10(rms + 1e-9) + 60) / 60)))
        # hysteresis: enter speech above threshold, leave below threshold - 0.15
        if p >= self.threshold or (self._in_speech and p >= self.threshold - 0.15):
            self._in_speech = True
            self._last_speech_end = self._n
            self._chunk_has_speech = True
        else:
            self._in_speech = False
        silence_s = (self._n - self._last_speech_end) / SAMPLE_RATE if self._last_speech_end is not None else 0.0
        chunk_len_s = (self._n - self._chunk_start) / SAMPLE_RATE
        if self._chunk_has_speech and silence_s >= self.chunk_pause_s and chunk_len_s >= self.min_chunk_s:
            self._emit(self._n)
        elif chunk_len_s >= self.max_chunk_s:
            self._emit(self._quietest_cut())
        if self.auto_stop and self._last_speech_end is not None and silence_s >= self.endpoint_silence_s:
            self._finish("silence")
        elif self._n / SAMPLE_RATE >= self.max_answer_s:
            self._finish("max_length")

    def _quietest_cut(self) -> int:
        """The least speech-like frame in the last 3 s of a chunk with no pause (a forced cut)."""
        lo = max(self._chunk_start // FRAME + 1, len(self._probs) - int(3 / FRAME_S))
        window = self._probs[lo:]
        if not window:
            return self._n
        return (lo + int(np.argmin(window)) + 1) * FRAME

    def _emit(self, end: int) -> None:
        if end <= self._chunk_start:
            return
        if self._chunk_has_speech and self.on_chunk is not None:
            audio = self._audio()[self._chunk_start:end]
            try:
                self.on_chunk(audio, self._chunk_start / SAMPLE_RATE)
            except Exception:
                log.exception("the chunk handler failed")
        self._chunk_start = end
        self._chunk_has_speech = any(p >= self.threshold for p in self._probs[end // FRAME:])

    def _finish(self, reason: str) -> None:
        with self._stop_lock:
            if self._done.is_set():
                return
            self._reason = reason
            stopped_at = time.perf_counter()
            try:
                self.source.stop()
            except Exception:
                log.exception("stopping the audio source failed")
            audio = self._audio()
            if reason == "max_length":
                audio = audio[: int(self.max_answer_s * SAMPLE_RATE)]
            # hand over the speech not yet chunked (the tail after the last cut)
            tail_end = audio.size
            if self._chunk_has_speech or (reason in ("manual", "source_ended")
                                          and self._tail_has_speech(tail_end)):
                if self._last_speech_end is not None and reason == "silence":
                    tail_end = min(audio.size, self._last_speech_end + int(0.3 * SAMPLE_RATE))
                self._chunk_has_speech = True
                self._emit(tail_end)
            speech_end = self._last_speech_end / SAMPLE_RATE if self._last_speech_end is not None else None
            self._recording = Recording(audio, reason, speech_end, stopped_at)
            self._done.set()
        if self.on_stop:
            try:
                self.on_stop(self._recording)
            except Exception:
                log.exception("the on_stop handler failed")

    def _tail_has_speech(self, end: int) -> bool:
        return any(p >= self.threshold for p in self._probs[self._chunk_start // FRAME: end // FRAME + 1])

    # ---- control
    def stop(self) -> Recording:
        """Push-to-talk release: end now, flush the last chunk, return the recording."""
        if not self._started:
            raise RuntimeError("stop() before start()")
        if not self._done.is_set():
            self._manual = True
            self.source.stop()
            self._q.put(None)  # the worker processes what has arrived, then finishes
            if not self._done.wait(10.0):
                self._finish("manual")
        self._done.wait()
        assert self._recording is not None
        return self._recording

    def wait(self, timeout: float | None = None) -> Recording | None:
        """Block until the recording ends by itself (endpoint, length limit, source end)."""
        if not self._done.wait(timeout):
            return None
        return self._recording

    @property
    def recording(self) -> bool:
        return self._started and not self._done.is_set()

    @property
    def elapsed_s(self) -> float:
        return self._n / SAMPLE_RATE
