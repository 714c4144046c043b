"""Text helpers and metrics behind the grader (no model needed)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.grading import metrics as M
from agent.grading import text as tx


def test_sentences_have_true_offsets():
    t = "First point here.  Second one!\n\n- a bullet item\nThird? yes"
    ss = tx.sentences(t)
    assert [s.text for s in ss] == ["First point here.", "Second one!", "a bullet item", "Third?", "yes"]
    for s in ss:
        assert t[s.start : s.end] == s.text


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_sentence_and_clause_offsets_property(t):
    for s in tx.sentences(t, max_len=50):
        assert t[s.start : s.end] == s.text
        assert s.text.strip() == s.text
        for c in tx.clauses(t, s):
            assert t[c.start : c.end] == c.text
            assert s.start <= c.start < c.end <= s.end


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_clean_with_map_points_into_original(t):
    clean, cmap = tx.clean_with_map(t)
    assert len(clean) == len(cmap)
    assert all(0 <= i < len(t) for i in cmap)
    assert cmap == sorted(cmap)


def test_clean_drops_fillers_and_restarts_and_repairs_terms():
    t = "um so it's the, uh, cross and tropy at every position, like, you, you average"
    hit = tx.find_term(t, "cross-entropy")
    assert hit is not None and not hit.exact and t[hit.start : hit.end] == "cross and tropy"
    clean, cmap = tx.clean_with_map(t, [(hit.start, hit.end, "cross-entropy")])
    assert clean == "so it's the, cross-entropy at every position you average"
    assert t[cmap[0] : cmap[-1] + 1].startswith("so it's")


def test_fuzzy_terms_match_near_misses_only():
    assert tx.find_term("we apply a causal mass to the scores", "causal mask") is not None
    assert tx.find_term("maximum likely hood estimation", "maximum likelihood") is not None
    assert tx.find_term("the cross entropy loss", "cross-entropy").exact
    assert tx.find_term("CE loss", "CE").exact
    assert tx.find_term("the cross validation score", "cross-entropy") is None
    assert tx.find_term("a nice model", "CE") is None  # acronyms only match as written
    assert tx.find_term("softmax over logits", "attention") is None


def test_stem_negation_and_rejection_cues():
    assert tx.stem("connected") == tx.stem("connects") == "connect"
    assert tx.negation_count("it is not connected") == 1
    assert tx.negation_count("it isn't") == 1
    assert tx.rejects("It's a myth that RoPE extrapolates freely")
    assert not tx.rejects("RoPE extrapolates freely")


# --------------------------------------------------------------------------- metrics


def test_auc_and_accuracy_known_values():
    assert M.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert M.roc_auc([1, 1, 1], [0, 1, 1]) == 0.5  # all tied
    assert math.isnan(M.roc_auc([1, 2], [1, 1]))
    acc, thr = M.best_threshold_accuracy([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert acc == 0.75 and thr in (0.35, 0.8)


def test_correlations_rmse_and_kappa():
    assert M.pearson([1, 2, 3], [2, 4, 6]) == 1.0
    assert M.spearman([1, 2, 3, 4], [1, 4, 9, 16]) == 1.0
    assert abs(M.spearman([1, 2, 3, 4], [4, 3, 2, 1]) + 1.0) < 1e-12
    assert M.rmse([1, 2], [1, 4]) == math.sqrt(2)
    assert M.quadratic_weighted_kappa([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
    assert M.quadratic_weighted_kappa([0, 0, 3, 3], [3, 3, 0, 0]) < 0
    assert math.isnan(M.pearson([1, 1, 1], [1, 2, 3]))


@given(st.lists(st.tuples(st.floats(-5, 5, allow_nan=False), st.booleans()), min_size=2, max_size=60))
@settings(max_examples=150, deadline=None)
def test_auc_matches_pair_counting(pairs):
    s = [p[0] for p in pairs]
    y = [p[1] for p in pairs]
    pos = [a for a, b in pairs if b]
    neg = [a for a, b in pairs if not b]
    got = M.roc_auc(s, y)
    if not pos or not neg:
        assert math.isnan(got)
        return
    want = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert abs(got - want) < 1e-9
    acc, _ = M.best_threshold_accuracy(s, y)
    assert max(len(pos), len(neg)) / len(y) <= acc + 1e-12 <= 1 + 1e-12


def test_rankdata_ties():
    assert list(M.rankdata([3, 1, 3, 2])) == [3.5, 1.0, 3.5, 2.0]
    assert np.allclose(M.rankdata([]), [])
