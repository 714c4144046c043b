"""Repair near-miss spellings of a question's rubric terms in a transcript, by sound.

Whisper tiny.en hears rare technical words as ordinary ones: "perplexity" as "proplexed it", ELECTRA as
"lecture", BERT as "Burt", logits as "logics", causal as "casual". Biasing (hotwords) fixes many of these;
this pass fixes what is left, conservatively, and records every change so that the user sees both what was
heard and how it was read.

``repair_text(text, terms) -> (text, [Repair(heard, read_as)])``
    For each rubric term, the transcript's runs of one word fewer to one word more than the term (two more
    when pronounced the same: "a lie by" for ALiBi) are compared by sound and by spelling. A run is read
    as the term when both are close (jellyfish's metaphone keys, compared with rapidfuzz: metaphone
    similarity >= 0.85 with spelling >= 0.7, or metaphone >= 0.7 with spelling >= 0.8), or when espeak-ng
    pronounces the two the same ("row P" and RoPE, "Excel net" and XLNet: the espeak-ng bundled with Piper,
    run in process; metaphone >= 0.7, spelling >= 0.4). It is left alone when

    - it already is a rubric term, contains one, or is the term with another ending ("targeted",
      "encoded" for "encoder", "masks", "Adam" for "AdamW");
    - it holds a number (digits or a number word), or the term does: numbers are never changed;
    - the term is short and ordinary (under 5 letters, all lower case: "loss", "mask"), because ordinary
      words ("less", "mass") sound like it; acronyms and names (BERT, RoPE, z-loss) are kept as targets;
    - one contains the other ("training" and "overtraining", "embeddings" and "unembedding"), the run holds
      another term ("log-softmax") or, for a term of several words, one of its words ("weak supervision"
      is not "self-supervision"), unless the run is the term word for word but one, and that one is a
      common word that sounds like the term's word (espeak-ng phonemes >= 0.7) without sharing its stem:
      "face change" for "phase change", "loss bikes" for "loss spikes", "KV cash" for "KV cache", but not
      "more text" for "more context" or "translation equivariance" for "translation invariant";
    - every heard word is common English (wordfreq Zipf frequency >= 3: "lecture", "falls", "how many"),
      unless espeak-ng pronounces it exactly like an acronym or name ("Burt" for BERT, "a lie by" for ALiBi),
      or it is a term of several words heard word for word but one, as above;
    - the term is code (dots, underscores, brackets) or a description rather than a name (over three
      words, commas).

    Overlapping candidates go to the closest match; the term is written as the rubric spells it.

``vocabulary(terms)`` keeps the terms that are vocabulary (at most three words, no brackets or commas).
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
_NUMBER_WORDS = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty",
    "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion",
    "trillion", "half", "quarter", "first", "second", "third", "once", "twice", "double", "single",
}
# endings that make another form of the same word; two words that differ only by these are not a mishearing
_SUFFIXES = {"", "s", "es", "d", "ed", "ing", "r", "er", "ers", "or", "ors", "e", "ion", "ions", "ly", "al", "ally",
             "ity"}

SOUND_STRICT, SPELL_LOOSE = 0.85, 0.7
SOUND_LOOSE, SPELL_STRICT = 0.7, 0.8
SOUND_SAME = 1.0
SPELL_MIN = 0.4  # below this spelling similarity a run is never read as the term
SOUND_ORDINARY = 1.0  # common English words are read as a name only when they sound like it
WORD_SOUND = 0.7  # a word heard beside the rest of a term said as such is read as the term's word from this close


@dataclass
class Repair:
    heard: str
    read_as: str
    start: float | None = None
    end: float | None = None

    def __str__(self) -> str:
        return f"heard '{self.heard}', read as '{self.read_as}'"


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def vocabulary(terms: Iterable[str]) -> list[str]:
    """Rubric terms that name a thing (at most three words, no brackets, commas or semicolons)."""
    out: list[str] = []
    seen: set[str] = set()
    for t in terms:
        t = t.strip()
        if not t or any(c in t for c in "(),;:/._=[]") or len(t.split()) > 3:
            continue
        key = _norm(t)
        if len(key) >= 3 and key not in seen:
            seen.add(key)
            out.append(t)
    return out


def _distinctive(term: str) -> bool:
    letters = _norm(term)
    return len(letters) >= 5 or term != term.lower() or "-" in term


def _inflection(a: str, b: str) -> bool:
    """Two forms of one word: one is the other plus an ending ("Adam" and "AdamW", "mask" and "masked"),
    or both are a shared stem plus endings ("truncating" and "truncation", "encoded" and "encoder")."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    if n >= 3 and n == min(len(a), len(b)):
        return True
    return any(a[m:] in _SUFFIXES and b[m:] in _SUFFIXES for m in range(3, n + 1))


def _stems(word: str) -> set[str]:
    return {word[: len(word) - len(x)] for x in _SUFFIXES if word.endswith(x) and len(word) - len(x) >= 4}


def _covered(norms: list[str], known: set[str]) -> set[int]:
    """Indices of the words that, alone or with their neighbours, spell a rubric term (or its plural)."""
    out: set[int] = set()
    for a in range(len(norms)):
        run = ""
        for b in range(a, min(a + 6, len(norms))):
            run += norms[b]
            if run in known or run.removesuffix("s") in known or run.removesuffix("es") in known:
                out.update(range(a, b + 1))
    return out


def _same_words(parts: list[str], term_words: list[str]) -> bool:
    """The heard words are the term's own words (some of them, in order), each as said or with another
    ending: "preference optimization" for "direct preference optimization", "position embedding" for
    "positional embedding". Nothing was misheard."""
    n = len(parts)
    for a in range(0, len(term_words) - n + 1):
        if all(p == t or _inflection(p, t) for p, t in zip(parts, term_words[a:a + n], strict=True)):
            return True
    return False


def _one_word_misheard(parts: list[str], term_words: list[str]) -> bool:
    """A term of several words heard word for word but one, and that one sounds like the term's word: "face
    change" for "phase change", "loss bikes" for "loss spikes". The words said as such place the run in the
    term; the sound says what the other word was ("weak supervision" is not "self-supervision"). Words of
    one stem ("more text" for "more context", "upper triangle" for "upper triangular") and rare words
    ("permutation equivariance", not "permutation invariant") are left as said."""
    if len(parts) != len(term_words) or len(parts) < 2:
        return False
    odd = [(p, t) for p, t in zip(parts, term_words, strict=True) if not (p == t or _inflection(p, t))]
    if len(odd) != 1:
        return False
    heard, said = odd[0]
    if len(said) < 3 or heard in said or said in heard or heard[:3] == said[:3]:
        return False  # "text" for "context", "easy" for "easier": another word of the same stem, not a mishearing
    # a recogniser mishears a rare word as a common one; a rare word in the transcript was said
    return _ordinary(heard) and sound_similarity(heard, said) >= WORD_SOUND


def _holds_a_term(parts: list[str], known: set[str]) -> bool:
    for a in range(len(parts)):
        for b in range(a + 1, len(parts) + 1):
            run = "".join(parts[a:b])
            if run in known or run.removesuffix("s") in known or run.removesuffix("es") in known:
                return True
    return False


def _has_number(tokens: list[str]) -> bool:
    return any(any(c.isdigit() for c in t) or t.lower().strip("'") in _NUMBER_WORDS for t in tokens)


ORDINARY_ZIPF = 3.0  # wordfreq's Zipf scale: 3 is about once per million words


def _ordinary(word: str) -> bool:
    """A common English word (wordfreq Zipf frequency >= ORDINARY_ZIPF)."""
    from wordfreq import zipf_frequency

    parts = [p for p in re.split(r"[\-']+", word) if p]
    return bool(parts) and all(zipf_frequency(p, "en") >= ORDINARY_ZIPF for p in parts)


_G2P_LOCK = threading.Lock()
_G2P: list = []  # [espeakbridge] once loaded, [None] when unavailable
# espeak-ng symbols that differ between a word said alone and in a run, or between spellings of one sound
_PHONE_FOLD = str.maketrans({"ᵻ": "ɪ", "ɐ": "ə", "ɚ": "ə", "ɾ": "t", "ʔ": "t", "ɬ": "l"})
_PHONE_DROP = re.compile(r"[ˈˌːˑʲ\s\-‿.,;:!?]|\([^)]*\)")


@functools.lru_cache(maxsize=65536)
def phonemes(text: str) -> str:
    """How ``text`` is pronounced: espeak-ng's phonemes (the copy bundled with Piper, run in process), with
    stress, length and word boundaries dropped ("a lie by" and "ALiBi" both give "əlaɪbaɪ"); '' when no
    phonemizer is installed."""
    with _G2P_LOCK:
        if not _G2P:
            try:
                from piper import espeakbridge
                from piper.phonemize_espeak import ESPEAK_DATA_DIR

                espeakbridge.initialize(str(ESPEAK_DATA_DIR))
                espeakbridge.set_voice("en-us")
                _G2P.append(espeakbridge)
            except Exception:  # noqa: BLE001 - any failure to load means: compare by metaphone instead
                _G2P.append(None)
        g2p = _G2P[0]
        if g2p is None:
            return ""
        out = "".join(p for p, _term, _end in g2p.get_phonemes(text))
    return _PHONE_DROP.sub("", unicodedata.normalize("NFC", out)).translate(_PHONE_FOLD)


def sound_similarity(a: str, b: str) -> float:
    """0-1: how alike two spellings sound (espeak-ng phonemes compared with rapidfuzz; metaphone keys where
    espeak-ng is not there)."""
    import jellyfish
    from rapidfuzz import fuzz

    pa, pb = phonemes(a), phonemes(b)
    if not pa or not pb:
        pa, pb = jellyfish.metaphone(_norm(a)), jellyfish.metaphone(_norm(b))
    return fuzz.ratio(pa, pb) / 100


def _similar(heard: str, said: str, term: str, by_spelling: bool = True) -> float | None:
    """(sound + spelling) similarity when the run ``said`` (letters only: ``heard``) is close enough to the
    term to be read as it, else None: close in spelling and in metaphone key (``by_spelling``), or pronounced
    the same."""
    import jellyfish
    from rapidfuzz import fuzz

    target = _norm(term)
    if not 0.6 <= len(heard) / len(target) <= 1.7:
        return None
    spell = fuzz.ratio(heard, target) / 100
    if spell < SPELL_MIN:
        return None
    sound = fuzz.ratio(jellyfish.metaphone(heard), jellyfish.metaphone(target)) / 100
    close = (sound >= SOUND_STRICT and spell >= SPELL_LOOSE) or (sound >= SOUND_LOOSE and spell >= SPELL_STRICT)
    if by_spelling and close:
        return sound + spell
    if sound < SOUND_LOOSE:
        return None  # (espeak-ng is asked only about runs whose metaphone keys are close)
    ph = sound_similarity(said, term)
    if ph >= SOUND_SAME:
        return ph + spell
    return None


def repair_text(text: str, terms: Iterable[str]) -> tuple[str, list[Repair]]:
    """Read near-miss spellings of ``terms`` in ``text`` as the terms (see the module docstring)."""
    vocab = vocabulary(terms)
    if not text or not vocab:
        return text, []
    toks = list(_TOKEN.finditer(text))
    norms = [_norm(m.group()) for m in toks]
    known = {_norm(t) for t in vocab}
    covered = _covered(norms, known)  # words that are part of a rubric term as spoken
    candidates: list[tuple[float, int, int, str]] = []  # (score, first token, last token + 1, term)
    for term in vocab:
        target = _norm(term)
        if any(c.isdigit() for c in target) or not _distinctive(term):
            continue
        term_words = [_norm(w) for w in re.split(r"[\s\-]+", term.strip()) if _norm(w)]
        k = len(term_words)
        for n in range(max(1, k - 1), k + 3):  # k + 2 words only when pronounced exactly as the term
            for i in range(0, len(toks) - n + 1):
                words = [m.group() for m in toks[i:i + n]]
                parts = norms[i:i + n]
                heard = "".join(parts)
                if not heard or _has_number(words) or covered.intersection(range(i, i + n)):
                    continue  # a number, or already a rubric term (or part of one): nothing to repair
                if n == 1 and len(words[0]) >= 2 and words[0].isupper():
                    continue  # an acronym the recogniser wrote as one ("LLM", "CLS"): heard as meant
                said = text[toks[i].start() : toks[i + n - 1].end()]
                score = _similar(heard, said, term, by_spelling=n <= k + 1)
                if score is None:
                    continue  # not close enough (checked first: the cheapest test that rules most runs out)
                if any(x in target for x in _stems(heard) | {heard}) or target in heard:
                    continue  # "training" in "overtraining", "embeddings" in "unembedding": another word
                subs = [_norm(x) for w in words for x in re.split(r"[\-']+", w) if _norm(x)]
                one_misheard = _one_word_misheard(subs, term_words)
                if k >= 2 and not one_misheard and any(len(t) >= 3 and (h == t or _inflection(h, t) or (len(t) >= 4 and t in h))
                                  for t in term_words for h in subs):
                    continue  # a word of the term said as such next to another word: not a mishearing
                if any(len(t) >= 4 and t in heard for t in known):
                    continue  # "log-softmax" holds "softmax": another term, said as such
                if _inflection(heard, target) or not one_misheard and any(
                        _same_words(parts[a:b], term_words)
                        for a in range(n) for b in range(a + max(1, k - 1), n + 1)):
                    continue  # the term's own words (with another ending, or a neighbour), said as such
                if all(_ordinary(w) for w in words) and not one_misheard:
                    # ordinary English ("lecture", "falls", "content", "how many") is left as heard, except
                    # words that sound just like a name or acronym ("Burt" -> BERT, "a lie by" -> ALiBi)
                    if term == term.lower() or sound_similarity(said, term) < SOUND_ORDINARY:
                        continue
                candidates.append((score, i, i + n, term))
    taken: set[int] = set()
    chosen: list[tuple[int, int, str]] = []
    for _score, i, j, term in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if taken.isdisjoint(range(i, j)):
            taken.update(range(i, j))
            chosen.append((i, j, term))
    if not chosen:
        return text, []
    out = text
    repairs: list[Repair] = []
    for i, j, term in sorted(chosen, reverse=True):
        a, b = toks[i].start(), toks[j - 1].end()
        repairs.append(Repair(text[a:b], term))
        out = out[:a] + term + out[b:]
    repairs.reverse()
    return out, repairs
