"""Audio input helpers shared by transcription, recording and the CLI.

``load_audio(src)`` turns a file path (WAV, FLAC, MP3, OGG, anything PyAV/ffmpeg decodes) or an array into
16 kHz mono float32, which is what Whisper and the VAD expect. Bad input raises ``UserError`` with what to
do: a missing file, an empty file, or a file that is not audio. A truncated file decodes as far as it goes
(a warning is logged). Stereo is mixed down, any sample rate is resampled.

``require_voice(what)`` raises ``MissingExtra`` naming ``viva[voice]`` when the voice packages are missing.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import MissingExtra, UserError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".webm")

AudioInput = str | Path | np.ndarray

_VOICE_PACKAGES = {
    "stt": ("faster_whisper", "faster-whisper"),
    "tts": ("piper", "piper-tts"),
    "audio": ("sounddevice", "sounddevice"),
}


def require_voice(what: str, parts: tuple[str, ...] = ("stt",)) -> None:
    """Raise MissingExtra when a package of the ``voice`` extra needed for ``what`` is not installed."""
    for part in parts:
        module, package = _VOICE_PACKAGES[part]
        if importlib.util.find_spec(module) is None:
            raise MissingExtra("voice", package, what)


def to_mono_float(audio: np.ndarray) -> np.ndarray:
    """Any numeric array (samples, or samples x channels) -> 1-D float32 in [-1, 1]."""
    a = np.asarray(audio)
    if a.ndim == 2:
        # (samples, channels) as soundfile/sounddevice give it; (channels, samples) if clearly so
        a = a.mean(axis=1) if a.shape[0] >= a.shape[1] else a.mean(axis=0)
    elif a.ndim != 1:
        raise UserError(f"audio must be 1-D (mono) or 2-D (samples x channels), got shape {a.shape}")
    if a.dtype.kind == "i":
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    elif a.dtype.kind == "u":
        info = np.iinfo(a.dtype)
        a = (a.astype(np.float32) - (info.max + 1) / 2) / ((info.max + 1) / 2)
    elif a.dtype.kind != "f":
        raise UserError(f"audio samples must be numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def resample(audio: np.ndarray, sr_from: int, sr_to: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (scipy) or linear interpolation when scipy is absent."""
    if sr_from == sr_to or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    try:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sr_from, sr_to)
        return resample_poly(audio, sr_to // g, sr_from // g).astype(np.float32)
    except ImportError:  # pragma: no cover - scipy comes with the core dependencies
        n = int(round(audio.size * sr_to / sr_from))
        x = np.linspace(0, audio.size - 1, n)
        return np.interp(x, np.arange(audio.size), audio).astype(np.float32)


def load_audio(src: AudioInput, sample_rate: int | None = None) -> np.ndarray:
    """Return 16 kHz mono float32 samples from a file path or an array.

    An array is taken to be at ``sample_rate`` (default 16 kHz). Raises UserError for a missing, empty or
    undecodable file; returns an empty array for a file that decodes to no samples.
    """
    if isinstance(src, np.ndarray):
        a = to_mono_float(src)
        return resample(a, sample_rate or SAMPLE_RATE)
    path = Path(src).expanduser()
    if not path.exists():
        raise UserError(f"audio file not found: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a folder; give an audio file (WAV, FLAC, MP3 or OGG)")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes); record the answer again or give another file")
    require_voice("reading audio files")
    from faster_whisper import decode_audio

    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as e:  # PyAV raises several error types (InvalidDataError, EOFError, ...)
        raise UserError(
            f"could not decode {path} as audio ({type(e).__name__}: {e}); "
            "give a WAV, FLAC, MP3 or OGG file"
        ) from e
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        log.warning("%s decoded to no audio samples", path)
    return audio


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float audio as 16-bit PCM WAV (soundfile)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(to_mono_float(audio), -1.0, 1.0), sample_rate, subtype="PCM_16")
    return path


def describe(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, Any]:
    return {"seconds": round(audio.size / sample_rate, 3), "sample_rate": sample_rate}
