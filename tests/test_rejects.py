"""The rejection classifier: scikit-learn's TF-IDF + logistic regression, scored in plain Python."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "agent" / "grading" / "entail_model" / "rejects.json"


def test_plain_python_scores_what_scikit_learn_does() -> None:
    import numpy as np

    sys.path.insert(0, str(REPO / "scripts" / "entail"))
    from train_rejects import export, fit, load

    from agent.grading.rejects import RejectionModel

    rows = load()[:1500]  # a small model: the comparison, not the figures, is the point
    vec, clf = fit([r["text"] for r in rows], [r["label"] for r in rows], 1.0)
    model = RejectionModel(WEIGHTS, export(vec, clf))
    texts = [r["text"] for r in load()[-300:]] + ["", "ok", "It is NOT a copy task, not at all: not a copy."]
    mine = [model.decision(t) for t in texts]
    assert np.allclose(mine, clf.decision_function(vec.transform(texts)), atol=1e-4)
    assert np.std(mine) > 0.5  # the model separates something, so the comparison means something


def test_shipped_model_tells_a_rejection_from_a_statement() -> None:
    from agent.grading.rejects import get_rejection_model

    w = json.loads(WEIGHTS.read_text("utf-8"))
    assert w["figures"]["test_roc_auc"] > 0.85 and "train and dev topics" in w["fitted_on"]
    m = get_rejection_model()
    rejecting = "A lot of people assume the model just copies its input, but the target is actually the next token."
    stating = "The model just copies its input token; the target at each position is the token it is reading."
    assert m.probability(rejecting) > 0.5 > m.probability(stating)


def test_a_broken_file_is_named(tmp_path) -> None:
    from agent.errors import UserError
    from agent.grading.rejects import RejectionModel

    bad = tmp_path / "rejects.json"
    bad.write_text('{"terms": ["a"], "idf": [1.0, 2.0]}', "utf-8")
    with pytest.raises(UserError, match="rejects.json"):
        RejectionModel(bad)
