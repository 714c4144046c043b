"""The three offline graders joined by a model fitted on whole graded answers.

Each of ``embedding``, ``contrastive`` and ``entail`` sees something the others miss (term evidence, a
tuned similarity, the cross-encoder's states / contradicts), and each is biased on some kinds of answer. The
``stacked`` scorer grades an answer with all three and joins what they found (:func:`features`: their
scores, the share of concepts each calls covered, their misconception and adversarial flags, the answer's
length) with a ridge regression fitted on interview answers the project wrote and graded for that purpose
(data/graded_answers/, split by topic: fitted on the train topics, chosen on dev, reported on test; see
``scripts/entail/fit_stacker.py``). The weights ship as ``stacked.json``; the verdicts, evidence and
misconception hits shown are the cross-encoder grader's (the first grader's when the fit leaves that one out),
the score is the fitted one.
"""

from __future__ import annotations

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
ADVERSARIAL = ("injection", "dont_know", "buzzwords", "off_topic", "restatement", "no_content", "empty")


def features(grades: dict[str, Grade], answer: str) -> dict[str, float]:
    """What the stacker reads of one answer: per grader graded (a key of ``grades``) its score (0-5), the share
    of concept weight it calls covered and partly covered, its mean concept credit before any cap, whether it
    flags a misconception or an adversarial answer; the answer's length (log words)."""
    f: dict[str, float] = {}
    for name, g in grades.items():
        total = sum(v.weight for v in g.verdicts) or 1.0
        f[f"{name}_score"] = float(g.score)
        f[f"{name}_covered"] = sum(v.weight for v in g.verdicts if v.verdict == "covered") / total
        f[f"{name}_partial"] = sum(v.weight for v in g.verdicts if v.verdict == "partial") / total
        f[f"{name}_credit"] = sum(v.weight * v.score for v in g.verdicts) / total
        f[f"{name}_misconception"] = float("misconception" in g.flags)
        f[f"{name}_adversarial"] = float(any(x in g.flags for x in ADVERSARIAL))
    f["log_words"] = math.log1p(len(answer.split()))
    return f


class Stacker:
    """A linear model over standardised features, read from ``stacked.json`` (or given as its contents, with
    the name to blame in errors)."""

    def __init__(self, path: Path = WEIGHTS, weights: dict | None = None):
        from agent.errors import UserError

        try:
            data = json.loads(path.read_text("utf-8")) if weights is None else weights
            self.parts: list[str] = [p for p in PARTS if p in data["parts"]]
            self.names: list[str] = list(data["features"])
            self.mean = [float(x) for x in data["mean"]]
            self.scale = [float(x) for x in data["scale"]]
            self.coef = [float(x) for x in data["coef"]]
            self.intercept = float(data["intercept"])
            self.caps_from: list[str] = [p for p in data.get("caps_from", []) if p in self.parts]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path.name}: cannot read the stacked grader's weights ({e}); reinstall viva, or run "
                            "scripts/entail/fit_stacker.py, or set grader = \"embedding\"") from e
        if not self.parts or not len(self.names) == len(self.mean) == len(self.scale) == len(self.coef):
            raise UserError(f"{path.name}: no graders, or features, mean, scale and coef differ in length; "
                            "reinstall viva")

    def predict(self, f: dict[str, float]) -> float:
        """The fitted grade, 0-5, with the caps of the graders named in ``caps_from``: an answer one of them
        flags as adversarial is held at 1, one it finds a misconception in at 2."""
        z = self.intercept + sum(c * (f[n] - m) / s for n, m, s, c in
                                 zip(self.names, self.mean, self.scale, self.coef, strict=True))
        if any(f.get(f"{p}_adversarial") for p in self.caps_from):
            z = min(z, ADVERSARIAL_CAP)
        if any(f.get(f"{p}_misconception") for p in self.caps_from):
            z = min(z, MISCONCEPTION_CAP)
        return min(5.0, max(0.0, z))


@register("stacked")
def _factory() -> StackedScorer:
    return StackedScorer()


class StackedScorer(Scorer):
    name = "stacked"
    version = "1.0.0"

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
        from agent.grading.base import get_scorer
        from agent.models import half_point

        stacker = self.stacker
        per = {n: get_scorer(n).score_many(items) for n in stacker.parts}
        shown = "entail" if "entail" in per else stacker.parts[0]  # whose verdicts and evidence are shown
        out = []
        for i, (_q, _r, answer) in enumerate(items):
            grades = {n: per[n][i] for n in stacker.parts}
            base = grades[shown]
            if "empty" in base.flags:
                out.append(base.model_copy(update={"grader": self.name, "grader_version": self.version}))
                continue
            score = round(stacker.predict(features(grades, answer)), 4)
            extra = dict(base.extra, parts={n: round(g.score, 4) for n, g in grades.items()})
            out.append(base.model_copy(update={
                "score": score, "display": half_point(score), "grader": self.name, "grader_version": self.version,
                "model": self.model_name, "extra": extra,
                "notes": [*base.notes, f"score: {', '.join(stacker.parts)} joined by the fitted stacker"]}))
        return out
