"""Text helpers for the grader: sentence/clause splitting with offsets, normalisation, disfluency
removal, light stemming, negation cues and fuzzy (near-miss / phonetic) term matching.

Pure standard library, so it is cheap to import and easy to test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

# --------------------------------------------------------------------------- words

STOPWORDS = frozenset(
    """a an the and or but if then so than that this these those there here it its it's is are was were be been
    being am do does did doing done have has had having of to in on at by for with from into onto over under
    about as up down out off per via between through during before after above below again further once
    i me my we our us you your he him his she her they them their what which who whom whose when where why how
    all any both each few more most other some such no nor not only own same too very can could will would
    shall should may might must just also well even still yet ever really quite basically actually like
    something thing things stuff way kind sort lot lots get gets got make makes made use uses used using
    one ones s t d ll re ve m don doesn didn isn aren wasn weren won wouldn shouldn couldn let lets i'm
    you're we're they're that's what's there's isn't aren't don't doesn't didn't can't cannot won't
    because since while whereas although though however therefore thus hence""".split()
)

NEGATIONS = frozenset(
    """not no never none nothing nobody neither nor cannot without n't isn't aren't wasn't weren't don't doesn't
    didn't can't couldn't won't wouldn't shouldn't hasn't haven't hadn't isnt arent wasnt werent dont doesnt
    didnt cant couldnt wont wouldnt shouldnt hasnt havent hadnt""".split()
)

# words that announce that the speaker rejects a claim ("it's a myth that ...", "contrary to ...")
REJECTION_RE = re.compile(
    r"\b(?:not true|isn'?t true|is false|is wrong|(?:a )?misconception|(?:a )?myth|contrary to|rather than|"
    r"instead of|common mistake|mistaken(?:ly)?|incorrect(?:ly)?|wrong to (?:say|think)|people (?:often )?think|"
    r"it'?s not (?:that|just|only)|not just|not only|doesn'?t mean|does not mean)\b",
    re.I,
)

WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?(?:-[A-Za-z0-9]+)*")

FILLERS_RE = re.compile(
    r"(?:(?<=\s)|^)(?:u+m+|u+h+|e+r+m*|h+m+|a+h+|mhm|uh-huh)(?:[,.]?)(?=\s|$)"
    r"|,\s*like,|\byou know,?|\bi mean,?|\bsort of\b|\bkind of\b|\bbasically,?",
    re.I,
)


def words(text: str) -> list[str]:
    return [m.group(0).lower().replace("’", "'") for m in WORD_RE.finditer(text)]


def word_spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0).lower().replace("’", "'")) for m in WORD_RE.finditer(text)]


_SUFFIXES = ("ational", "ization", "isation", "fulness", "ousness", "iveness", "ations", "ation", "ments",
             "ment", "ities", "ness", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A small, deterministic suffix stripper (enough to match 'connected'/'connection'/'connects')."""
    w = word.lower().replace("'", "")
    if len(w) <= 3 or w.isdigit():
        return w
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)]
            break
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiousl":
        w = w[:-1]  # running -> runn -> run
    return w


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and w not in NEGATIONS and not _is_filler(w)]


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def _is_filler(w: str) -> bool:
    return bool(re.fullmatch(r"u+m+|u+h+|e+r+m*|h+m+|a+h+|mhm", w))


def negation_count(text: str) -> int:
    n = sum(1 for w in words(text) if w in NEGATIONS or w.endswith("n't"))
    return n


def rejects(text: str) -> bool:
    """Whether the text contains a cue that the speaker rejects a claim."""
    return bool(REJECTION_RE.search(text))


# a negation this many words before a term, in the same clause, puts the term under negation
NEGATION_SCOPE = 3
_SCOPE_BREAK_RE = re.compile(r"[.,;:!?()\n]|\b(?:but|and|or|so|because|which|while|whereas|although|though)\b", re.I)
_LIMITERS = frozenset({"just", "only", "merely", "simply", "necessarily"})  # "not just X" still asserts X


def negated_before(text: str, start: int, scope: int = NEGATION_SCOPE) -> bool:
    """Whether the word at ``start`` sits under a negation: "there's no need to shift", "without shifting",
    "we don't shift". A negation that only limits ("not just the shift") does not count."""
    head = text[max(0, start - 120) : start]
    breaks = list(_SCOPE_BREAK_RE.finditer(head))
    if breaks:
        head = head[breaks[-1].end() :]
    ws = words(head)[-scope:]
    for i, w in enumerate(ws):
        if w in NEGATIONS or w.endswith("n't"):
            if i + 1 < len(ws) and ws[i + 1] in _LIMITERS:
                continue
            return True
    return False


# --------------------------------------------------------------------------- numbers

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
NUMBER_WORDS = frozenset({*_UNITS, *_TENS, "hundred", "thousand", "million", "billion", "trillion", "half"})
_NUM_TOKEN_RE = re.compile(
    r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)(?:\s*(%|percent\b|per\s*cent\b))?"
    r"|\b((?:" + "|".join(sorted(_TENS, key=len, reverse=True)) + r")(?:[\s-]+(?:"
    + "|".join(k for k in _UNITS if 0 < _UNITS[k] < 10) + r"))?|" + "|".join(sorted(_UNITS, key=len, reverse=True))
    + r"|half)\b(?:\s+(percent\b|per\s*cent\b))?",
    re.I,
)


def _word_value(w: str) -> float:
    parts = re.split(r"[\s-]+", w.lower())
    if parts[0] == "half":
        return 50.0
    v = _TENS.get(parts[0], _UNITS.get(parts[0], 0))
    if len(parts) > 1:
        v += _UNITS.get(parts[-1], 0)
    return float(v)


@lru_cache(maxsize=65536)
def quantities(text: str) -> frozenset[tuple[str, float]]:
    """The quantities a text states, as (kind, value): ``("pct", 15.0)`` for "15%", "fifteen percent",
    "0.15" or "half"; ``("num", 7.0)`` for "seven" or "7". "one" and "zero" written as words are left out
    (they are mostly not quantities: "one forward pass")."""
    out: set[tuple[str, float]] = set()
    for m in _NUM_TOKEN_RE.finditer(text):
        if m.group(1) is not None:
            v = float(m.group(1))
            if m.group(2):
                out.add(("pct", v))
            elif "." in m.group(1) and 0 < v < 1:
                out.add(("pct", round(v * 100, 6)))
            else:
                out.add(("num", v))
        else:
            w = m.group(3).lower()
            if w in ("one", "zero"):
                continue
            v = _word_value(w)
            out.add(("pct", v) if (m.group(4) or w == "half") else ("num", v))
    return frozenset(out)


def quantities_conflict(a: frozenset[tuple[str, float]], b: frozenset[tuple[str, float]]) -> bool:
    """Both texts state percentages (rates, ratios) and share none of them: "fifty percent" against
    "15 percent". Plain counts are left alone: "three denoisers" and "a 20B model" do not disagree."""
    va = {v for k, v in a if k == "pct"}
    vb = {v for k, v in b if k == "pct"}
    return bool(va and vb and not va & vb)


# --------------------------------------------------------------------------- splitting with offsets


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


_SENT_END_RE = re.compile(r"(?<=[.!?;])\s+|\s*\n\s*")
_CLAUSE_RE = re.compile(
    r",\s+(?=(?:and|but|so|because|which|while|whereas|then|since|although|though|or)\b)"
    r"|\s+(?=(?:but|whereas|because|although|though|so that|which means)\b)"
    r"|\s*[:;—–]\s+|\s+-\s+",
    re.I,
)


_EDGE_START = ",;:-–—*•\"'()"
_EDGE_END = ",;:-–—*•\"'("


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and (text[start].isspace() or text[start] in _EDGE_START):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _EDGE_END):
        end -= 1
    if end <= start or not any(c.isalnum() for c in text[start:end]):
        return None
    return Span(start, end, text[start:end])


def sentences(text: str, max_len: int = 400) -> list[Span]:
    """Sentences of ``text`` with offsets; very long runs without punctuation are cut at ``max_len``."""
    out: list[Span] = []
    pos = 0
    for m in _SENT_END_RE.finditer(text):
        s = _trimmed(text, pos, m.start())
        if s:
            out.extend(_cut_long(text, s, max_len))
        pos = m.end()
    s = _trimmed(text, pos, len(text))
    if s:
        out.extend(_cut_long(text, s, max_len))
    return out


def _cut_long(text: str, s: Span, max_len: int) -> list[Span]:
    if s.end - s.start <= max_len:
        return [s]
    out = []
    start = s.start
    while start < s.end:
        end = min(s.end, start + max_len)
        if end < s.end:
            sp = text.rfind(" ", start + max_len // 2, end)
            if sp > start:
                end = sp
        t = _trimmed(text, start, end)
        if t:
            out.append(t)
        start = end
    return out


def clauses(text: str, sent: Span, min_words: int = 3) -> list[Span]:
    """Clauses of one sentence (split at conjunctions and punctuation), each with >= ``min_words`` words."""
    body = text[sent.start : sent.end]
    parts: list[Span] = []
    pos = 0
    for m in _CLAUSE_RE.finditer(body):
        t = _trimmed(text, sent.start + pos, sent.start + m.start())
        if t:
            parts.append(t)
        pos = m.end()
    t = _trimmed(text, sent.start + pos, sent.end)
    if t:
        parts.append(t)
    # merge tiny pieces into their neighbour so every clause says something
    merged: list[Span] = []
    for p in parts:
        if merged and len(words(p.text)) < min_words:
            prev = merged.pop()
            merged.append(Span(prev.start, p.end, text[prev.start : p.end]))
        elif merged and len(words(merged[-1].text)) < min_words:
            prev = merged.pop()
            merged.append(Span(prev.start, p.end, text[prev.start : p.end]))
        else:
            merged.append(p)
    return merged


def clean_for_embedding(text: str) -> str:
    """Drop fillers and immediate word repetitions ("you, you average" -> "you average")."""
    t = FILLERS_RE.sub(" ", text)
    t = re.sub(r"\b(\w+)(?:,?\s+\1\b)+", r"\1", t, flags=re.I)
    t = re.sub(r"\s+([,.;:!?])", r"\1", t)
    t = re.sub(r"(?:,\s*){2,}", ", ", t)
    return re.sub(r"\s+", " ", t).strip(" ,")


# --------------------------------------------------------------------------- fuzzy term matching


_NON_ALNUM = re.compile(r"[^a-z0-9]")


def _squash(s: str) -> str:
    return _NON_ALNUM.sub("", s.lower())


_PHON_SUBS = [
    (re.compile(r"ph"), "f"), (re.compile(r"ck|q"), "k"), (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"c"), "k"),
    (re.compile(r"x"), "ks"), (re.compile(r"z"), "s"), (re.compile(r"dg"), "j"), (re.compile(r"gh"), "g"),
    (re.compile(r"th"), "0"), (re.compile(r"sh|ch"), "x"), (re.compile(r"w(?=[^aeiou]|$)"), ""),
]


@lru_cache(maxsize=65536)
def phonetic(s: str) -> str:
    """A coarse phonetic key: consonant skeleton after common English respellings ("tropy" ~ "tropy")."""
    t = _squash(s)
    for rx, rep in _PHON_SUBS:
        t = rx.sub(rep, t)
    if not t:
        return t
    head, rest = t[0], re.sub(r"[aeiouyh]", "", t[1:])
    return re.sub(r"(.)\1+", r"\1", head + rest)


@dataclass(frozen=True)
class TermHit:
    term: str
    start: int
    end: int
    exact: bool


def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _term_pattern(term: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in re.split(r"[\s\-_]+", term.strip()) if p]
    body = r"[\s\-_]*".join(parts)
    return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.I)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def find_term(text: str, term: str, spans: list[tuple[int, int, str]] | None = None,
              fuzzy: bool = True) -> TermHit | None:
    """Where ``term`` (or a near-miss of it) occurs in ``text``.

    Exact match first (case-insensitive; spaces/hyphens interchangeable). Then, for terms of >= 5
    letters, a window of 1-3 answer words whose letters or phonetic key are close to the term's
    ("cross and tropy" ~ "cross-entropy", "causal mass" ~ "causal mask"). Short terms (acronyms like
    "CE") match exactly only, and case-sensitively when written in capitals.
    """
    term = term.strip()
    if not term:
        return None
    pat = _PATTERNS.get(term)
    if pat is None:
        if term.isupper() and len(_squash(term)) <= 4:
            parts = [re.escape(p) for p in re.split(r"[\s\-_]+", term) if p]
            sep = r"[\s-]*"
            pat = re.compile(r"(?<![A-Za-z0-9])" + sep.join(parts) + r"(?![A-Za-z0-9])")
        else:
            pat = _term_pattern(term)
        _PATTERNS[term] = pat
    m = pat.search(text)
    if m:
        return TermHit(term, m.start(), m.end(), True)
    key = _squash(term)
    if not fuzzy or len(key) < 5:
        return None
    spans = word_spans(text) if spans is None else spans
    n_term_words = max(1, len(re.split(r"[\s\-_]+", term)))
    tkey = phonetic(term)
    best: tuple[float, int, int] | None = None
    for i in range(len(spans)):
        for n in range(max(1, n_term_words - 1), min(n_term_words + 2, 4) + 1):
            if i + n > len(spans):
                break
            cand = "".join(w for _, _, w in spans[i : i + n])
            if abs(len(cand) - len(key)) > max(2, len(key) // 3):
                continue
            if cand[0] != key[0]:
                continue
            r = _ratio(cand, key)
            pk = phonetic(cand)
            if len(tkey) >= 3 and pk == tkey:
                r = max(r, 0.9)
            elif len(tkey) >= 3:
                r = max(r, 0.5 * r + 0.5 * _ratio(pk, tkey))
            if r >= 0.84 and (best is None or r > best[0]) and _same_quantities(
                    term, text[spans[i][0] : spans[i + n - 1][1]]):
                best = (r, spans[i][0], spans[i + n - 1][1])
    if best is None:
        return None
    return TermHit(term, best[1], best[2], False)


@lru_cache(maxsize=262144)
def near_word(a: str, b: str) -> bool:
    """Two (stemmed) words that are probably the same word misspelt ("conected" ~ "connect")."""
    if a == b:
        return True
    if len(a) < 4 or len(b) < 4 or a[0] != b[0] or abs(len(a) - len(b)) > 2:
        return False
    return _ratio(a, b) >= 0.8


_REPEAT_RE = re.compile(r"\b(\w+)((?:,?\s+\1\b)+)", re.I)


def clean_with_map(text: str, repairs: list[tuple[int, int, str]] = ()) -> tuple[str, list[int]]:
    """Text for the model and, for each of its characters, the index of the original character.

    Fillers ("um", "uh", ", like,", "you know") and immediate repetitions ("you, you") are dropped;
    ``repairs`` (start, end, replacement) rewrite near-miss terms ("cross and tropy" -> "cross-entropy").
    """
    edits: list[tuple[int, int, str]] = [(a, b, r) for a, b, r in repairs]
    for m in FILLERS_RE.finditer(text):
        edits.append((m.start(), m.end(), " "))
    for m in _REPEAT_RE.finditer(text):
        edits.append((m.start(2), m.end(2), ""))
    edits.sort(key=lambda e: (e[0], -(e[1] - e[0])))
    out: list[str] = []
    cmap: list[int] = []
    pos = 0
    for a, b, rep in edits:
        if a < pos:
            continue  # overlaps an earlier edit
        for i in range(pos, a):
            out.append(text[i])
            cmap.append(i)
        for ch in rep:
            out.append(ch)
            cmap.append(a)
        pos = b
    for i in range(pos, len(text)):
        out.append(text[i])
        cmap.append(i)
    # collapse whitespace, trim
    res: list[str] = []
    rmap: list[int] = []
    for ch, i in zip(out, cmap, strict=False):
        if ch.isspace():
            if not res or res[-1] == " ":
                continue
            ch = " "
        elif ch in ",.;:!?" and res and res[-1] == " ":
            res.pop()
            rmap.pop()
        res.append(ch)
        rmap.append(i)
    while res and res[-1] in " ,":
        res.pop()
        rmap.pop()
    while res and res[0] in " ,":
        res.pop(0)
        rmap.pop(0)
    return "".join(res), rmap


class TermIndex:
    """Exact and fuzzy term look-ups over one text; the word windows are built once, so many terms
    can be searched in a long answer quickly."""

    def __init__(self, text: str):
        self.text = text
        self.spans = word_spans(text)
        self._buckets: dict[str, list[tuple[str, int, int, int]]] | None = None

    def _windows(self) -> dict[str, list[tuple[str, int, int, int]]]:
        if self._buckets is None:
            b: dict[str, list[tuple[str, int, int, int]]] = {}
            sp = self.spans
            sq = [_NON_ALNUM.sub("", w) for _, _, w in sp]
            for i in range(len(sp)):
                cand = ""
                for n in range(1, 5):
                    if i + n > len(sp):
                        break
                    cand += sq[i + n - 1]
                    if cand:
                        b.setdefault(cand[0], []).append((cand, n, sp[i][0], sp[i + n - 1][1]))
            self._buckets = b
        return self._buckets

    def find(self, term: str) -> TermHit | None:
        hit = find_term(self.text, term, self.spans, fuzzy=False)
        if hit is not None:
            return hit
        key = _squash(term)
        if len(key) < 5:
            return None
        n_term_words = max(1, len(re.split(r"[\s\-_]+", term.strip())))
        lo_n, hi_n = max(1, n_term_words - 1), min(n_term_words + 2, 4)
        tkey = phonetic(term)
        slack = max(2, len(key) // 3)
        best: tuple[float, int, int] | None = None
        for cand, n, start, end in self._windows().get(key[0], ()):
            if n < lo_n or n > hi_n or abs(len(cand) - len(key)) > slack:
                continue
            r = _near_score(cand, key, tkey)
            if r >= 0.84 and (best is None or r > best[0]) and _same_quantities(term, self.text[start:end]):
                best = (r, start, end)
        return TermHit(term, best[1], best[2], False) if best else None


def _same_quantities(term: str, found: str) -> bool:
    """A near miss never changes a number: "fifty percent" is not a misheard "fifteen percent"."""
    tq, fq = quantities(term), quantities(found)
    return not tq or not fq or tq == fq


@lru_cache(maxsize=262144)
def _near_score(cand: str, key: str, tkey: str) -> float:
    r = _ratio(cand, key)
    pk = phonetic(cand)
    if len(tkey) >= 3 and pk == tkey:
        return max(r, 0.9)
    if len(tkey) >= 3:
        return max(r, 0.5 * r + 0.5 * _ratio(pk, tkey))
    return r
