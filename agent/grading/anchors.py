"""Graded answers as anchors: how the project's graded answers to the same bank question were graded.

A human grader who has marked many answers to a question grades a new one partly by which of those it
resembles. For the bank's questions the project has such answers (``data/graded_answers/``: rounds by
different writers, graded against the rubric). ``anchors.npz`` keeps each one's embedding (the
bundled MiniLM, the same model and pooling as the embedding grader's ``encode``), its grade, question and round.
:meth:`Anchors.features` reads, for an answer's embedding, the grades of the closest graded answers to the same
question: the nearest one's grade and similarity, a similarity-weighted grade of the five nearest and of all, and
how far the nearest stands out. The stacked grader reads these beside the graders' signals; a question without
graded answers (one of the user's own) is graded by the stacker fitted without them.

Fitted by ``scripts/entail/fit_stacker.py``, which computes every graded answer's features from the *other*
rounds' answers only (``exclude_round``), so that the stacker learns what anchors written by someone else say.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.grading.base import loaded_once

if TYPE_CHECKING:
    import numpy as np

ANCHORS = Path(__file__).resolve().parent / "entail_model" / "anchors.npz"
NEAREST = 5  # graded answers in the weighted nearest-neighbour grade
TEMPERATURE = 0.05  # softmax temperature over cosine similarities for the weighted grades
EMBEDDING_MODEL = "bundled"  # the anchors were embedded with this model (agent.grading.cache)


class Anchors:
    def __init__(self, path: Path = ANCHORS, data: dict | None = None):
        import numpy as np

        from agent.errors import UserError

        try:
            if data is None:
                with np.load(path, allow_pickle=False) as z:
                    data = {k: z[k] for k in z.files}
            self.vectors = np.asarray(data["vectors"], dtype=np.float32)
            self.grades = np.asarray(data["grades"], dtype=np.float32)
            self.questions = np.asarray(data["questions"]).astype(str)
            self.rounds = np.asarray(data["rounds"]).astype(str)
            n = len(self.vectors)
            if not (len(self.grades) == len(self.questions) == len(self.rounds) == n) or self.vectors.ndim != 2:
                raise ValueError("vectors, grades, questions and rounds differ in length")
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{path.name}: cannot read the graded-answer anchors ({e}); reinstall viva, or run "
                            "scripts/entail/fit_stacker.py") from e
        rows: dict[str, list[int]] = {}
        for i, q in enumerate(self.questions):
            rows.setdefault(str(q), []).append(i)
        self._by_question = {q: np.array(v) for q, v in rows.items()}

    def has(self, question_id: str) -> bool:
        return question_id in self._by_question

    def features(self, question_id: str, vec: np.ndarray, exclude_round: str | None = None) -> dict[str, float]:
        """What the graded answers to ``question_id`` (but those of ``exclude_round``) say of an answer whose
        L2-normalised embedding is ``vec``; empty where the question has none."""
        import numpy as np

        idx = self._by_question.get(question_id)
        if idx is not None and exclude_round is not None:
            idx = idx[self.rounds[idx] != exclude_round]
        if idx is None or not len(idx):
            return {}
        sims = self.vectors[idx] @ np.asarray(vec, dtype=np.float32)
        order = np.argsort(-sims, kind="stable")
        grades = self.grades[idx]
        near = order[:NEAREST]
        w_near = np.exp((sims[near] - sims[near].max()) / TEMPERATURE)
        w_all = np.exp((sims - sims.max()) / TEMPERATURE)
        return {"anc_top1_grade": float(grades[order[0]]), "anc_top1_sim": float(sims[order[0]]),
                "anc_knn5": float((w_near * grades[near]).sum() / w_near.sum()),
                "anc_soft": float((w_all * grades).sum() / w_all.sum()),
                "anc_mean_sim": float(sims.mean()), "anc_top_minus_mean": float(sims[order[0]] - sims.mean())}


def _shipped() -> Anchors | None:
    """The shipped anchors, or None when the package has none (the stacker then grades without them)."""
    return Anchors() if ANCHORS.is_file() else None


get_anchors = loaded_once(_shipped)


def embed(answers: list[str]) -> np.ndarray:
    """The answers' embeddings, as the anchors were embedded."""
    from agent.grading.cache import get_embedder

    return get_embedder(EMBEDDING_MODEL).encode(answers)
