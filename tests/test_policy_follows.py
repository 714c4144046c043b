"""A policy that follows the candidate: no deeper question after a thin answer, no follow-up on what was
already said, a step back after two thin answers in a row, reasons in the candidate's words, and probes and
hints that never give the concept away."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.answer import Answer
from agent.bank import leaked_terms, load_bank
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit
from agent.policy import (
    CONTRAST,
    CORRECTIVE,
    DEEPER,
    DEEPER_FROM,
    PREREQUISITE,
    PROBE,
    Policy,
    PolicyState,
    concept_hints,
    probe_question,
)

BANK_DIR = Path(__file__).parent / "data" / "interview_bank"


@pytest.fixture(scope="module")
def small():
    return load_bank([BANK_DIR], packaged=False)


def grade_for(bank, qid: str, score: float, verdicts: dict[str, str] | None = None, evidence: str | None = None,
              flags=()) -> Grade:
    rubric = bank.rubrics[qid]
    verdicts = verdicts or {}
    vs = []
    for c in rubric.concepts:
        v = verdicts.get(c.id, "covered" if score >= 4 else "missing")
        ev = Evidence(start=0, end=len(evidence), text=evidence) if evidence and v == "covered" else None
        vs.append(ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict=v, similarity=0.5,
                                 evidence=ev))
    return Grade(question_id=qid, score=score, display=round(score * 2) / 2, verdicts=vs, flags=list(flags),
                 grader_version="t", model="t")


def play(bank, qid: str, history: list[tuple[float, dict[str, str]]], *, said: list[str] = (),
         evidence: str | None = None, flags=()):
    """Answer ``qid`` once per entry of ``history`` (scores and verdicts, the last one is this answer),
    noting each in the state, then rank what comes next."""
    pol = Policy(bank, seed=0)
    state = PolicyState(asked=[qid], roots=[qid])
    q = bank.questions[qid]
    for k, (score, verdicts) in enumerate(history):
        last = k == len(history) - 1
        g = grade_for(bank, qid, score, verdicts, evidence if last else None, flags if last else ())
        pol.note(state, q, g, said[k] if k < len(said) else "an answer")
    return pol.rank(q, g, state, n=10), state


SOME = {"normalises-to-distribution": "covered", "preserves-order": "partial", "max-subtraction": "missing"}
ALL = {"normalises-to-distribution": "covered", "preserves-order": "covered", "max-subtraction": "covered"}

# grades (earlier first, the answer just given last) -> the kind of the policy's first pick
TABLE = [
    ("strong answer goes deeper", [(4.8, ALL)], DEEPER),
    ("thin answer probes the gap", [(2.5, SOME)], PROBE),
    ("a good answer after a thin one still goes on", [(1.0, {}), (4.6, ALL)], DEEPER),
    ("one thin answer after a good one probes", [(3.4, {"preserves-order": "covered"}), (2.2, SOME)], PROBE),
    ("two thin answers in a row step back", [(2.0, SOME), (2.5, SOME)], PREREQUISITE),
    ("three thin answers step back", [(0.5, {}), (2.0, {}), (1.0, SOME)], PREREQUISITE),
    ("a very weak answer steps back at once", [(0.4, {})], PREREQUISITE),
]


@pytest.mark.parametrize(("history", "first"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_grade_sequences(small, history, first) -> None:
    ch, _ = play(small, "softmax", history)
    assert ch[0].kind == first, [(c.kind, c.reason) for c in ch]
    if history[-1][0] < DEEPER_FROM:
        assert not [c for c in ch if c.kind in (DEEPER, CONTRAST)]
    if first == PREREQUISITE and len(history) > 1:
        assert ch[0].reason.startswith("two answers in a row were thin")


def test_two_thin_answers_without_a_prerequisite_link_step_back_to_an_easier_question(small) -> None:
    # cross-entropy (medium, section A) has no prerequisite link; softmax is the easy one of its section
    ch, _ = play(small, "cross-entropy", [(2.0, {}), (1.8, {"negative-log-prob": "partial"})])
    assert ch[0].kind == PREREQUISITE and ch[0].question_id == "softmax"
    assert "easier question" in ch[0].reason


def test_no_follow_up_on_a_concept_the_topic_already_covered(small) -> None:
    pol = Policy(small, seed=0)
    q = small.questions["softmax"]
    state = PolicyState(asked=["softmax"], roots=["softmax"])
    # the first answer gave the max trick; a later one (a retry) leaves it out
    pol.note(state, q, grade_for(small, "softmax", 3.5, {"max-subtraction": "covered"}), "subtract the max")
    g = grade_for(small, "softmax", 3.2, {"normalises-to-distribution": "covered"})
    pol.note(state, q, g, "it normalises")
    ch = pol.rank(q, g, state, n=10)
    assert all(c.concept != "max-subtraction" for c in ch if c.is_follow_up)
    assert "softmax-fu2" not in [c.question_id for c in ch]


def test_no_bank_follow_up_whose_concepts_the_answer_already_named(small) -> None:
    said = ["Softmax gives a probability distribution; cross-entropy is then the negative log probability of "
            "the correct class, and minimising it is maximum likelihood."]
    ch, _ = play(small, "softmax", [(4.8, ALL)], said=said)
    assert "cross-entropy" not in [c.question_id for c in ch if c.is_follow_up]
    ch, _ = play(small, "softmax", [(4.8, ALL)], said=["it normalises the logits"])
    assert "cross-entropy" in [c.question_id for c in ch if c.is_follow_up]


def test_reason_uses_the_candidates_words(small) -> None:
    ch, _ = play(small, "softmax", [(3.2, SOME)], evidence="you exponentiate and divide by the sum.")
    assert ch[0].reason == ('you said "you exponentiate and divide by the sum"; '
                            "one part of the question is still open")
    ch, _ = play(small, "softmax", [(4.8, ALL)],
                 evidence="the outputs are positive and sum to one, a proper distribution over the whole vocabulary")
    assert ch[0].reason == ('strong answer (5/5): you said "the outputs are positive and sum to one, a proper ..."; '
                            "going deeper")


def test_a_misconception_is_corrected_even_when_its_concept_was_covered(small) -> None:
    pol = Policy(small, seed=0)
    q = small.questions["cross-entropy"]
    state = PolicyState(asked=["cross-entropy"], roots=["cross-entropy"])
    g = grade_for(small, "cross-entropy", 3.5, {"negative-log-prob": "covered", "maximum-likelihood": "covered"})
    g = g.model_copy(update={"misconceptions": [MisconceptionHit(
        misconception_id="ce-is-mse", claim="It is the squared difference.", correction="No.", similarity=0.9)]})
    pol.note(state, q, g, "negative log probability, squared difference")
    assert pol.rank(q, g, state)[0].kind == CORRECTIVE


def test_rubric_probe_and_hints_are_used(small) -> None:
    from agent.interview import Interview, SessionConfig

    rubric = small.rubrics["softmax"]
    c = rubric.concept("max-subtraction").model_copy(update={
        "probe": "What could go wrong numerically with very large logits, and how is it avoided?",
        "hints": ["Think about what exp does to a large number.", "Shifting every logit by the same amount "
                  "changes nothing in the output."]})
    bank = load_bank([BANK_DIR], packaged=False)
    bank.rubrics["softmax"] = rubric.model_copy(update={"concepts": [
        c if x.id == c.id else x for x in rubric.concepts]})
    q, _ = probe_question(bank.questions["softmax"], bank.rubrics["softmax"], "max-subtraction")
    assert q.prompt == c.probe
    iv = Interview(bank, SessionConfig(n_questions=1, seed=0), None, scorer=object())
    iv.current = bank.questions["softmax"]
    iv.started_at = iv.clock()
    iv._last_grade = grade_for(bank, "softmax", 3.0, {"normalises-to-distribution": "covered",
                                                      "preserves-order": "covered"})
    assert iv.hint() == "Hint 1/2: Think about what exp does to a large number."
    assert iv.hint().startswith("Hint 2/2: Shifting every logit")
    assert iv.hint().startswith("No more hints")


# --------------------------------------------------------------------------- 200 random sessions


class Scripted:
    """A scorer that plays a script of grades (score, verdict per concept, a misconception or not)."""

    name, version = "scripted", "1"

    def __init__(self, script):
        self.script, self.i = script, 0

    def score(self, q, r, a):
        score, vs, mis = self.script[self.i % len(self.script)]
        self.i += 1
        verdicts = [ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict=vs[k % len(vs)],
                                   similarity=0.5) for k, c in enumerate(r.concepts)]
        hits = [MisconceptionHit(misconception_id=m.id, claim=m.claim, correction=m.correction, similarity=0.9)
                for m in r.misconceptions[:1]] if mis else []
        return Grade(question_id=q.id, score=score, display=round(score * 2) / 2, verdicts=verdicts,
                     misconceptions=hits, grader_version="t", model="t")


ANSWERS = ["I am not sure.", "It turns the logits into probabilities that sum to one.",
           "Cross-entropy is the negative log probability of the correct class; minimising it is maximum likelihood.",
           "Subtract the max for stability; the order is kept.", "Perplexity is the exponential of the loss."]


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["mock", "practice"]), depth=st.integers(1, 3),
       script=st.lists(st.tuples(st.floats(0, 5), st.lists(st.sampled_from(["covered", "partial", "missing"]),
                                                           min_size=1, max_size=3), st.booleans()),
                       min_size=12, max_size=12),
       words=st.lists(st.sampled_from(ANSWERS), min_size=12, max_size=12))
def test_random_grade_sequences_never_go_deeper_after_a_thin_answer_nor_repeat_what_was_covered(
        small, seed, mode, depth, script, words) -> None:
    from agent.interview import Interview, SessionConfig

    iv = Interview(small, SessionConfig(mode=mode, n_questions=3, seed=seed, max_depth=depth), None,
                   Scripted(script))
    q = iv.start()
    steps = 0
    covered: set[str] = set()  # "<question>:<concept>" graded covered in the current topic, kept by the test
    said: list[str] = []
    while q is not None:
        steps += 1
        assert steps <= 60
        if not iv.current_choice.is_follow_up:
            covered, said = set(), []
        source = iv.parent_of(q) or q.id
        answer = words[steps % len(words)]
        t = iv.answer(Answer.typed(answer))
        covered |= {f"{source}:{c}" for c in t.grade.covered}
        said.append(answer)
        for c in iv.next_choices(6):
            if not c.is_follow_up:
                continue
            if t.grade.score < DEEPER_FROM:
                assert c.kind not in (DEEPER, CONTRAST), (t.grade.score, c.kind, c.reason)
            if c.kind == CORRECTIVE:
                continue  # it asks about the misconception the answer stated, whatever it covered
            if c.question_id not in small.questions:  # a derived question asks for one concept of its parent
                assert f"{source}:{c.concept}" not in covered, (c.question_id, covered)
            else:  # a bank question: most of its key concepts not already named
                keys = small.questions[c.question_id].key_concepts
                r = small.rubrics[c.question_id]
                named = [k for k in keys if leaked_terms(r.concept(k), "\n".join(said))]
                assert len(named) * 2 <= len(keys), (c.question_id, named)
        q = iv.advance()
    assert iv.finished


GENERIC = ["I don't know.", "The model predicts the next token with a softmax over the vocabulary.",
           "It uses a mask so that it cannot see the future tokens.", "The loss is cross-entropy, averaged.",
           "Attention lets every token look at the others; scaling adds data and compute."]


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 3),
       script=st.lists(st.tuples(st.floats(0, 5), st.lists(st.sampled_from(["covered", "partial", "missing"]),
                                                           min_size=1, max_size=4), st.booleans()),
                       min_size=10, max_size=10),
       words=st.lists(st.sampled_from(GENERIC), min_size=10, max_size=10))
def test_random_sessions_on_the_packaged_bank(bank, seed, depth, script, words) -> None:
    """The same two rules on the bank as shipped, whose probes and hints come from the rubrics."""
    from agent.interview import Interview, SessionConfig

    iv = Interview(bank, SessionConfig(mode="mock", n_questions=3, seed=seed, max_depth=depth), None,
                   Scripted(script))
    q = iv.start()
    covered: set[str] = set()
    steps = 0
    while q is not None:
        steps += 1
        assert steps <= 40
        if not iv.current_choice.is_follow_up:
            covered = set()
        source = iv.parent_of(q) or q.id
        t = iv.answer(Answer.typed(words[steps % len(words)]))
        covered |= {f"{source}:{c}" for c in t.grade.covered}
        for c in iv.next_choices(6):
            if not c.is_follow_up:
                continue
            if t.grade.score < DEEPER_FROM:
                assert c.kind not in (DEEPER, CONTRAST), (t.grade.score, c.kind, c.reason)
            if c.question_id not in bank.questions and c.kind != CORRECTIVE:
                assert f"{source}:{c.concept}" not in covered
                concept = iv.rubric_for(source).concept(c.concept)
                if c.kind == PROBE:
                    assert leaked_terms(concept, c.prompt) == []
        q = iv.advance()


# --------------------------------------------------------------------------- probes and hints give nothing away


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_offered_probe_or_hint_contains_its_concepts_terms(bank, small, data) -> None:
    which = data.draw(st.sampled_from([bank, small]))
    qid = data.draw(st.sampled_from(sorted(which.questions)))
    q, rubric = which.questions[qid], which.rubrics[qid]
    verdicts = {c.id: data.draw(st.sampled_from(["covered", "partial", "missing"])) for c in rubric.concepts}
    score = data.draw(st.floats(0, 5))
    pol = Policy(which, seed=data.draw(st.integers(0, 99)))
    state = PolicyState(asked=[qid], roots=[qid])
    g = grade_for(which, qid, score, verdicts)
    pol.note(state, q, g, "an answer")
    gaps = {v.concept_id for v in g.verdicts if v.verdict != "covered"}
    for c in pol.rank(q, g, state, n=10):
        if c.kind == PROBE and c.question is not None and c.concept in gaps:
            concept = rubric.concept(c.concept)
            assert leaked_terms(concept, c.prompt or c.question.prompt) == [], (qid, c.concept, c.prompt)
            assert concept.name.lower() not in c.reason.lower()
    for concept in rubric.concepts:
        for h in concept_hints(concept):
            assert leaked_terms(concept, h) == [], (qid, concept.id, h)
        assert h[:1].isupper() and h.rstrip()[-1] in ".?!"


def test_a_linked_question_that_names_the_missing_idea_is_not_used_as_its_probe(bank) -> None:
    # z-loss links the log-sum-exp question as the prerequisite of a concept whose term is "log-sum-exp"
    q, rubric = bank.questions["z-loss"], bank.rubrics["z-loss"]
    pol = Policy(bank, seed=0)
    state = PolicyState(asked=["z-loss"], roots=["z-loss"])
    g = grade_for(bank, "z-loss", 3.2, {c: "covered" for c in q.key_concepts} | {"penalty-log-z-squared": "missing"})
    pol.note(state, q, g, "an answer")
    probe = next(c for c in pol.rank(q, g, state, n=10) if c.kind == PROBE and c.concept == "penalty-log-z-squared")
    assert probe.question_id == "z-loss-probe-penalty-log-z-squared"
    assert probe.prompt == rubric.concept("penalty-log-z-squared").probe


def test_hint_fallbacks_name_nothing_and_differ(small) -> None:
    r = small.rubrics["softmax"]
    a, b = r.concepts[0], r.concepts[1]
    assert concept_hints(a, 0) != concept_hints(b, 1)
    for k, c in enumerate(r.concepts):
        (h,) = concept_hints(c, k)
        assert leaked_terms(c, h) == [] and h[0].isupper() and h.endswith(".")
    with_probe = a.model_copy(update={"probe": "What do the outputs add up to?"})
    assert concept_hints(with_probe) == ["Ask yourself: What do the outputs add up to?"]
