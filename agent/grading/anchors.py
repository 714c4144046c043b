"""Graded answers as anchors: how the project's graded answers to the same bank question were graded.

A human grader who has marked many answers to a question grades a new one partly by which of those it
resembles. For the bank's questions the project has such answers (``data/graded_answers/``: rounds by
different writers, graded against the rubric). ``anchors.npz`` keeps each one's embedding (the
bundled MiniLM, the same model and pooling as the embedding grader's ``encode``), its grade, question and round.
:meth:`Anchors.features` reads, for an answer's embedding, the grades of the closest graded answers to the same
question: the nearest one's grade and similarity, a similarity-weighted grade of the five nearest and of all, and
how far the nearest stands out. The stacked grader reads these beside the graders' signals; a question without
graded answers (one of the user's own) is graded by the stacker fitted without them.

The same at the level of sentences: a wrong claim is one sentence of an otherwise good answer, and other writers
who stated the same error wrote a sentence like it, while no correct answer did. ``anchors.npz`` also keeps the
sentences of the correct graded answers (graded 3.5 or more) and, of each answer that states an error (its kind
says so), the one sentence least like any correct answer's to the same question, embedded alike (as int8);
:meth:`Anchors.features` reads, for each sentence of a new answer, how much closer it comes to such a wrong claim
than to any correct answer's sentence, the most and the mean over its sentences.

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
SENTENCE_SCALE = 127.0  # sentence vectors are stored as round(vector x 127) in int8
MIN_SENTENCE_WORDS = 3  # shorter sentences ("Yes.", "So, um.") say nothing to compare
MAX_SENTENCES = 64  # an answer's first sentences compared (a pasted essay must not cost seconds)


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
            # the wrong claims of the answers that state an error (label 1) and the sentences of the correct ones
            # (label 0), each with the row of its answer; int8 vectors scaled by SENTENCE_SCALE (an older file has
            # none)
            self.sent_vectors = np.asarray(data.get("sent_vectors", np.zeros((0, self.vectors.shape[1]), np.int8)))
            self.sent_answer = np.asarray(data.get("sent_answer", np.zeros(0, np.int32)), dtype=np.int64)
            self.sent_label = np.asarray(data.get("sent_label", np.zeros(0, np.int8)), dtype=np.int8)
            if not (len(self.sent_vectors) == len(self.sent_answer) == len(self.sent_label)) or (
                    len(self.sent_answer) and (self.sent_answer.min() < 0 or self.sent_answer.max() >= n)):
                raise ValueError("sentence vectors, answers and labels differ in length or name no answer")
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{path.name}: cannot read the graded-answer anchors ({e}); reinstall viva, or run "
                            "scripts/entail/fit_stacker.py") from e
        rows: dict[str, list[int]] = {}
        for i, q in enumerate(self.questions):
            rows.setdefault(str(q), []).append(i)
        self._by_question = {q: np.array(v) for q, v in rows.items()}
        sents: dict[str, list[int]] = {}
        for j, i in enumerate(self.sent_answer):
            sents.setdefault(str(self.questions[i]), []).append(j)
        self._sentences_of = {q: np.array(v) for q, v in sents.items()}

    def has(self, question_id: str) -> bool:
        return question_id in self._by_question

    def features(self, question_id: str, vec: np.ndarray, exclude_round: str | None = None,
                 sentences: np.ndarray | None = None) -> dict[str, float]:
        """What the graded answers to ``question_id`` (but those of ``exclude_round``) say of an answer whose
        L2-normalised embedding is ``vec`` (and, given ``sentences``, the embeddings of its sentences, see
        :func:`embed_sentences`); empty where the question has none."""
        import numpy as np

        out = {} if sentences is None else self._sentence_features(question_id, sentences, exclude_round)

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
                "anc_mean_sim": float(sims.mean()), "anc_top_minus_mean": float(sims[order[0]] - sims.mean()), **out}

    def _sentence_features(self, question_id: str, sentences: np.ndarray,
                           exclude_round: str | None) -> dict[str, float]:
        """How much closer the answer's sentences come to another writer's wrong claim than to any correct
        answer's sentence: the most over its sentences (``anc_sent_err_gap``) and the mean (``..._mean``)."""
        import numpy as np

        idx = self._sentences_of.get(question_id)
        if idx is not None and exclude_round is not None:
            idx = idx[self.rounds[self.sent_answer[idx]] != exclude_round]
        if idx is None or not len(sentences):
            return {}
        err, ok = idx[self.sent_label[idx] == 1], idx[self.sent_label[idx] == 0]
        if not len(err) or not len(ok):
            return {}
        s = np.asarray(sentences, dtype=np.float32)
        near_err = (s @ (self.sent_vectors[err].astype(np.float32).T / SENTENCE_SCALE)).max(axis=1)
        near_ok = (s @ (self.sent_vectors[ok].astype(np.float32).T / SENTENCE_SCALE)).max(axis=1)
        gap = near_err - near_ok
        return {"anc_sent_err_gap": float(gap.max()), "anc_sent_err_gap_mean": float(gap.mean())}


def _shipped() -> Anchors | None:
    """The shipped anchors, or None when the package has none (the stacker then grades without them)."""
    return Anchors() if ANCHORS.is_file() else None


get_anchors = loaded_once(_shipped)


def embed(answers: list[str]) -> np.ndarray:
    """The answers' embeddings, as the anchors were embedded."""
    from agent.grading.cache import get_embedder

    return get_embedder(EMBEDDING_MODEL).encode(answers)


def sentence_texts(answer: str) -> list[str]:
    """The sentences of ``answer`` the sentence anchors compare (the first MAX_SENTENCES of MIN_SENTENCE_WORDS
    words or more; the whole answer where none is, a run of terms for one)."""
    from agent.grading import text as tx

    out = [t for t in (answer[s.start : s.end].strip() for s in tx.sentences(answer))
           if len(t.split()) >= MIN_SENTENCE_WORDS]
    return out[:MAX_SENTENCES] or ([answer.strip()] if answer.strip() else [])


def embed_sentences(answers: list[str]) -> list[np.ndarray]:
    """Per answer, the embeddings of its :func:`sentence_texts` (one batch for all answers)."""
    import numpy as np

    texts = [sentence_texts(a) for a in answers]
    flat = [t for ts in texts for t in ts]
    vecs = embed(flat) if flat else np.zeros((0, 384), np.float32)
    out, at = [], 0
    for ts in texts:
        out.append(vecs[at : at + len(ts)])
        at += len(ts)
    return out
