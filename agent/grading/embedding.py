"""The rubric-driven grader: sentence embeddings plus lexical evidence, per rubric concept (the rubric regression
suite's grader, and one of the three the default stacked grader joins).

How one answer is graded
------------------------
1. Blank -> 0 ("no answer"). Longer than ``settings.max_answer_chars`` -> cut there (flag ``truncated``).
2. The answer is split into sentences (offsets into the original text). Each sentence is cleaned for the
   model (fillers and restarts dropped, near-miss transcriptions of rubric terms repaired, e.g. "cross and
   tropy" -> "cross-entropy") and encoded once; its clauses and its *remainder without the question's own
   content words* are mean-pooled from the same contextual token vectors.
3. Per concept: similarity = the best (answer unit, exemplar) pair, averaging the plain cosine and the
   cosine of the question-free remainders (so restating the question earns nothing); lexical evidence =
   the concept's terms found (exact or fuzzy/phonetic; terms the question already uses do not count; a
   term under a negation, "there's no need to shift", counts only for a concept stated negatively; a near
   miss never changes a number, so "fifty percent" is not a misheard "fifteen percent").
   A unit and a rubric text that state conflicting percentages lose ``NUM_PENALTY`` of similarity.
   ``z = similarity + W_LEX * lexical`` (less a penalty when the pair disagrees in negation) goes through
   a logistic curve to a 0-1 credit; the verdict follows the credit.
4. Misconceptions: any unit clearly closer to a misconception's exemplars than to any concept exemplar and
   to the correction is a hit, unless the answer rejects the claim ("it's a myth that", or a negation
   mismatch with every exemplar close enough). An uncorrected hit caps the grade at 2.
5. Adversarial answers (injection addressed to the grader, "I don't know", a buzzword list, restating the
   question, a fluent answer to a different question) are flagged and capped at 1. A restatement must cover no
   concept, and an answer to another question must earn none even in part.

The global constants below were set once, by hand, on a public short-answer corpus (one corpus, checked
on the other) and the bank's sample answers; nothing is fitted per question.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from agent.grading import text as tx
from agent.grading.base import Scorer, register
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit, half_point

if TYPE_CHECKING:
    from agent.grading.cache import Embedder
    from agent.models import Question, Rubric

log = logging.getLogger(__name__)

GRADER_VERSION = "1.2.0"

# --- global constants (never per question) ---------------------------------------------------------
A_FULL = 0.5  # weight of the plain cosine vs the cosine of the question-free remainders
W_LEX = 0.5  # weight of lexical evidence (share of terms found)
NEG_PENALTY = 0.08  # best pair disagrees in negation ("is connected" vs "is not connected")
MID, TEMP = 0.74, 0.1  # logistic curve from z to the concept credit
COVERED, PARTIAL = 0.6, 0.3  # credit thresholds for the verdict
MIS_MIN, MIS_MARGIN = 0.65, 0.1  # misconception: similarity floor and margin over concepts/correction
MIS_NEG_MARGIN = 0.25  # a negated claim closer than this to the concepts counts as the answer rejecting it
NUM_PENALTY = 0.15  # a unit and an exemplar state conflicting quantities ("fifty percent" vs "15%")
MISCONCEPTION_CAP = 2.0
ADVERSARIAL_CAP = 1.0
OFF_TOPIC_REL = 0.5  # no concept even partly earned and best plain cosine to the rubric/question below: off topic
MAX_SENTENCES = 160  # sentences encoded per answer (long answers: the rest is still searched for terms)
WINDOW_MAX_SENTENCES, WINDOW_MAX_WORDS = 3, 80  # short multi-sentence answers are also compared whole

INJECTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(?:rubric|instructions?|prompt|rules?|"
    r"criteria|grading|above|previous|everything)\b"
    r"|\b(?:give|award|assign|grant|mark|score|rate|grade)\b[^.!?\n]{0,30}\b(?:full|max(?:imum)?|top|perfect|"
    r"highest|5\s*/\s*5|five out of five|10\s*/\s*10|100\s*%|a\s+5|5\s+(?:points|marks|stars))\b"
    r"|\b(?:note|message|instruction)s?\s+(?:to|for)\s+(?:the\s+)?(?:grader|evaluator|examiner|marker|ai|"
    r"model|llm|assistant)\b"
    r"|\b(?:dear|hey|hi)\s+(?:grader|evaluator|examiner|marker)\b"
    r"|\byou\s+(?:must|should|will)\s+(?:give|award|grade|mark|score|rate)\b"
    r"|\bsystem\s+prompt\b|\bas an ai\b|\bthis answer (?:is|deserves) (?:perfect|correct|full marks)\b"
    r"|\b(?:give|award|assign|return|output|grade)\b[^.!?\n]{0,30}\b(?:5|five|10|ten|100)\s*(?:/|out of)\s*"
    r"(?:5|five|10|ten|100)\b"
    r"|\b(?:you must|please)\s+(?:return|output|give|award|grade|mark|score|rate)\b"
    r"|\b(?:return|output)\s+(?:a\s+|the\s+)?(?:score|grade|mark)\b"
    r"|\b(?:assistant|ai|model|grader|you)\b[^.!?\n]{0,12}\b(?:grading|evaluating|scoring|marking)\s+this\b"
    r"|(?:^|\n)\s*(?:system|assistant|user|grader)\s*:"
    r"|\bregardless of (?:the\s+)?(?:content|answer|rubric|quality)\b",
    re.I,
)
DONT_KNOW_RE = re.compile(
    r"\b(?:i\s+(?:do\s*n[o']?t|dont|really\s+don'?t)\s+(?:really\s+)?know|no\s+idea|not\s+sure|"
    r"i\s+have\s+no\s+(?:idea|clue)|no\s+clue|i\s+(?:can'?t|cannot)\s+remember|i\s+forgot|"
    r"i\s+(?:don'?t|do\s+not)\s+remember|pass|skip|i'?m\s+(?:not\s+)?(?:unsure|clueless)|dunno|idk)\b",
    re.I,
)


@register("embedding")
def _factory() -> EmbeddingScorer:
    return EmbeddingScorer()


# --------------------------------------------------------------------------- prepared rubric


@dataclass
class _PConcept:
    index: int
    concept_id: str
    name: str
    weight: float
    description: str
    rows: slice  # rows of the rubric's exemplar matrix
    exemplar_neg: list[bool]
    exemplar_terms: list[frozenset[str]]  # ad hoc: content stems per exemplar (recall); bank: unused
    terms: list[str]  # eligible terms (not already in the question)


@dataclass
class _PMis:
    mis_id: str
    claim: str
    correction: str
    rows: slice
    exemplar_neg: list[bool]
    correction_row: int


@dataclass
class _Prepared:
    qid: str
    adhoc: bool
    q_stems: frozenset[str]
    full: np.ndarray  # (X, d) exemplar vectors
    res: np.ndarray  # (X, d) question-free exemplar remainders
    concepts: list[_PConcept]
    miscon: list[_PMis]
    concept_rows: int  # rows [0, concept_rows) belong to concepts
    question_row: int
    all_terms: list[str]
    rubric_version: int
    row_quantities: list[frozenset] = field(default_factory=list)  # quantities stated by each rubric text


# --------------------------------------------------------------------------- per-answer work


@dataclass
class _Unit:
    start: int  # offsets into the original answer
    end: int
    sent: int  # index into the answer's encoded texts
    kind: str  # sentence / clause / window
    clean_span: tuple[int, int]  # span in the cleaned text that is pooled
    novel: bool  # has content words the question does not
    excluded: bool  # injection sentence: earns nothing
    neg: bool


@dataclass
class _Work:
    original: str
    text: str
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    clean_texts: list[str] = field(default_factory=list)
    maps: list[list[int]] = field(default_factory=list)
    units: list[_Unit] = field(default_factory=list)
    term_hits: dict[str, tx.TermHit] = field(default_factory=dict)
    answer_stems: set[str] = field(default_factory=set)
    injection: list[tuple[int, int]] = field(default_factory=list)
    done: Grade | None = None


def _pool(tokens: np.ndarray, offsets: np.ndarray, span: tuple[int, int] | None,
          exclude: list[tuple[int, int]]) -> np.ndarray:
    """Mean of the token vectors inside ``span`` (None: every token, as the model itself pools) that do
    not overlap ``exclude``; L2-normalised; zeros when nothing is left."""
    if span is None and not exclude:
        v = tokens.mean(0)
    else:
        special = (offsets[:, 0] == 0) & (offsets[:, 1] == 0)
        keep = ~special if span is not None else np.ones(len(offsets), dtype=bool)
        if span is not None:
            keep &= (offsets[:, 0] >= span[0]) & (offsets[:, 1] <= span[1])
        for a, b in exclude:
            keep &= ~((offsets[:, 0] < b) & (offsets[:, 1] > a) & ~special)
        if not keep.any():
            return np.zeros(tokens.shape[1], dtype=np.float32)
        v = tokens[keep].mean(0)
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else np.zeros(tokens.shape[1], dtype=np.float32)


def _question_ranges(text: str, q_stems: frozenset[str]) -> list[tuple[int, int]]:
    return [(a, b) for a, b, w in tx.word_spans(text)
            if w not in tx.STOPWORDS and w not in tx.NEGATIONS and tx.stem(w) in q_stems]


@dataclass(frozen=True)
class Calibration:
    """What turns similarities into credits and verdicts. The defaults are the hand-set constants above (for
    the bundled encoder and any configured sentence-transformers model); a tuned encoder ships its own,
    fitted on the corpus's dev split (see :class:`agent.grading.contrastive.ContrastiveScorer`)."""

    a_full: float = A_FULL
    w_lex: float = W_LEX
    neg_penalty: float = NEG_PENALTY
    num_penalty: float = NUM_PENALTY
    mid: float = MID
    temp: float = TEMP
    mis_min: float = MIS_MIN
    mis_margin: float = MIS_MARGIN
    mis_neg_margin: float = MIS_NEG_MARGIN
    off_topic_rel: float = OFF_TOPIC_REL

    def credit(self, z: float) -> float:
        x = -(z - self.mid) / self.temp
        return 0.0 if x > 700 else 1.0 / (1.0 + math.exp(x))


HAND_SET = Calibration()


def _is_buzzword_list(text: str) -> bool:
    ws = tx.words(text)
    if len(ws) < 4:
        return False
    items = [p for p in re.split(r"[,;\n•]+|\s-\s|\s/\s", text) if p.strip()]
    if len(items) < 3:
        return False
    fn = sum(1 for w in ws if w in tx.STOPWORDS or w in tx.NEGATIONS)
    short_items = sum(1 for p in items if len(tx.words(p)) <= 3)
    return fn / len(ws) <= 0.12 and short_items / len(items) >= 0.75


# --------------------------------------------------------------------------- the scorer


def _answer_caps(w: _Work, score: float) -> list[tuple[str, str]]:
    """The caps every offline grader applies from the answer's text alone: text addressed to the grader, "I
    don't know" (unless the rest of the answer earns something) and a bare list of terms."""
    caps: list[tuple[str, str]] = []
    if w.injection:
        caps.append(("injection", "text addressed to the grader was ignored"))
    dk = DONT_KNOW_RE.search(w.text)
    if dk:
        rest = tx.content_words(w.text[: dk.start()] + " " + w.text[dk.end():])
        if len(rest) <= 6 or score < 1.5:
            caps.append(("dont_know", "the answer says it does not know"))
    if _is_buzzword_list(w.text):
        caps.append(("buzzwords", "a list of terms with no explanation"))
    return caps


def _apply_caps(caps: list[tuple[str, str]], score: float, flags: list[str], notes: list[str],
                feedback: list[str]) -> float:
    """Flag each cap, hold the score at the adversarial cap (saying so once per cap), clamp it to 0-5."""
    for flag, why in caps:
        flags.append(flag)
        if score > ADVERSARIAL_CAP:
            notes.append(f"capped at {ADVERSARIAL_CAP:g}: {why}")
            score = ADVERSARIAL_CAP
        else:
            notes.append(why)
    if "injection" in flags:
        feedback.append("Instructions to the grader are ignored; answer the question itself.")
    return round(min(5.0, max(0.0, score)), 4)


class EmbeddingScorer(Scorer):
    name = "embedding"
    version = GRADER_VERSION
    embedding_model: str | None = None  # None: the configured ``embedding_model`` setting

    def __init__(self, embedder: Embedder | None = None, calibration: Calibration | None = None):
        self._embedder = embedder
        self._calibration = calibration
        self._prepared: dict[str, _Prepared] = {}
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- model access

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from agent.grading.cache import get_embedder

            self._embedder = get_embedder(self.embedding_model)
        return self._embedder

    @property
    def calibration(self) -> Calibration:
        if self._calibration is None:
            self._calibration = self._load_calibration()
        return self._calibration

    def _load_calibration(self) -> Calibration:
        return HAND_SET

    @property
    def model_name(self) -> str:
        return self.embedder.model_name

    # ---------------------------------------------------------------- public API

    def score(self, question: Question, rubric: Rubric, answer: str) -> Grade:
        return self.score_many([(question, rubric, answer)])[0]

    def score_many(self, items: list[tuple[Question, Rubric, str]]) -> list[Grade]:
        """Grade several answers; every answer sentence is encoded in one batch."""
        with self._lock:
            preps = [self._prepare(q, r) for q, r, _ in items]
            works = [self._analyse(q, r, p, a) for (q, r, a), p in zip(items, preps, strict=False)]
            texts: list[str] = []
            owners: list[tuple[int, int]] = []
            for wi, w in enumerate(works):
                if w.done is None:
                    for si, t in enumerate(w.clean_texts):
                        texts.append(t)
                        owners.append((wi, si))
            encoded = self.embedder.encode_tokens(texts) if texts else []
            per: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
            for (wi, _), enc in zip(owners, encoded, strict=False):
                per.setdefault(wi, []).append(enc)
            out = []
            for wi, ((q, r, _), p, w) in enumerate(zip(items, preps, works, strict=False)):
                out.append(w.done if w.done is not None else self._finish(q, r, p, w, per.get(wi, [])))
            return out

    # ---------------------------------------------------------------- rubric preparation

    def _prepare(self, question: Question, rubric: Rubric) -> _Prepared:
        from agent.grading.adhoc import is_adhoc

        key = f"{question.id}\x1f{rubric.version}\x1f{hash(rubric.model_dump_json())}\x1f{hash(question.prompt)}"
        p = self._prepared.get(key)
        if p is not None:
            return p
        q_stems = frozenset(tx.content_stems(question.prompt))
        adhoc = is_adhoc(question)
        texts: list[str] = []
        concepts: list[_PConcept] = []
        all_terms: list[str] = []
        for i, c in enumerate(rubric.concepts):
            ex = list(dict.fromkeys([*c.exemplars] + ([] if adhoc else [c.description])))
            start = len(texts)
            texts += ex
            terms = [t for t in c.terms if not (tx.content_stems(t) and tx.content_stems(t) <= q_stems)]
            all_terms += terms
            concepts.append(_PConcept(
                index=i, concept_id=c.id, name=c.name, weight=c.weight, description=c.description,
                rows=slice(start, len(texts)), exemplar_neg=[tx.negation_count(e) > 0 for e in ex],
                exemplar_terms=[frozenset(tx.content_stems(e) - q_stems) for e in ex], terms=terms,
            ))
        concept_rows = len(texts)
        miscon: list[_PMis] = []
        for m in rubric.misconceptions:
            ex = list(dict.fromkeys([m.claim, *m.exemplars]))
            start = len(texts)
            texts += ex
            end = len(texts)
            texts.append(m.correction)
            miscon.append(_PMis(m.id, m.claim,
                                m.correction, slice(start, end), [tx.negation_count(e) > 0 for e in ex], end))
        question_row = len(texts)
        texts.append(question.prompt)
        full, res = self._exemplar_vectors(texts, q_stems)
        p = _Prepared(question.id, adhoc, q_stems, full, res, concepts, miscon, concept_rows, question_row,
                      list(dict.fromkeys(all_terms)), rubric.version, [tx.quantities(t) for t in texts])
        if len(self._prepared) > 4096:
            self._prepared.clear()
        self._prepared[key] = p
        return p

    def _exemplar_vectors(self, texts: list[str], q_stems: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
        """Full and question-free vectors of rubric texts, through the embedder's memory + disk cache."""
        from agent.grading.cache import text_key

        emb = self.embedder
        qkey = text_key("\x1f".join(sorted(q_stems)))

        def compute(missing: list[str]) -> list[np.ndarray]:
            toks = emb.encode_tokens(missing)
            out = []
            for t, (vecs, offs) in zip(missing, toks, strict=False):
                full = _pool(vecs, offs, None, [])
                res = _pool(vecs, offs, None, _question_ranges(t, q_stems))
                out.append(np.stack([full, res]))
            return out

        pairs = emb.cached_with([f"{qkey}\x1f{t}" for t in texts], texts, compute)
        return pairs[:, 0, :], pairs[:, 1, :]

    # ---------------------------------------------------------------- answer analysis (no model)

    def _analyse(self, question: Question, rubric: Rubric, p: _Prepared, answer: str) -> _Work:
        from agent.config import get_settings

        answer = answer if isinstance(answer, str) else str(answer)
        w = _Work(original=answer, text=answer)
        if not answer.strip():
            w.done = self._empty(question, rubric, answer)
            return w
        cap = max(1, int(get_settings().max_answer_chars))
        if len(answer) > cap:
            cut = answer.rfind(" ", int(cap * 0.9), cap)
            cut = cut if cut > 0 else cap
            w.text = answer[:cut]
            w.flags.append("truncated")
            w.notes.append(f"answer cut at {cut:,} of {len(answer):,} characters (max_answer_chars={cap:,}); "
                           "the rest was not graded")
        text = w.text
        w.injection = [(m.start(), m.end()) for m in INJECTION_RE.finditer(text)]
        index = tx.TermIndex(text)
        w.answer_stems = {tx.stem(x) for _, _, x in index.spans if x not in tx.STOPWORDS}
        for term in p.all_terms:
            hit = index.find(term)
            if hit:
                w.term_hits[term] = hit
        sents = tx.sentences(text)
        if len(sents) > MAX_SENTENCES:
            w.notes.append(f"compared the first {MAX_SENTENCES} of {len(sents)} sentences with the rubric "
                           "(terms were searched in all of them)")
            sents = sents[:MAX_SENTENCES]
        repairs = [(h.start, h.end, h.term) for h in w.term_hits.values() if not h.exact]
        for s in sents:
            inj = any(a < s.end and b > s.start for a, b in w.injection)
            self._add_sentence(w, p, s.start, s.end, "sentence", inj, repairs)
        if 1 < len(sents) <= WINDOW_MAX_SENTENCES and len(tx.words(text)) <= WINDOW_MAX_WORDS and not w.injection:
            self._add_sentence(w, p, sents[0].start, sents[-1].end, "window", False, repairs)
        return w

    def _add_sentence(self, w: _Work, p: _Prepared, start: int, end: int, kind: str, injected: bool,
                      repairs: list[tuple[int, int, str]]) -> None:
        local = [(a - start, b - start, t) for a, b, t in repairs if a >= start and b <= end]
        clean, cmap = tx.clean_with_map(w.text[start:end], local)
        if not clean:
            return
        si = len(w.clean_texts)
        w.clean_texts.append(clean)
        w.maps.append([start + i for i in cmap])

        def unit(cs: int, ce: int, k: str) -> _Unit:
            seg = clean[cs:ce]
            stems = tx.content_stems(seg)
            o_start, o_end = start + cmap[cs], start + cmap[ce - 1] + 1
            return _Unit(o_start, o_end, si, k, (cs, ce), bool(stems - p.q_stems), injected,
                         tx.negation_count(seg) > 0)

        w.units.append(unit(0, len(clean), kind))
        if kind == "sentence":
            parts = tx.clauses(clean, tx.Span(0, len(clean), clean))
            if len(parts) > 1:
                for c in parts:
                    w.units.append(unit(c.start, c.end, "clause"))

    # ---------------------------------------------------------------- scoring (model outputs in hand)

    def _finish(self, question: Question, rubric: Rubric, p: _Prepared, w: _Work,
                encoded: list[tuple[np.ndarray, np.ndarray]]) -> Grade:
        k = self.calibration
        units = [u for u in w.units if u.sent < len(encoded)]
        d = p.full.shape[1]
        uf = np.zeros((len(units), d), dtype=np.float32)
        ur = np.zeros((len(units), d), dtype=np.float32)
        qranges = [_question_ranges(t, p.q_stems) for t in w.clean_texts]
        for i, u in enumerate(units):
            vecs, offs = encoded[u.sent]
            whole = u.kind != "clause"
            uf[i] = _pool(vecs, offs, None if whole else u.clean_span, [])
            ur[i] = _pool(vecs, offs, None if whole else u.clean_span, qranges[u.sent])
        # bank rubrics: a unit made only of the question's own words earns nothing. Ad-hoc references
        # (external data) restate the question themselves, so there the question-free half of the
        # similarity does that job instead.
        eligible = np.array([(u.novel or p.adhoc) and not u.excluded for u in units], dtype=bool)
        cos_f = uf @ p.full.T if len(units) else np.zeros((0, len(p.full)), np.float32)
        cos_r = ur @ p.res.T if len(units) else np.zeros((0, len(p.full)), np.float32)
        sim = k.a_full * cos_f + (1 - k.a_full) * cos_r  # (U, X)
        sim = sim - k.num_penalty * self._quantity_conflicts(p, w, units)
        sim_e = np.where(eligible[:, None], sim, -1.0) if len(units) else sim
        unit_neg = np.array([u.neg for u in units], dtype=bool)

        verdicts: list[ConceptVerdict] = []
        feedback: list[str] = []
        total_w = sum(c.weight for c in p.concepts) or 1.0
        earned = 0.0
        concept_best_per_unit = (sim_e[:, : p.concept_rows].max(1) if len(units) and p.concept_rows
                                 else np.full(len(units), -1.0))
        for c in p.concepts:
            lex_concept = self._lexical(c, w)
            best_z, best_sim, best_u, best_lex = -9.0, 0.0, -1, lex_concept
            block = sim_e[:, c.rows] if len(units) else np.zeros((0, 0))
            for j in range(c.rows.stop - c.rows.start):
                lex = self._recall(c.exemplar_terms[j], w) if p.adhoc else lex_concept
                if block.size:
                    ui = int(np.argmax(block[:, j]))
                    s = float(block[ui, j])
                else:
                    ui, s = -1, 0.0
                s = max(s, 0.0)
                z = s + k.w_lex * lex
                if ui >= 0 and unit_neg[ui] != c.exemplar_neg[j]:
                    z -= k.neg_penalty
                if z > best_z:
                    best_z, best_sim, best_u, best_lex = z, s, ui, lex
            credit = k.credit(best_z)
            verdict = "covered" if credit >= COVERED else "partial" if credit >= PARTIAL else "missing"
            evidence = None
            if verdict != "missing":
                evidence = self._evidence(w, units, best_u, c)
            fb = None
            if verdict == "missing":
                fb = f"Missing: {c.name} - {c.description}"
                feedback.append(fb)
            elif verdict == "partial":
                fb = f"Partly there: {c.name} - say it fully: {c.description}"
                feedback.append(fb)
            earned += c.weight * credit
            verdicts.append(ConceptVerdict(
                concept_id=c.concept_id, name=c.name, weight=c.weight, verdict=verdict,
                similarity=round(best_sim, 4), lexical=round(best_lex, 4), score=round(credit, 4),
                evidence=evidence, feedback=fb, source="embedding",
            ))
        score = 5.0 * earned / total_w
        flags, notes = list(w.flags), list(w.notes)

        # misconceptions
        hits: list[MisconceptionHit] = []
        # the closest any unit comes to a misconception, and by how much it beats the unit's best concept and
        # the correction: raw signals for a fitted model (the stacked grader), whatever the thresholds say
        mis_sim, mis_margin = 0.0, -1.0
        for m in p.miscon:
            if not len(units):
                break
            # every unit is a candidate (a sentence that also states a correct concept can hide the claim
            # in its next sentence); an uncorrected hit is preferred, then the closest one
            ms = sim_e[:, m.rows]
            ms_best = ms.max(1)
            mis_sim = max(mis_sim, float(ms_best.max()))
            mis_margin = max(mis_margin, float((ms_best - np.maximum(concept_best_per_unit,
                                                                      sim[:, m.correction_row])).max()))
            best_hit: tuple[bool, float, int, int] | None = None
            for ui in range(len(units)):
                xj = int(np.argmax(ms[ui]))
                s = float(ms[ui, xj])
                corr = float(sim[ui, m.correction_row])
                if not (s >= k.mis_min and s >= concept_best_per_unit[ui] + k.mis_margin and s >= corr + k.mis_margin):
                    continue
                u = units[ui]
                sent = next((x for x in units if x.sent == u.sent and x.kind != "clause"), u)
                if u.neg != m.exemplar_neg[xj]:
                    # a negation mismatch is a rejection only when no exemplar of the unit's own polarity
                    # matches too ("the earlier tokens are not part of the loss" states the claim)
                    same = [j for j in range(len(m.exemplar_neg)) if m.exemplar_neg[j] == u.neg]
                    if same:
                        js = max(same, key=lambda j: ms[ui, j])
                        sj = float(ms[ui, js])
                        if (sj >= k.mis_min and sj >= concept_best_per_unit[ui] + k.mis_margin
                                and sj >= corr + k.mis_margin):
                            xj, s = js, sj
                corrected = tx.rejects(w.text[sent.start : sent.end]) or (
                    u.neg != m.exemplar_neg[xj] and s - concept_best_per_unit[ui] < k.mis_neg_margin)
                if best_hit is None or (not corrected, s) > (not best_hit[0], best_hit[1]):
                    best_hit = (corrected, s, ui, xj)
            if best_hit is not None:
                corrected, s, ui, _ = best_hit
                u = units[ui]
                hits.append(MisconceptionHit(
                    misconception_id=m.mis_id, claim=m.claim, correction=m.correction, similarity=round(s, 4),
                    evidence=Evidence(start=u.start, end=u.end, text=w.text[u.start : u.end]), corrected=corrected,
                ))
        if any(not h.corrected for h in hits):
            flags.append("misconception")
            if score > MISCONCEPTION_CAP:
                notes.append(f"capped at {MISCONCEPTION_CAP:g}: the answer states a misconception")
                score = MISCONCEPTION_CAP
            for h in hits:
                if not h.corrected:
                    feedback.append(h.feedback)

        # adversarial classes
        all_words = tx.words(w.text)
        content = [x for x in all_words if x not in tx.STOPWORDS and x not in tx.NEGATIONS]
        novel = {tx.stem(x) for x in content} - p.q_stems
        relevance = float(cos_f[:, : p.concept_rows].max()) if len(units) and p.concept_rows else 0.0
        rel_q = float(cos_f[:, p.question_row].max()) if len(units) else 0.0
        caps = _answer_caps(w, score)
        # an answer that earns a concept is not a restatement (a reference answer that itself reuses the
        # question's words, as short-answer items often do, is matched by answers that reuse them too), and
        # one that earns a concept even in part is not an answer to another question
        if content and not any(v.verdict == "covered" for v in verdicts) and (
                not novel or (len(novel) <= 2 and len(novel) / len(set(map(tx.stem, content))) <= 0.25
                              and rel_q >= 0.75)):
            caps.append(("restatement", "the answer restates the question"))
        if content and all(v.verdict == "missing" for v in verdicts) and max(relevance, rel_q) < k.off_topic_rel:
            caps.append(("off_topic", "the answer does not address this question"))
        if not content and not caps:
            caps.append(("no_content", "the answer has no content words"))
        score = _apply_caps(caps, score, flags, notes, feedback)
        return Grade(
            question_id=question.id, score=score, display=half_point(score), verdicts=verdicts,
            misconceptions=hits, flags=list(dict.fromkeys(flags)), feedback=feedback, notes=notes,
            grader=self.name, grader_version=GRADER_VERSION, model=self.model_name,
            rubric_version=rubric.version, answer_chars=len(w.original),
            extra={"relevance": round(max(relevance, rel_q), 4), "units": len(units),
                   "mis_sim": round(mis_sim, 4), "mis_margin": round(mis_margin, 4)},
        )

    # ---------------------------------------------------------------- helpers

    def _lexical(self, c: _PConcept, w: _Work) -> float:
        if not c.terms:
            return 0.0
        negated_ok = any(c.exemplar_neg)  # the concept is itself stated with a negation ("never appears ...")
        found = sum(1 for t in c.terms if t in w.term_hits
                    and not any(a < w.term_hits[t].end and b > w.term_hits[t].start for a, b in w.injection)
                    and (negated_ok or not tx.negated_before(w.text, w.term_hits[t].start)))
        return min(1.0, found / min(2, len(c.terms)))

    @staticmethod
    def _quantity_conflicts(p: _Prepared, w: _Work, units: list[_Unit]) -> np.ndarray:
        """(units, rubric rows): 1 where the unit and the rubric text state conflicting quantities."""
        out = np.zeros((len(units), len(p.full)), dtype=np.float32)
        if not p.row_quantities or not any(p.row_quantities):
            return out
        for i, u in enumerate(units):
            uq = tx.quantities(w.text[u.start : u.end])
            if uq:
                for j, rq in enumerate(p.row_quantities):
                    if rq and tx.quantities_conflict(uq, rq):
                        out[i, j] = 1.0
        return out

    def _recall(self, stems: frozenset[str], w: _Work) -> float:
        if not stems:
            return 0.0
        found = 0
        for s in stems:
            if s in w.answer_stems or (len(s) >= 4 and any(tx.near_word(s, a) for a in w.answer_stems)):
                found += 1
        return found / len(stems)

    def _evidence(self, w: _Work, units: list[_Unit], ui: int, c: _PConcept) -> Evidence | None:
        if 0 <= ui < len(units):
            u = units[ui]
            return Evidence(start=u.start, end=u.end, text=w.text[u.start : u.end])
        for t in c.terms:
            h = w.term_hits.get(t)
            if h:
                return Evidence(start=h.start, end=h.end, text=w.text[h.start : h.end])
        return None

    def _empty(self, question: Question, rubric: Rubric, answer: str) -> Grade:
        verdicts = [ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict="missing",
                                   similarity=0.0, lexical=0.0, score=0.0, evidence=None,
                                   feedback=f"Missing: {c.name} - {c.description}") for c in rubric.concepts]
        return Grade(question_id=question.id, score=0.0, display=0.0, verdicts=verdicts, flags=["empty"],
                     feedback=["no answer"], notes=["the answer is empty"], grader=self.name,
                     grader_version=GRADER_VERSION, model=self.model_name, rubric_version=rubric.version,
                     answer_chars=len(answer))
