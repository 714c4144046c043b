"""Graded answers as anchors: what the graded answers to the same bank question say of a new answer."""

from __future__ import annotations

import numpy as np
import pytest

from agent.grading.anchors import ANCHORS, Anchors


def _toy() -> Anchors:
    v = np.eye(4, dtype=np.float32)
    return Anchors(data={"vectors": v, "grades": np.array([5.0, 1.0, 3.0, 0.0], np.float32),
                         "questions": np.array(["q", "q", "q", "other"]),
                         "rounds": np.array(["r1", "r2", "r1", "r1"])})


def test_features_read_the_nearest_graded_answers_of_the_same_question() -> None:
    a = _toy()
    f = a.features("q", np.array([0.9, 0.1, 0.0, 0.0], np.float32))
    assert f["anc_top1_grade"] == 5.0 and f["anc_top1_sim"] == pytest.approx(0.9)
    assert 4.9 < f["anc_soft"] <= 5.0  # the softmax over similarities sits on the nearest
    assert f["anc_top_minus_mean"] == pytest.approx(0.9 - (0.9 + 0.1 + 0.0) / 3)
    # the other question's answer (grade 0) never counts; a question with no graded answers has no features
    assert a.features("missing", np.ones(4, np.float32)) == {}
    # leaving a round out: the nearest left is round 2's answer
    g = a.features("q", np.array([0.9, 0.1, 0.0, 0.0], np.float32), exclude_round="r1")
    assert g["anc_top1_grade"] == 1.0 and g["anc_knn5"] == pytest.approx(1.0)


def test_a_sentence_nearer_other_writers_errors_than_any_correct_answer_reads_as_one() -> None:
    a = _toy()
    # the sentences of answer 0 (correct, round r1) and answer 1 (states an error, round r2), as int8 vectors
    sent = np.array([[127, 0, 0, 0], [0, 0, 127, 0], [0, 127, 0, 0]], np.int8)
    b = Anchors(data={"vectors": a.vectors, "grades": a.grades, "questions": a.questions, "rounds": a.rounds,
                      "sent_vectors": sent, "sent_answer": np.array([0, 1, 1]), "sent_label": np.array([0, 1, 1])})
    v = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    # one sentence says what the correct answer said, one what only the wrong answer said
    f = b.features("q", v, sentences=np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], np.float32))
    assert f["anc_sent_err_gap"] == pytest.approx(1.0) and f["anc_sent_err_gap_mean"] == pytest.approx(0.0)
    clean = b.features("q", v, sentences=np.array([[1.0, 0.0, 0.0, 0.0]], np.float32))
    assert clean["anc_sent_err_gap"] == pytest.approx(-1.0)
    # without the wrong answer's round there is nothing to compare against; without sentences, no such features
    assert "anc_sent_err_gap" not in b.features("q", v, exclude_round="r2", sentences=np.eye(4, dtype=np.float32))
    assert "anc_sent_err_gap" not in b.features("q", v)
    from agent.errors import UserError

    with pytest.raises(UserError, match="name no answer"):
        Anchors(data={"vectors": a.vectors, "grades": a.grades, "questions": a.questions, "rounds": a.rounds,
                      "sent_vectors": sent, "sent_answer": np.array([0, 1, 9]), "sent_label": np.array([0, 1, 1])})


def test_the_sentences_compared_are_the_answers_own_and_a_pasted_essay_is_cut() -> None:
    from agent.grading.anchors import MAX_SENTENCES, sentence_texts

    assert sentence_texts("Yes. The loss is cross-entropy on the next token. Okay.") == [
        "The loss is cross-entropy on the next token."]
    assert sentence_texts("cross-entropy NLL shifted") == ["cross-entropy NLL shifted"]  # a run of terms: itself
    assert sentence_texts("  ") == []
    essay = " ".join(f"Sentence number {i} says a thing." for i in range(500))
    assert len(sentence_texts(essay)) == MAX_SENTENCES


def test_shipped_anchors_are_the_graded_answers() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "entail"))
    from fit_stacker import load

    rows = load()
    a = Anchors()
    assert len(a.vectors) == len(rows) and a.vectors.shape[1] == 384
    assert sorted(zip(a.questions, a.grades.tolist(), strict=True)) == sorted((r["id"], r["grade"]) for r in rows)
    assert np.allclose(np.linalg.norm(a.vectors, axis=1), 1.0, atol=1e-2)
    assert set(a.rounds) == {r["file"] for r in rows}
    # the sentence anchors: sentences of answers that state an error (1) or are correct (0), of these very answers
    assert set(a.sent_label.tolist()) == {0, 1} and len(a.sent_vectors) == len(a.sent_answer) > len(rows)
    assert a.sent_vectors.dtype == np.int8 and a.sent_vectors.shape[1] == 384


def test_stacked_grader_reads_anchors_for_a_bank_question_and_grades_without_them_otherwise() -> None:
    from agent.bank import default_bank
    from agent.grading.adhoc import adhoc_rubric
    from agent.grading.base import get_scorer
    from agent.grading.stacked import _anchor_features

    bank = default_bank()
    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    answer = "The loss is the cross-entropy of the next token at every position, averaged over positions."
    feats = _anchor_features([(q, r, answer)])
    assert set(feats[0]) >= {"anc_top1_grade", "anc_knn5", "anc_soft"}
    st = get_scorer("stacked")
    assert st.stacker.uses_anchors and st.stacker.fallback is not None
    qa, ra = adhoc_rubric("What is overfitting?", "The model fits noise in the training data and generalises worse.")
    assert _anchor_features([(qa, ra, "It memorises the training set.")]) == {}
    g_bank, g_own = st.score_many([(q, r, answer), (qa, ra, "It memorises the training set and fails on new data.")])
    assert 0 <= g_bank.score <= 5 and 0 <= g_own.score <= 5 and g_bank.grader == g_own.grader == "stacked"


def test_a_broken_anchor_file_is_named(tmp_path) -> None:
    from agent.errors import UserError

    bad = tmp_path / ANCHORS.name
    np.savez(bad, vectors=np.zeros((2, 3)), grades=np.zeros(3))
    with pytest.raises(UserError, match=ANCHORS.name):
        Anchors(bad)
