"""Does a sentence name a wrong belief in order to reject it? A learned classifier, read by the stacked grader.

"Some people think the model copies its input, but the target is the next token" mentions a misconception and
states its correction; a grader that only measures closeness to the misconception reads it as stated. This
model gives the probability that a sentence rejects a claim: TF-IDF over words and word pairs and a logistic
regression (scikit-learn), trained on the project's hand-written concepts (their sentences that name a
misconception to reject it, against those that state things, contradict them or state the misconception) by
``scripts/entail/train_rejects.py`` and shipped as ``entail_model/rejects.json``. Scored here in plain Python,
tested equal to scikit-learn.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

from agent.grading.base import loaded_once

WEIGHTS = Path(__file__).resolve().parent / "entail_model" / "rejects.json"
_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


class RejectionModel:
    def __init__(self, path: Path = WEIGHTS, weights: dict | None = None):
        from agent.errors import UserError

        try:
            data = json.loads(path.read_text("utf-8")) if weights is None else weights
            terms = list(data["terms"])
            self.idf = dict(zip(terms, map(float, data["idf"]), strict=True))
            self.coef = dict(zip(terms, map(float, data["coef"]), strict=True))
            self.intercept = float(data["intercept"])
            self.ngram_range = tuple(int(n) for n in data["ngram_range"])
            self.sublinear = bool(data["sublinear_tf"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path.name}: cannot read the rejection classifier ({e}); reinstall viva, or run "
                            "scripts/entail/train_rejects.py") from e

    def decision(self, text: str) -> float:
        """The logistic regression's decision value (log-odds) for ``text``."""
        tokens = _TOKEN_RE.findall(text.lower())
        lo, hi = self.ngram_range
        grams = [" ".join(tokens[i : i + n]) for n in range(lo, hi + 1) for i in range(len(tokens) - n + 1)]
        counts = Counter(g for g in grams if g in self.idf)
        weights = {g: (1.0 + math.log(c) if self.sublinear else float(c)) * self.idf[g] for g, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in weights.values()))
        if not norm:
            return self.intercept
        return self.intercept + sum(v * self.coef[g] for g, v in weights.items()) / norm

    def probability(self, text: str) -> float:
        z = self.decision(text)
        return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0


get_rejection_model = loaded_once(RejectionModel)
