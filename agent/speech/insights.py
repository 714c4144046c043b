"""Voice insights: pure functions over word timestamps (no model, no I/O).

Words are anything with ``start``, ``end`` (seconds) and ``word`` (text) attributes, e.g.
``agent.speech.stt.Word``; ``W(start, end, word)`` here builds one for tests and callers.

- ``wpm(words)``: words per minute over the talk span (first word start to last word end).
- ``wpm_over_time(words, window_s=15)``: ``[(t0, t1, wpm), ...]`` per window of the answer.
- ``fillers(words)``: ``[Hit(text, start)]`` for "um", "uh", "er", "erm", "hmm" and the multi-word "you
  know", "sort of", "kind of", "I mean"; "like" counts only where it is not a verb or a comparison (after
  a comma or a pause, at the start of the answer, or before another filler/comma).
- ``pauses(words, min_s=2.0)``: ``[Pause(start, end, duration)]`` for gaps between words longer than min_s.
- ``hedges(words)``: ``[Hit(text, start)]`` for "I think", "maybe", "probably", "I guess", "perhaps",
  "I'm not sure", "I believe", "might", "kind of", "sort of"...
- ``talk_time(words)``: seconds of speech (the talk span minus pauses over 0.5 s).
- ``find_terms(text, terms)``: which terms occur (case, hyphen, spacing and plural insensitive).
- ``compute_insights(words, terms=(), duration=None, text=None) -> Insights`` bundles all of them
  (``to_dict()``); ``text`` (the transcript with repaired terms) is where rubric terms are looked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, TypedDict, cast


class WordLike(Protocol):
    start: float
    end: float
    word: str


@dataclass
class W:
    start: float
    end: float
    word: str


@dataclass
class Hit:
    text: str
    start: float


@dataclass
class Pause:
    start: float
    end: float
    duration: float


SINGLE_FILLERS = {"um", "umm", "uh", "uhh", "er", "erm", "hmm", "mm", "ah"}
MULTI_FILLERS = [("you", "know"), ("sort", "of"), ("kind", "of"), ("i", "mean")]
HEDGES = [("i", "think"), ("i", "guess"), ("i", "believe"), ("i", "suppose"), ("maybe",), ("probably",),
          ("perhaps",), ("possibly",), ("might",), ("i'm", "not", "sure"), ("not", "sure"), ("somewhat",),
          ("roughly",), ("i", "would", "say")]
# "like" is a verb or a preposition after these words, not a filler
_LIKE_NOT_FILLER_BEFORE = {"i", "you", "we", "they", "would", "looks", "look", "looked", "something", "just",
                           "more", "much", "is", "it's", "feels", "seems", "sounds", "things", "don't", "didn't"}
_TOKEN_RE = re.compile(r"[a-z0-9']+")


def norm_token(text: str) -> str:
    t = text.strip().lower().replace("\u2019", "'")
    return "".join(_TOKEN_RE.findall(t))


def _tokens(words: Sequence[WordLike]) -> list[str]:
    return [norm_token(w.word) for w in words]


def _span(words: Sequence[WordLike]) -> float:
    return max(0.0, words[-1].end - words[0].start) if words else 0.0


def wpm(words: Sequence[WordLike]) -> float:
    """Words per minute over the talk span; 0 for fewer than two words."""
    words = [w for w in words if norm_token(w.word)]
    span = _span(words)
    if len(words) < 2 or span <= 0:
        return 0.0
    return round(len(words) / span * 60.0, 1)


def wpm_over_time(words: Sequence[WordLike], window_s: float = 15.0) -> list[tuple[float, float, float]]:
    """Words per minute in consecutive windows from the first word (a word counts where it starts)."""
    words = [w for w in words if norm_token(w.word)]
    if not words:
        return []
    t0, t_end = words[0].start, words[-1].end
    out = []
    a = t0
    while a < t_end:
        b = min(a + window_s, t_end)
        n = sum(1 for w in words if a <= w.start < b)
        length = b - a
        out.append((round(a, 2), round(b, 2), round(n / length * 60.0, 1) if length > 0 else 0.0))
        a = b
    return out


def _match_phrases(tokens: list[str], phrases: Iterable[tuple[str, ...]]) -> list[tuple[int, tuple[str, ...]]]:
    hits = []
    used: set[int] = set()
    for phrase in sorted(phrases, key=len, reverse=True):
        n = len(phrase)
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i:i + n]) == phrase and not used.intersection(range(i, i + n)):
                hits.append((i, phrase))
                used.update(range(i, i + n))
    return sorted(hits)


def fillers(words: Sequence[WordLike], pause_s: float = 0.3) -> list[Hit]:
    toks = _tokens(words)
    hits: list[Hit] = []
    for i, t in enumerate(toks):
        if t in SINGLE_FILLERS:
            hits.append(Hit(t, words[i].start))
        elif t == "like":
            prev = toks[i - 1] if i > 0 else None
            raw_prev = words[i - 1].word.strip() if i > 0 else ""
            gap_before = words[i].start - words[i - 1].end if i > 0 else 0.0
            nxt_raw = words[i].word.strip()
            if (prev is None or raw_prev.endswith((",", ".", "?", "!")) or gap_before >= pause_s
                    or nxt_raw.endswith(",") or prev in SINGLE_FILLERS):
                hits.append(Hit("like", words[i].start))
            elif prev not in _LIKE_NOT_FILLER_BEFORE and i + 1 < len(toks) and toks[i + 1] in SINGLE_FILLERS:
                hits.append(Hit("like", words[i].start))
    for i, phrase in _match_phrases(toks, MULTI_FILLERS):
        if phrase == ("kind", "of") or phrase == ("sort", "of"):
            # "a kind of loss" is not a filler; "it's kind of like" is
            prev = toks[i - 1] if i > 0 else ""
            if prev in {"a", "the", "this", "that", "what", "which", "some", "any", "every", "one", "each"}:
                continue
        hits.append(Hit(" ".join(phrase), words[i].start))
    return sorted(hits, key=lambda h: h.start)


def pauses(words: Sequence[WordLike], min_s: float = 2.0) -> list[Pause]:
    out = []
    for a, b in zip(words, words[1:], strict=False):
        gap = b.start - a.end
        if gap > min_s:
            out.append(Pause(round(a.end, 2), round(b.start, 2), round(gap, 2)))
    return out


def hedges(words: Sequence[WordLike]) -> list[Hit]:
    toks = _tokens(words)
    return [Hit(" ".join(p), words[i].start) for i, p in _match_phrases(toks, HEDGES)]


def talk_time(words: Sequence[WordLike], gap_s: float = 0.5) -> float:
    if not words:
        return 0.0
    t = _span(words) - sum(max(0.0, b.start - a.end) for a, b in zip(words, words[1:], strict=False) if b.start - a.end > gap_s)
    return round(max(t, 0.0), 2)


def _norm_text(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[-_/]", " ", text)
    return re.findall(r"[a-z0-9']+", text)


def find_terms(text: str, terms: Iterable[str]) -> list[str]:
    """Terms that occur in text: case-, hyphen- and spacing-insensitive ("z-loss" = "Z loss" = "zloss");
    a plural "s" on the last word is allowed. Returns the terms as given, in the order given."""
    toks = [t.replace("'", "") for t in _norm_text(text)]
    found = []
    for term in terms:
        target = "".join(t.replace("'", "") for t in _norm_text(term))
        if not target:
            continue
        hit = False
        for i in range(len(toks)):
            acc = ""
            for j in range(i, min(i + 6, len(toks))):
                acc += toks[j]
                if acc == target or acc == target + "s" or acc == target + "es":
                    hit = True
                    break
                if len(acc) >= len(target) + 2:
                    break
            if hit:
                break
        if hit:
            found.append(term)
    return found


class HitDict(TypedDict):
    text: str
    start: float


class PauseDict(TypedDict):
    start: float
    end: float
    duration: float


class RepairDict(TypedDict):
    heard: str
    read_as: str


class WordDict(TypedDict):
    """One recognised word with its timing (seconds from the start of the recording), as kept with an answer."""

    start: float
    end: float
    word: str


class InsightsDict(TypedDict, total=False):
    """:meth:`Insights.to_dict`, as stored with a spoken answer (and, once transcribed, the transcript's
    ``repairs``: the rubric terms read from near-miss spellings). Stored turns give it back from JSON, where
    the windows are lists."""

    words: int
    duration_s: float
    talk_time_s: float
    wpm: float
    wpm_over_time: list[tuple[float, float, float]] | list[list[float]]
    fillers: list[HitDict]
    pauses: list[PauseDict]
    hedges: list[HitDict]
    terms_used: list[str]
    terms_missing: list[str]
    filler_count: int
    repairs: list[RepairDict]


@dataclass
class Insights:
    words: int = 0
    duration_s: float = 0.0
    talk_time_s: float = 0.0
    wpm: float = 0.0
    wpm_over_time: list[tuple[float, float, float]] = field(default_factory=list)
    fillers: list[Hit] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    hedges: list[Hit] = field(default_factory=list)
    terms_used: list[str] = field(default_factory=list)
    terms_missing: list[str] = field(default_factory=list)

    @property
    def filler_count(self) -> int:
        return len(self.fillers)

    def to_dict(self) -> InsightsDict:
        d = asdict(self)
        d["filler_count"] = self.filler_count
        return cast(InsightsDict, d)

    def summary(self) -> str:
        parts = [f"{self.wpm:.0f} wpm", f"talk {self.talk_time_s:.1f}s", f"{self.filler_count} fillers",
                 f"{len(self.pauses)} long pauses", f"{len(self.hedges)} hedges"]
        if self.terms_used or self.terms_missing:
            parts.append(f"terms {len(self.terms_used)}/{len(self.terms_used) + len(self.terms_missing)}")
        return ", ".join(parts)


def compute_insights(words: Sequence[WordLike], terms: Iterable[str] = (), duration: float | None = None,
                     window_s: float = 15.0, pause_s: float = 2.0, text: str | None = None) -> Insights:
    """Pace, fillers, pauses and hedges from the words; rubric terms used from ``text`` (the transcript as
    read, with repaired terms) when given, else from the words."""
    words = list(words)
    terms = list(terms)
    if text is None:
        text = " ".join(w.word.strip() for w in words)
    used = find_terms(text, terms)
    return Insights(
        words=sum(1 for w in words if norm_token(w.word)),
        duration_s=round(duration if duration is not None else (words[-1].end if words else 0.0), 2),
        talk_time_s=talk_time(words),
        wpm=wpm(words),
        wpm_over_time=wpm_over_time(words, window_s),
        fillers=fillers(words),
        pauses=pauses(words, pause_s),
        hedges=hedges(words),
        terms_used=used,
        terms_missing=[t for t in terms if t not in used],
    )
