"""Negated terms, conflicting numbers and misconceptions stated in a later sentence: the text helpers on
their own, then the embedding grader with the real bundled model on bank rubrics."""

from __future__ import annotations

import pytest

from agent.grading import get_scorer
from agent.grading import text as tx


def _at(text: str, word: str) -> int:
    i = text.find(word)
    assert i >= 0
    return i


@pytest.mark.parametrize(("text", "word", "negated"), [
    ("there's no need to shift anything", "shift", True),
    ("you don't need to shift the labels", "shift", True),
    ("it works without shifting the targets", "shifting", True),
    ("we never shift by more than one", "shift", True),
    ("you shift the labels by one", "shift", False),
    ("not just the shift, also the flatten", "shift", False),  # a limiting "not just" still asserts it
    ("no, we shift the labels", "shift", False),  # the negation ends at the comma
    ("it isn't slow but we shift the labels", "shift", False),  # ... and at "but"
])
def test_negated_before(text: str, word: str, negated: bool) -> None:
    assert tx.negated_before(text, _at(text, word)) is negated


@pytest.mark.parametrize(("text", "expected"), [
    ("BERT masks about fifty percent of the tokens", {("pct", 50.0)}),
    ("it masks 15 percent of the tokens", {("pct", 15.0)}),
    ("15% of positions", {("pct", 15.0)}),
    ("the default rate is 0.15", {("pct", 15.0)}),
    ("half the tokens are masked", {("pct", 50.0)}),
    ("twenty-five percent", {("pct", 25.0)}),
    ("about one token in seven", {("num", 7.0)}),  # "one" as a word is not a quantity
    ("one forward pass gives a loss per token", set()),
])
def test_quantities(text: str, expected: set) -> None:
    assert tx.quantities(text) == frozenset(expected)


def test_quantities_conflict_only_on_percentages() -> None:
    fifty, fifteen = tx.quantities("fifty percent"), tx.quantities("15%")
    assert tx.quantities_conflict(fifty, fifteen)
    assert not tx.quantities_conflict(fifteen, tx.quantities("fifteen percent of positions"))
    assert not tx.quantities_conflict(fifty, tx.quantities("the mask token"))  # nothing to disagree with
    assert not tx.quantities_conflict(tx.quantities("three denoisers"), tx.quantities("a 20B model"))
    assert not tx.quantities_conflict(tx.quantities("80%, 10% and 10%"), tx.quantities("80 percent become mask"))


def test_a_near_miss_never_changes_a_number() -> None:
    assert tx.TermIndex("BERT masks about fifty percent").find("fifteen percent") is None
    assert tx.find_term("BERT masks about fifty percent", "fifteen percent") is None
    assert tx.TermIndex("BERT masks fiftteen percent").find("fifteen percent") is not None  # a typo, no number
    assert tx.TermIndex("the cross and tropy loss").find("cross-entropy") is not None


# --------------------------------------------------------------------------- the grader, real model


@pytest.fixture(scope="module")
def scorer():
    return get_scorer("embedding")


def _grade(scorer, bank, qid: str, answer: str):
    return scorer.score(bank.question(qid), bank.rubric(qid), answer)


def _verdict(g, cid: str):
    return next(v for v in g.verdicts if v.concept_id == cid)


@pytest.mark.slow
def test_a_negated_term_earns_no_lexical_credit(scorer, bank) -> None:
    negated = _grade(scorer, bank, "clm-loss-code",
                     "Call cross entropy on the logits and the ids directly, you don't need to shift them.")
    stated = _grade(scorer, bank, "clm-loss-code",
                    "Call cross entropy on the logits and the ids, after you shift them by one.")
    assert _verdict(negated, "shift-by-one").lexical == 0.0
    assert _verdict(stated, "shift-by-one").lexical > 0.0
    assert _verdict(negated, "shift-by-one").score < _verdict(stated, "shift-by-one").score


@pytest.mark.slow
def test_a_conflicting_percentage_is_not_the_right_one(scorer, bank) -> None:
    wrong = _grade(scorer, bank, "qf-bert-mask-ratio", "Around 50% of the input tokens get masked.")
    right = _grade(scorer, bank, "qf-bert-mask-ratio", "Around 15% of the input tokens get masked.")
    assert _verdict(wrong, "fifteen-percent").verdict != "covered"
    assert _verdict(right, "fifteen-percent").verdict == "covered"
    assert "misconception" in wrong.flags and "misconception" not in right.flags
    assert wrong.score <= 1.0 < right.score


@pytest.mark.slow
def test_a_misconception_in_a_later_sentence_is_found(scorer, bank) -> None:
    # the first sentence is the closest to the claim but is closer still to a correct concept (cross-entropy
    # on the next token); the second sentence states the claim on its own
    answer = ("The loss is computed only at the final token, as the cross-entropy of the true next token. "
              "Everything before it is only context and adds nothing to the loss.")
    g = _grade(scorer, bank, "clm-loss", answer)
    hit = next(h for h in g.misconceptions if h.misconception_id == "loss-only-last-token")
    assert not hit.corrected
    assert hit.evidence is not None and hit.evidence.start > answer.index(".")  # found in the second sentence
    assert "misconception" in g.flags and g.score <= 2.0
    fine = _grade(scorer, bank, "clm-loss", "It is cross-entropy against the next token, at every position, "
                                            "averaged over all the positions.")
    assert "misconception" not in fine.flags
