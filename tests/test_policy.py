"""The follow-up policy, on a small bank of its own and grades built by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.answer import Answer
from agent.bank import load_bank
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit
from agent.policy import (
    CORRECTIVE,
    DEEPER,
    END,
    NEW_TOPIC,
    PREREQUISITE,
    PROBE,
    Policy,
    PolicyState,
    corrective_question,
    derive,
    probe_question,
    related_concept,
)

BANK_DIR = Path(__file__).parent / "data" / "interview_bank"


@pytest.fixture(scope="module")
def bank():
    return load_bank([BANK_DIR], packaged=False)


def make_grade(bank, qid: str, verdicts: dict[str, str], score: float, mis: list[str] = (), flags=(),
               corrected: bool = False) -> Grade:
    rubric = bank.rubrics[qid] if qid in bank.rubrics else None
    concepts = rubric.concepts if rubric else []
    vs = [ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict=verdicts.get(c.id, "missing"),
                         similarity=0.5) for c in concepts]
    hits = []
    for mid in mis:
        m = next(m for m in rubric.misconceptions if m.id == mid)
        hits.append(MisconceptionHit(misconception_id=m.id, claim=m.claim, correction=m.correction, similarity=0.8,
                                     evidence=Evidence(start=0, end=9, text="I think s"), corrected=corrected))
    return Grade(question_id=qid, score=score, display=round(score * 2) / 2, verdicts=vs, misconceptions=hits,
                 flags=list(flags), grader_version="test", model="hand-built")


def state_after(*asked: str) -> PolicyState:
    return PolicyState(asked=list(asked), roots=[asked[0]] if asked else [], depth=0)


def test_missing_key_concept_is_probed_with_reason(bank) -> None:
    pol = Policy(bank, seed=0)
    g = make_grade(bank, "softmax", {"normalises-to-distribution": "covered", "preserves-order": "covered"}, 3.2)
    choices = pol.rank(bank.questions["softmax"], g, state_after("softmax"))
    first = choices[0]
    assert first.kind == PROBE
    assert first.concept == "max-subtraction"
    # the question's own inline follow-up probes that concept, so it is used (not a synthesised probe)
    assert first.question_id == "softmax-fu2"
    assert first.prompt == "Why do we subtract the largest logit before exponentiating?"
    # the reason says what the candidate gave, never the missing idea
    assert first.reason == 'you covered "turns logits into a probability distribution"; one part of the question is still open'
    assert "max" not in first.reason
    assert choices[-1].kind == NEW_TOPIC  # moving on is always offered


def test_missing_concept_without_a_follow_up_gets_an_inline_probe(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "cross-entropy", {"negative-log-prob": "covered", "maximum-likelihood": "missing"}, 2.8)
    first = pol.rank(bank.questions["cross-entropy"], g, state_after("cross-entropy"))[0]
    assert first.kind == PROBE and first.question_id == "cross-entropy-probe-maximum-likelihood"
    # no probe in this rubric: a neutral wording that names nothing of the concept
    from agent.bank import leaked_terms

    assert first.prompt.startswith("Your answer left one part of the question open.")
    assert leaked_terms(bank.rubrics["cross-entropy"].concept("maximum-likelihood"), first.prompt) == []
    assert first.question.key_concepts == ["maximum-likelihood"]


def test_partial_concept_comes_after_missing(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "softmax", {"normalises-to-distribution": "partial", "preserves-order": "missing",
                                     "max-subtraction": "covered"}, 2.5)
    ch = pol.rank(bank.questions["softmax"], g, state_after("softmax"), n=3)
    assert [c.concept for c in ch[:2]] == ["preserves-order", "normalises-to-distribution"]
    assert ch[0].reason.endswith("one part of the question is still open")
    assert ch[1].reason.endswith("let's see if you can finish that thought")
    assert "order" not in ch[0].reason and "distribution" not in ch[1].reason


def test_misconception_gets_a_corrective_follow_up_first(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "cross-entropy", {"negative-log-prob": "missing", "maximum-likelihood": "missing"}, 1.8,
                   mis=["ce-is-mse"])
    first = pol.rank(bank.questions["cross-entropy"], g, state_after("cross-entropy"))[0]
    assert first.kind == CORRECTIVE
    assert first.question_id == "cross-entropy-fix-ce-is-mse"
    assert "squared difference" in first.reason and "misconception" in first.reason
    assert '"I think s"' in first.reason  # the evidence quoted back
    assert first.concept == "negative-log-prob"  # the concept the correction is about


def test_corrected_misconception_is_not_chased(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "cross-entropy", {"negative-log-prob": "covered", "maximum-likelihood": "covered"}, 4.6,
                   mis=["ce-is-mse"], corrected=True)
    assert all(c.kind != CORRECTIVE for c in pol.rank(bank.questions["cross-entropy"], g, state_after("cross-entropy")))


def test_strong_answer_goes_deeper(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "softmax", {c: "covered" for c in bank.questions["softmax"].key_concepts}, 4.8)
    ch = pol.rank(bank.questions["softmax"], g, state_after("softmax"))
    assert ch[0].kind == DEEPER and ch[0].question_id in ("cross-entropy", "softmax-fu2")
    assert ch[0].reason.startswith("strong answer (5/5): you covered") and ch[0].reason.endswith("going deeper")


def test_weak_answer_steps_back_to_a_prerequisite(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "softmax", {}, 0.4, flags=["dont_know"])
    first = pol.rank(bank.questions["softmax"], g, state_after("softmax"))[0]
    assert first.kind == PREREQUISITE and first.question_id == "logits"
    assert "stepping back" in first.reason


def test_never_repeats_a_question(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "softmax", {"normalises-to-distribution": "covered", "preserves-order": "covered"}, 3.2)
    st = state_after("softmax", "softmax-fu2")
    ch = pol.rank(bank.questions["softmax"], g, st, n=10)
    ids = [c.question_id for c in ch]
    assert "softmax-fu2" not in ids and "softmax" not in ids
    assert len(ids) == len(set(ids))


def test_depth_is_bounded_then_new_topic(bank) -> None:
    pol = Policy(bank, max_depth=2)
    g = make_grade(bank, "cross-entropy", {}, 1.0)
    st = PolicyState(asked=["softmax", "cross-entropy"], roots=["softmax"], depth=2)
    first = pol.rank(bank.questions["cross-entropy"], g, st)[0]
    assert first.kind == NEW_TOPIC
    assert "2 follow-ups on softmax and logits (the limit)" in first.reason
    assert first.question_id not in st.asked


def test_session_ends_after_n_topics(bank) -> None:
    pol = Policy(bank, n_questions=1, max_depth=0)
    g = make_grade(bank, "logits", {}, 1.0)
    ch = pol.rank(bank.questions["logits"], g, state_after("logits"))
    assert ch[0].kind == END and "last of 1 topics" in ch[0].reason


def test_time_up_ends(bank) -> None:
    pol = Policy(bank)
    g = make_grade(bank, "softmax", {}, 1.0)
    (only,) = pol.rank(bank.questions["softmax"], g, state_after("softmax"), time_up=True)
    assert only.kind == END and only.reason == "time is up"


def test_new_topics_are_seeded_deterministic_and_varied(bank) -> None:
    orders = {}
    for seed in range(6):
        pol = Policy(bank, seed=seed)
        a = [c.question_id for c in pol.open_topics(PolicyState(), 5)]
        b = [c.question_id for c in Policy(bank, seed=seed).open_topics(PolicyState(), 5)]
        assert a == b  # same seed, same order
        orders[seed] = a
    assert len({tuple(o) for o in orders.values()}) > 1  # seeds differ
    # the first topic prefers an easy question; the next prefers an unseen topic
    for seed, order in orders.items():
        assert bank.questions[order[0]].difficulty == "easy", seed
    st = PolicyState(asked=["softmax"], roots=["softmax"])
    nxt = Policy(bank, seed=3).open_topics(st, 5)
    assert bank.questions[nxt[0].question_id].topic != "softmax and logits"
    assert all(c.reason for c in nxt)


def test_skipped_answer_moves_to_a_new_topic(bank) -> None:
    pol = Policy(bank)
    first = pol.rank(bank.questions["softmax"], None, state_after("softmax"))[0]
    assert first.kind == NEW_TOPIC and first.reason.startswith("skipped; ")


def test_derived_questions_rebuild_from_their_id(bank) -> None:
    sm, rub = bank.questions["softmax"], bank.rubrics["softmax"]
    for q, r in [probe_question(sm, rub, "preserves-order"), corrective_question(sm, rub, "softmax-independent")]:
        q2, r2, parent = derive(bank, q.id)
        assert parent == "softmax" and q2 == q and r2 == r
    q, r, parent = derive(bank, "softmax-fu2")
    assert q.prompt.startswith("Why do we subtract") and [c.id for c in r.concepts] == ["max-subtraction"]
    assert derive(bank, "softmax-fu9") is None and derive(bank, "softmax-probe-nope") is None
    assert derive(bank, "nothing-here") is None
    # a corrective rubric grades against the correction and still flags the misconception
    q, r = corrective_question(sm, rub, "softmax-independent")
    assert r.concepts[0].exemplars[0].startswith("Every softmax output depends on all the logits")
    assert [m.id for m in r.misconceptions] == ["softmax-independent"]


def test_related_concept_by_word_overlap(bank) -> None:
    rub = bank.rubrics["softmax"]
    assert related_concept(rub, "the largest logit overflow stability").id == "max-subtraction"
    assert related_concept(rub, "outputs depend on all logits through the normalising sum").id == \
        "normalises-to-distribution"


def test_drill_queue_order_and_reasons(bank) -> None:
    pol = Policy(bank, mode="drill", queue=["perplexity", "logits"], due_reasons={"perplexity": "due since x"})
    assert pol.max_depth == 0
    ch = pol.open_topics(PolicyState(), 3)
    assert [c.question_id for c in ch] == ["perplexity", "logits"]
    assert ch[0].reason == "due since x" and ch[1].reason == "next in the review queue"


# --------------------------------------------------------------------------- session-level properties


VERDICTS = ["covered", "partial", "missing"]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), depth=st.integers(0, 3),
       mode=st.sampled_from(["mock", "practice"]),
       script=st.lists(st.tuples(st.floats(0, 5), st.lists(st.sampled_from(VERDICTS), min_size=3, max_size=3),
                                 st.booleans(), st.booleans()), min_size=30, max_size=30))
def test_any_grades_give_a_bounded_session_without_repeats(bank, seed, n, depth, mode, script) -> None:
    """Whatever the grades, the policy never repeats a question, keeps to the depth limit, opens at most
    n topics, ends, and does the same thing again for the same seed."""
    from agent.grading.base import Scorer
    from agent.interview import Interview, SessionConfig

    class Scripted(Scorer):
        name, version = "scripted", "1"

        def __init__(self):
            self.i = 0

        def score(self, q, r, a):
            score, vs, mis, skip = script[self.i % len(script)]
            self.i += 1
            verdicts = [ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict=vs[k % 3],
                                       similarity=0.5) for k, c in enumerate(r.concepts)]
            hits = [MisconceptionHit(misconception_id=m.id, claim=m.claim, correction=m.correction, similarity=0.9)
                    for m in r.misconceptions[:1]] if mis else []
            return Grade(question_id=q.id, score=score, display=round(score * 2) / 2, verdicts=verdicts,
                         misconceptions=hits, grader_version="t", model="t")

    def play() -> list[tuple[str, str]]:
        iv = Interview(bank, SessionConfig(mode=mode, n_questions=n, seed=seed, max_depth=depth), None, Scripted())
        q = iv.start()
        seen = []
        steps = 0
        while q is not None:
            steps += 1
            assert steps <= 100, "the session does not end"
            seen.append((q.id, iv.current_choice.kind))
            assert iv.state.depth <= depth
            if script[steps % len(script)][3]:
                q = iv.skip()
                continue
            iv.answer(Answer.typed("an answer"))
            for c in iv.next_choices(3):
                assert c.reason
                assert c.ends or c.question_id not in iv.state.asked
            q = iv.advance()
        assert iv.finished
        assert len(iv.state.roots) <= n
        if mode == "practice":
            assert len({iv.question(qid).section for qid, _ in seen}) == 1
        return seen

    first = play()
    ids = [q for q, _ in first]
    assert len(ids) == len(set(ids))
    assert first == play()
