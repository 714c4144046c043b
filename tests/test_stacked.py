"""The stacked grader: the three offline graders joined by the ridge regression shipped in stacked.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = REPO / "agent" / "grading" / "entail_model" / "stacked.json"
DATA = REPO / "data" / "graded_answers" / "answers.jsonl"


@pytest.fixture(scope="module")
def stacked():
    from agent.grading import get_scorer

    return get_scorer("stacked")


def test_weights_are_the_fitted_ones_and_name_their_data() -> None:
    w = json.loads(WEIGHTS.read_text("utf-8"))
    assert w["parts"] and set(w["parts"]) <= {"embedding", "contrastive", "entail"}
    assert len(w["features"]) == len(w["coef"]) == len(w["mean"]) == len(w["scale"])
    assert "train topics" in w["fitted_on"]
    assert w["test"]["stacked"]["answers"] > 0  # the fit reports the held-out topics


def test_graded_answers_are_well_formed_and_split_by_topic() -> None:
    import sys

    sys.path.insert(0, str(REPO / "scripts" / "entail"))
    from fit_stacker import load

    rows = load()
    kinds = {"excellent", "paraphrase", "partial_most", "partial_little", "misconception", "spoken", "gaming",
             "wrong_or_vague"}
    assert len(rows) >= 400 and {r["kind"] for r in rows} == kinds
    assert all(0 <= r["grade"] <= 5 and r["answer"].strip() for r in rows)
    topics_by_split: dict[str, set[str]] = {}
    for r in rows:
        topics_by_split.setdefault(r["split"], set()).add(r["topic"])
    assert set(topics_by_split) == {"train", "dev", "test"}
    assert not topics_by_split["test"] & (topics_by_split["train"] | topics_by_split["dev"])


def test_orders_a_full_answer_above_a_thin_one_and_a_term_list(stacked, bank) -> None:
    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    full = ("The model is trained to predict each next token from the ones before it: at every position the "
            "logits are compared with the actual next token by cross-entropy, so the targets are the inputs "
            "shifted by one. Averaging over positions gives the negative log-likelihood, which by the chain rule "
            "is maximum likelihood of the whole sequence.")
    thin = "It predicts the next word."
    terms = "cross-entropy cross-entropy next token every position shifted maximum likelihood chain rule NLL"
    g_full, g_thin, g_terms = stacked.score_many([(q, r, full), (q, r, thin), (q, r, terms)])
    assert g_full.score > g_thin.score and g_full.score > g_terms.score
    assert g_full.grader == "stacked" and g_full.verdicts and 0 <= g_full.score <= 5
    assert set(g_full.extra["parts"]) == set(json.loads(WEIGHTS.read_text("utf-8"))["parts"])


def test_empty_answer_is_zero(stacked, bank) -> None:
    g = stacked.score(bank.question("clm-loss"), bank.rubrics["clm-loss"], "   ")
    assert g.score == 0 and "empty" in g.flags


def test_broken_weights_name_the_file(tmp_path: Path) -> None:
    from agent.errors import UserError
    from agent.grading.stacked import Stacker

    bad = tmp_path / "stacked.json"
    bad.write_text('{"parts": ["embedding"], "features": ["a"], "mean": [0], "scale": [1]}', "utf-8")
    with pytest.raises(UserError, match="stacked.json"):
        Stacker(bad)
