"""The offline graders, joined by a model fitted on whole graded answers.

Each of ``embedding``, ``contrastive`` and ``entail`` sees something the others miss (term evidence, a tuned
similarity, the cross-encoder's states / contradicts), and each is biased on some kinds of answer. The ``stacked``
scorer grades an answer with the graders named in ``parts`` (all three) and joins what they found
(:func:`features`: their scores, the share of concepts each calls covered, their misconception and adversarial
flags, their raw signals, the answer's length; for a bank question, what the project's graded answers to the same
question say of it, see :mod:`agent.grading.anchors`) with gradient-boosted trees (or a ridge regression, whichever
the fit chose) fitted on interview answers the project wrote and graded for that purpose (data/graded_answers/,
split by topic: chosen over the train and dev topics by leaving one round of writers out at a time, reported on
test; see ``scripts/entail/fit_stacker.py``). The model ships as ``stacked.json``, with a second model fitted
without the anchors for questions that have none and a third for rubrics derived from a reference answer (``viva
score --reference``, ``viva eval``); the verdicts, evidence and misconception hits shown are the cross-encoder
grader's (the first grader's when the fit leaves that one out), made to agree with the fitted score, and the score
is the fitted one; where the fitted score holds an answer at the misconception cap, a stated misconception that
another grader matched and the shown one did not is shown too. It is the default grader (the ``grader`` setting).
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from agent.grading.base import Scorer, register
from agent.grading.embedding import ADVERSARIAL_CAP, MISCONCEPTION_CAP

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric

WEIGHTS = Path(__file__).resolve().parent / "entail_model" / "stacked.json"
PARTS = ("embedding", "contrastive", "entail")
# the graders' raw signals (Grade.extra) read beside their grades: relevance to the question, closeness to a
# misconception and its margin, the cross-encoder's credit, claim, contradiction and states probabilities, how
# strongly it reads a misconception's correction as stated and a claim as stated more than its correction, and
# the concept weight it reads as contradicted
RAW_SIGNALS = ("relevance", "mis_sim", "mis_margin", "raw_credit", "claim_states", "claim_against", "contradicts",
               "states", "correction_states", "claim_over_correction", "contradicts_mean")
ADVERSARIAL = ("injection", "dont_know", "buzzwords", "off_topic", "restatement", "no_content", "empty")


def features(grades: dict[str, Grade], answer: str) -> dict[str, float]:
    """What the stacker reads of one answer: per grader graded (a key of ``grades``) its score (0-5), the share
    of concept weight it calls covered and partly covered, its mean concept credit before any cap, whether it
    flags a misconception or an adversarial answer, the raw signals it reports (``RAW_SIGNALS``); the answer's
    length (log words) and its share of function words (a run of terms has few: "the", "of", "is" ...); how
    likely the rejection classifier (:mod:`agent.grading.rejects`) reads a sentence of the answer, and each
    grader's misconception evidence, as naming a wrong belief to reject it."""
    from agent.grading import text as tx
    from agent.grading.rejects import get_rejection_model

    rejection = get_rejection_model()

    f: dict[str, float] = {}
    for name, g in grades.items():
        total = sum(v.weight for v in g.verdicts) or 1.0
        f[f"{name}_score"] = float(g.score)
        f[f"{name}_covered"] = sum(v.weight for v in g.verdicts if v.verdict == "covered") / total
        f[f"{name}_partial"] = sum(v.weight for v in g.verdicts if v.verdict == "partial") / total
        f[f"{name}_credit"] = sum(v.weight * v.score for v in g.verdicts) / total
        f[f"{name}_misconception"] = float("misconception" in g.flags)
        f[f"{name}_adversarial"] = float(any(x in g.flags for x in ADVERSARIAL))
        for key in RAW_SIGNALS:
            if key in g.extra:
                f[f"{name}_x_{key}"] = float(g.extra[key])
        f[f"{name}_mis_rejects"] = max((rejection.probability(h.evidence.text) for h in g.misconceptions
                                        if h.evidence is not None), default=0.0)
    f["log_words"] = math.log1p(len(answer.split()))
    words = tx.words(answer)
    f["function_words"] = sum(w in tx.STOPWORDS for w in words) / len(words) if words else 0.0
    f["rejects_max"] = max((rejection.probability(answer[s.start : s.end]) for s in tx.sentences(answer)),
                           default=0.0)
    return f


class Tree:
    """One regression tree of a gradient-boosted ensemble: parallel node arrays (split feature, threshold, left and
    right child, leaf flag, value); a sample goes left where its feature is at most the threshold."""

    def __init__(self, d: dict):
        self.feature = [int(x) for x in d["feature"]]
        self.threshold = [float(x) for x in d["threshold"]]
        self.left = [int(x) for x in d["left"]]
        self.right = [int(x) for x in d["right"]]
        self.leaf = [bool(x) for x in d["leaf"]]
        self.value = [float(x) for x in d["value"]]
        n = len(self.feature)
        if not n or any(len(a) != n for a in (self.threshold, self.left, self.right, self.leaf, self.value)):
            raise ValueError("tree node arrays differ in length")

    def predict(self, x: list[float]) -> float:
        i = 0
        while not self.leaf[i]:
            i = self.left[i] if x[self.feature[i]] <= self.threshold[i] else self.right[i]
        return self.value[i]


class Stacker:
    """The fitted model, read from ``stacked.json`` (or given as its contents, with the name to blame in errors):
    ``"model": "trees"``, a gradient-boosted tree ensemble over the raw features (baseline + the sum of the
    trees' leaves), or ``"model": "ridge"``, a linear model over standardised features."""

    def __init__(self, path: Path = WEIGHTS, weights: dict | None = None):
        from agent.errors import UserError

        try:
            data = json.loads(path.read_text("utf-8")) if weights is None else weights
            self.kind: str = data.get("model", "ridge")
            self.parts: list[str] = [p for p in PARTS if p in data["parts"]]
            self.names: list[str] = list(data["features"])
            self.caps_from: list[str] = [p for p in data.get("caps_from", []) if p in self.parts]
            # a least-squares fit draws grades toward the mean where its signals are unsure. The calibration
            # (fitted on out-of-fold predictions) gives them back the graded answers' scale: a monotone map from
            # the predictions' quantiles to the grades' quantiles; an older file carries a linear stretch instead
            stretch = data.get("stretch") or {"center": 0.0, "factor": 1.0}
            self.center, self.factor = float(stretch["center"]), float(stretch["factor"])
            calib = data.get("calibration")
            self.calib_x: list[float] = [float(v) for v in calib["x"]] if calib else []
            self.calib_y: list[float] = [float(v) for v in calib["y"]] if calib else []
            if calib and (len(self.calib_x) < 2 or len(self.calib_x) != len(self.calib_y)
                          or any(b < a for a, b in itertools.pairwise(self.calib_x))
                          or any(b < a for a, b in itertools.pairwise(self.calib_y))):
                raise ValueError("calibration knots must be two non-decreasing lists of the same length (2 or more)")
            if self.kind == "trees":
                self.baseline = float(data["baseline"])
                self.trees = [Tree(t) for t in data["trees"]]
                ok = bool(self.trees) and all(0 <= f < len(self.names) for t in self.trees
                                              for f, leaf in zip(t.feature, t.leaf, strict=True) if not leaf)
            elif self.kind == "ridge":
                self.mean = [float(x) for x in data["mean"]]
                self.scale = [float(x) for x in data["scale"]]
                self.coef = [float(x) for x in data["coef"]]
                self.intercept = float(data["intercept"])
                ok = len(self.names) == len(self.mean) == len(self.scale) == len(self.coef)
            else:
                raise ValueError(f"unknown model {self.kind!r} (expected 'trees' or 'ridge')")
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            raise UserError(f"{path.name}: cannot read the stacked grader's weights ({e}); reinstall viva, or run "
                            "scripts/entail/fit_stacker.py, or set grader = \"embedding\"") from e
        if not self.parts or not self.names or not ok:
            raise UserError(f"{path.name}: no graders, no features, or a model that does not match its features; "
                            "reinstall viva")
        # the model fitted without the graded-answer anchors, for a question that has none (one of the user's own),
        # and the one for a rubric derived from a reference answer (fitted on both kinds of rubric)
        self.fallback: Stacker | None = self._inner(path, data, "no_anchors")
        self.reference: Stacker | None = self._inner(path, data, "reference")
        self.uses_anchors = any(n.startswith("anc_") for n in self.names)

    @staticmethod
    def _inner(path: Path, data: dict, key: str) -> Stacker | None:
        inner = data.get(key)
        return None if not inner else Stacker(path, dict(
            inner, parts=inner.get("parts", data["parts"]), caps_from=inner.get("caps_from", [])))

    def raw(self, f: dict[str, float]) -> float:
        """The model's output, calibrated (or stretched), before caps and clipping (a feature the answer lacks
        reads as 0)."""
        x = [float(f.get(n, 0.0)) for n in self.names]
        if self.kind == "trees":
            z = self.baseline + sum(t.predict(x) for t in self.trees)
        else:
            z = self.intercept + sum(c * (v - m) / s for v, m, s, c in
                                     zip(x, self.mean, self.scale, self.coef, strict=True))
        if self.calib_x:
            return _interp(z, self.calib_x, self.calib_y)
        return self.center + (z - self.center) * self.factor

    def predict(self, f: dict[str, float], from_reference: bool = False) -> float:
        """The fitted grade, 0-5, with the caps of the graders named in ``caps_from``: an answer one of them
        flags as adversarial is held at 1, one it finds a misconception in at 2. Features graded against a rubric
        derived from a reference answer (``from_reference``) go to the model fitted for those, features without the
        anchors' (a question with no graded answers) to the model fitted without them."""
        if from_reference and self.reference is not None:
            return self.reference.predict(f)
        if self.uses_anchors and self.fallback is not None and "anc_top1_sim" not in f:
            return self.fallback.predict(f)
        z = self.raw(f)
        if any(f.get(f"{p}_adversarial") for p in self.caps_from):
            z = min(z, ADVERSARIAL_CAP)
        if any(f.get(f"{p}_misconception") for p in self.caps_from):
            z = min(z, MISCONCEPTION_CAP)
        return min(5.0, max(0.0, z))


def _interp(z: float, xs: list[float], ys: list[float]) -> float:
    """``numpy.interp``: piecewise-linear between the knots, held at the end values outside them (equal x
    knots: the last one wins, as numpy's does)."""
    if z <= xs[0]:
        return ys[0]
    if z >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, z)  # xs[i - 1] <= z < xs[i]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (z - x0) / (x1 - x0)


@register("stacked")
def _factory() -> StackedScorer:
    return StackedScorer()


class StackedScorer(Scorer):
    name = "stacked"
    version = "2.5.0"

    def __init__(self, stacker: Stacker | None = None):
        self._stacker = stacker

    @property
    def stacker(self) -> Stacker:
        if self._stacker is None:
            self._stacker = Stacker()
        return self._stacker

    @property
    def model_name(self) -> str:
        from agent.grading.base import get_scorer

        return " + ".join(dict.fromkeys(get_scorer(n).model_name for n in self.stacker.parts))

    def score(self, question: Question, rubric: Rubric, answer: str) -> Grade:
        return self.score_many([(question, rubric, answer)])[0]

    def score_many(self, items: list[tuple[Question, Rubric, str]]) -> list[Grade]:
        from agent.grading.adhoc import is_adhoc
        from agent.grading.base import get_scorer
        from agent.models import half_point

        stacker = self.stacker
        per = {n: get_scorer(n).score_many(items) for n in stacker.parts}
        anchored = _anchor_features(items) if stacker.uses_anchors else {}
        shown = "entail" if "entail" in per else stacker.parts[0]  # whose verdicts and evidence are shown
        out = []
        for i, (question, _r, answer) in enumerate(items):
            grades = {n: per[n][i] for n in stacker.parts}
            base = grades[shown]
            if "empty" in base.flags:
                out.append(base.model_copy(update={"grader": self.name, "grader_version": self.version}))
                continue
            score = round(stacker.predict({**features(grades, answer), **anchored.get(i, {})},
                                          from_reference=is_adhoc(question)), 4)
            extra = dict(base.extra, parts={n: round(g.score, 4) for n, g in grades.items()})
            if score <= MISCONCEPTION_CAP + 1e-9:
                base = _with_misconceptions_found_elsewhere(base, [grades[n] for n in stacker.parts if n != shown])
            out.append(base.model_copy(update={
                "score": score, "display": half_point(score), "grader": self.name, "grader_version": self.version,
                "model": self.model_name, "extra": extra,
                **_reconcile(base, score, f"score: {', '.join(stacker.parts)} joined by the fitted stacker")}))
        return out


def _anchor_features(items: list[tuple[Question, Rubric, str]]) -> dict[int, dict[str, float]]:
    """Per item whose question has graded answers: what they say of its answer (:mod:`agent.grading.anchors`)."""
    from agent.grading.anchors import embed, embed_sentences, get_anchors

    anchors = get_anchors()
    if anchors is None:
        return {}
    todo = [i for i, (q, _r, a) in enumerate(items) if a.strip() and anchors.has(q.id)]
    if not todo:
        return {}
    vecs = embed([items[i][2] for i in todo])
    sents = embed_sentences([items[i][2] for i in todo])
    return {i: anchors.features(items[i][0].id, v, sentences=s) for i, v, s in zip(todo, vecs, sents, strict=True)}


SOFT_FLAGS = ("dont_know", "buzzwords", "off_topic", "restatement")  # what the fitted score may overrule


def _with_misconceptions_found_elsewhere(base: Grade, others: list[Grade]) -> Grade:
    """``base`` (the shown grader's grade) with the stated misconceptions that the other graders found and it did not,
    when the fitted score holds at the misconception cap: the score agrees the answer is wrong, and the claim another
    grader matched says what is wrong (and lets the interview ask for the correction). Each is added once, with that
    grader's evidence and its feedback line."""
    have = {h.misconception_id for h in base.misconceptions}
    hits = []
    for g in others:
        for h in g.misconceptions:
            if not h.corrected and h.misconception_id not in have:
                have.add(h.misconception_id)
                hits.append(h)
    if not hits:
        return base
    return base.model_copy(update={
        "misconceptions": [*base.misconceptions, *hits],
        "flags": base.flags if "misconception" in base.flags else [*base.flags, "misconception"],
        "feedback": [*base.feedback, *(h.feedback for h in hits)]})


def _reconcile(base: Grade, score: float, note: str) -> dict:
    """The shown grader's flags, misconceptions, notes and feedback made to agree with the fitted score: no
    "capped at" where nothing was capped; a misconception the fitted score does not hold at the cap is said as
    possible and not counted; a soft adversarial flag the fitted score overrules is dropped (text addressed to the
    grader always stays flagged)."""
    flags, notes, feedback, hits = list(base.flags), [], list(base.feedback), list(base.misconceptions)
    for n in base.notes:
        if n.startswith("capped at "):
            cap = float(n.split()[2].rstrip(":"))
            if score > cap + 1e-9:
                if n.endswith("states a misconception"):
                    continue  # said below as a possible misconception
                n = n.split(": ", 1)[1] + " (weighed by the stacker, not capped)" if ": " in n else n
        notes.append(n)
    if "misconception" in flags and score > MISCONCEPTION_CAP + 1e-9:
        flags.remove("misconception")
        notes += [f"possible misconception, not counted: {h.claim}" for h in hits if not h.corrected]
        feedback = [f for f in feedback if not f.startswith("Misconception: ")]
        hits = [h for h in hits if h.corrected]
    if score > ADVERSARIAL_CAP + 1e-9:
        flags = [f for f in flags if f not in SOFT_FLAGS]
    return {"flags": flags, "notes": [*notes, note], "feedback": feedback, "misconceptions": hits}
