"""The interview state machine: flow, modes, cold answers, resume, and one session graded by the real grader.

Most tests drive the flow with a scorer that replays grades chosen by the test, so each path of the state
machine is reached on purpose; ``test_real_grader_session`` runs the real embedding grader end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.answer import Answer
from agent.bank import load_bank
from agent.errors import UserError
from agent.grading.base import Scorer
from agent.interview import Interview, InterviewError, SessionConfig
from agent.models import ConceptVerdict, Grade, MisconceptionHit, Question, Rubric
from agent.store import Store

BANK_DIR = Path(__file__).parent / "data" / "interview_bank"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def bank():
    return load_bank([BANK_DIR], packaged=False)


class Replay(Scorer):
    """Grades each answer by a rule the test gives: ``rule(question, rubric, answer) -> (verdict map, score, mis)``."""

    name = "replay"
    version = "1"

    def __init__(self, rule: Callable[[Question, Rubric, str], tuple[dict[str, str], float, list[str]]]):
        self.rule = rule
        self.calls: list[str] = []

    def score(self, question: Question, rubric: Rubric, answer: str) -> Grade:
        self.calls.append(question.id)
        verdicts, score, mis = self.rule(question, rubric, answer)
        vs = [ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict=verdicts.get(c.id, "missing"),
                             similarity=0.5) for c in rubric.concepts]
        hits = [MisconceptionHit(misconception_id=m.id, claim=m.claim, correction=m.correction, similarity=0.8)
                for m in rubric.misconceptions if m.id in mis]
        return Grade(question_id=question.id, score=score, display=round(score * 2) / 2, verdicts=vs,
                     misconceptions=hits, grader_version="replay", model="replay")


def by_answer(question: Question, rubric: Rubric, answer: str):
    """'strong' covers everything; 'half' covers the first concept; anything else covers nothing."""
    if answer == "strong":
        return {c.id: "covered" for c in rubric.concepts}, 4.8, []
    if answer == "half":
        return {rubric.concepts[0].id: "covered"}, 3.0, []
    if answer == "wrong":
        return {}, 1.0, [m.id for m in rubric.misconceptions[:1]]
    return {}, 0.5, []


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **kw) -> None:
        self.now += timedelta(**kw)


def run(iv: Interview, answers: Callable[[int, Question], str], limit: int = 50) -> list[str]:
    """Answer until the end; returns the question ids asked."""
    asked = []
    q = iv.start() if iv.started_at is None else iv.current
    while q is not None and len(asked) < limit:
        asked.append(q.id)
        iv.answer(Answer.typed(answers(len(asked) - 1, q)))
        q = iv.advance()
    return asked


# --------------------------------------------------------------------------- flow


def test_mock_flow_follows_the_policy_and_ends(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(n_questions=2, seed=4), store, Replay(by_answer), clock=Clock())
    q = iv.start()
    assert iv.topic_number == 1 and iv.current is q and iv.cold
    t = iv.answer(Answer.typed("half"))
    assert (t.index, t.question_id, t.cold, t.attempt, t.parent_id) == (0, q.id, True, 1, None)
    choices = iv.next_choices(3)
    assert choices[0].kind == "probe" and choices[0].reason.endswith("one part of the question is still open")
    assert len({c.question_id for c in choices}) == len(choices)
    nxt = iv.advance()
    assert nxt.id == choices[0].question_id
    assert iv.current_choice.reason == choices[0].reason
    asked = [q.id] + run(iv, lambda i, q: "half")  # run() answers the current question first
    assert iv.finished and iv.current is None
    assert len(asked) == len(set(asked)), "a question was repeated"
    assert len(iv.state.roots) == 2
    info = store.session(iv.session_id)
    assert info.finished and info.n_turns == len(asked)
    assert [t.question_id for t in store.turns(iv.session_id)] == asked
    with pytest.raises(InterviewError, match="session is over"):
        iv.answer(Answer.typed("half"))


def test_same_seed_same_session(bank, tmp_path: Path) -> None:
    def once(seed: int) -> list[str]:
        with Store(tmp_path / f"s{seed}-{len(list(tmp_path.iterdir()))}.sqlite3") as s:
            return run(Interview(bank, SessionConfig(n_questions=3, seed=seed), s, Replay(by_answer)),
                       lambda i, q: ["half", "strong", "wrong", "nothing"][i % 4])

    assert once(1) == once(1)
    assert len({tuple(once(s)) for s in range(5)}) > 1


def test_each_turn_is_committed_when_recorded(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(n_questions=2), store, Replay(by_answer))
    iv.start()
    iv.answer(Answer.typed("half"))
    with Store(store.path) as other:  # a second connection (as another process would) sees it at once
        (t,) = other.turns(iv.session_id)
        assert t.answer == "half"
        assert other.load_state(iv.session_id)["current"] == iv.current.id


def test_one_attempt_in_mock_retries_in_practice(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(mode="mock"), store, Replay(by_answer))
    iv.start()
    iv.answer(Answer.typed("half"))
    with pytest.raises(InterviewError, match="practice mode allows retries"):
        iv.answer(Answer.typed("strong"))
    pr = Interview(bank, SessionConfig(mode="practice", section="A"), store, Replay(by_answer))
    q = pr.start()
    first = pr.answer(Answer.typed("half"))
    again = pr.answer(Answer.typed("strong"))
    assert (first.cold, first.attempt) == (True, 1)
    assert (again.cold, again.attempt, again.question_id) == (False, 2, q.id)
    srs_reviews = store._query("SELECT COUNT(*) FROM srs_log WHERE session_id = ?", (pr.session_id,))[0][0]
    assert srs_reviews == 1  # only the first attempt is a review


def test_hint_and_model_answer_make_an_answer_not_cold(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(n_questions=3, seed=2), store, Replay(by_answer))
    q = iv.start()
    h1 = iv.hint()
    h2 = iv.hint()
    assert h1.startswith("Hint 1/") and h2.startswith("Hint 2/") and h1 != h2
    heaviest = max(bank.rubrics[q.id].concepts, key=lambda c: c.weight)
    assert heaviest.name not in h1  # a hint never names the concept (this rubric has no hints: a neutral nudge)
    t = iv.answer(Answer.typed("half"))
    assert (t.cold, t.hinted, t.model_answer_shown) == (False, True, False)
    q2 = iv.advance()
    assert iv.cold  # flags reset for the next question
    assert iv.reveal_model_answer() == q2.model_answer
    t2 = iv.answer(Answer.typed("strong"))
    assert (t2.cold, t2.model_answer_shown) == (False, True)
    rows = store._query("SELECT rating FROM srs_log WHERE idx = 1 AND session_id = ?", (iv.session_id,))
    if q2.id in bank.questions:
        assert rows == [(1,)]  # a bank question answered after seeing the model answer is rated Again
    else:
        assert rows == []  # inline follow-ups are not scheduled


def test_skip_moves_to_a_new_topic_without_a_turn(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(n_questions=3, seed=1), store, Replay(by_answer))
    q = iv.start()
    nxt = iv.skip()
    assert nxt is not None and nxt.id != q.id and iv.current_choice.kind == "new-topic"
    assert iv.current_choice.reason.startswith("skipped; ")
    assert iv.turns == [] and iv.state.skipped == [q.id]
    assert len(iv.state.roots) == 2


def test_skip_followup_opens_a_new_topic_or_ends(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(n_questions=2, seed=5), store, Replay(by_answer))
    first = iv.start()
    iv.answer(Answer.typed("half"))
    assert iv.next_choices()[0].is_follow_up
    q = iv.skip_followup()
    assert iv.current_choice.kind == "new-topic" and q.id != first.id and iv.state.depth == 0
    iv.answer(Answer.typed("half"))
    assert iv.skip_followup() is None and iv.finished  # the second topic was the last


def test_choosing_an_alternative(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(n_questions=3, seed=5), store, Replay(by_answer))
    iv.start()
    iv.answer(Answer.typed("half"))
    choices = iv.next_choices(3)
    alt = choices[-1]
    assert iv.advance(alt).id == alt.question_id
    with pytest.raises(InterviewError, match="already asked"):
        iv.advance(alt)


def test_time_limit_ends_the_session(bank, store: Store) -> None:
    clock = Clock()
    iv = Interview(bank, SessionConfig(n_questions=5, time_limit_s=600), store, Replay(by_answer), clock=clock)
    iv.start()
    iv.answer(Answer.typed("half"))
    assert iv.next_choices()[0].kind != "end"
    clock.tick(minutes=11)
    assert iv.time_up
    (end,) = iv.next_choices()
    assert end.kind == "end" and end.reason == "time is up"
    assert iv.advance() is None and iv.finished


def test_derived_follow_ups_are_graded_against_their_own_rubric(bank, store: Store) -> None:
    scorer = Replay(by_answer)
    iv = Interview(bank, SessionConfig(n_questions=2, seed=0), store, scorer)
    iv.start()
    while iv.current.id != "softmax":  # walk to the softmax question
        iv.answer(Answer.typed("strong"))
        iv.advance()
    iv.answer(Answer.typed("half"))  # covers only the first concept
    pick = iv.next_choices()[0]
    assert pick.question_id == "softmax-fu2" or pick.question_id.startswith("softmax-probe-")
    q = iv.advance()
    rubric = iv.rubric_for(q)
    assert [c.id for c in rubric.concepts] == q.key_concepts and len(q.key_concepts) == 1
    t = iv.answer(Answer.typed("strong"))
    assert t.parent_id == "softmax" and t.question_id == q.id and t.prompt == q.prompt
    assert [v.concept_id for v in t.grade.verdicts] == q.key_concepts


def test_misconception_gets_a_corrective_turn(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(n_questions=1, seed=0, section="A"), store, Replay(by_answer))
    q = iv.start()
    iv.answer(Answer.typed("wrong"))
    pick = iv.next_choices()[0]
    assert pick.kind == "corrective" and pick.question_id == f"{q.id}-fix-{bank.rubrics[q.id].misconceptions[0].id}"
    fix = iv.advance()
    t = iv.answer(Answer.typed("strong"))
    assert t.choice["kind"] == "corrective" and "misconception" in t.choice["reason"]
    assert iv.rubric_for(fix).misconceptions[0].id == bank.rubrics[q.id].misconceptions[0].id


def test_practice_stays_on_one_section(bank, store: Store) -> None:
    for seed in range(4):
        iv = Interview(bank, SessionConfig(mode="practice", n_questions=3, seed=seed), store, Replay(by_answer))
        asked = run(iv, lambda i, q: "nothing")
        sections = {iv.question(q).section for q in asked}
        assert len(sections) == 1, (seed, asked)


def test_drill_takes_due_questions_first(bank, store: Store) -> None:
    clock = Clock()
    first = Interview(bank, SessionConfig(mode="drill", n_questions=5), store, Replay(by_answer), clock=clock)
    assert run(first, lambda i, q: "nothing" if q.id == "perplexity" else "strong")
    assert first.notice == "Nothing is due for review; drilling new questions instead."
    assert all(t.choice["kind"] == "review" for t in first.turns)
    clock.tick(days=2)  # the failed one is due again, the strong ones are not
    drill = Interview(bank, SessionConfig(mode="drill", n_questions=1), store, Replay(by_answer), clock=clock)
    q = drill.start()
    assert q.id == "perplexity"
    assert drill.current_choice.reason.startswith("due for review since") and "again" in drill.current_choice.reason
    drill.answer(Answer.typed("strong"))
    assert drill.advance() is None  # depth 0 in drill and n=1


def test_drill_with_nothing_left_to_review(bank, store: Store) -> None:
    clock = Clock()
    run(Interview(bank, SessionConfig(mode="drill", n_questions=10), store, Replay(by_answer), clock=clock),
        lambda i, q: "strong")
    assert len(store.scheduled()) == len(bank.questions)  # every question reviewed, none due yet
    with pytest.raises(InterviewError, match="come back later") as e:
        Interview(bank, SessionConfig(mode="drill"), store, Replay(by_answer), clock=clock).start()
    assert e.value.exit_code == 0


def test_bad_config_says_what_to_do(bank) -> None:
    with pytest.raises(UserError, match="no question matches section 'Z'"):
        Interview(bank, SessionConfig(section="Z"))
    with pytest.raises(UserError, match="unknown mode"):
        SessionConfig(mode="exam")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="at least 1"):
        SessionConfig(n_questions=0)


def test_keep_audio_setting(bank, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.config import reset_settings

    wav = tmp_path / "rec.wav"
    wav.write_bytes(b"RIFF....WAVEfmt ")
    iv = Interview(bank, SessionConfig(mode="practice", n_questions=1), store, Replay(by_answer))
    iv.start()
    assert iv.answer(Answer("half", source="voice", audio_path=str(wav))).audio_path is None  # default: nothing kept
    monkeypatch.setenv("VIVA_KEEP_AUDIO", "1")
    reset_settings()
    t = iv.answer(Answer("half", source="voice", audio_path=str(wav), transcript="half"))
    kept = Path(t.audio_path)
    assert kept.parent == store.audio_dir(iv.session_id) and kept.read_bytes() == wav.read_bytes()
    store.forget(iv.session_id)
    assert not kept.exists()


def test_proposed_follow_up_is_validated(bank, store: Store) -> None:
    proposals = iter([("Tell me how the max trick avoids overflow.", "max-subtraction"),
                      ("Something about nothing", "not-a-concept"), RuntimeError("endpoint down")])

    def proposer(q, r, answer, grade):
        p = next(proposals)
        if isinstance(p, Exception):
            raise p
        return p

    iv = Interview(bank, SessionConfig(n_questions=3, section="A", seed=0), store, Replay(by_answer),
                   proposer=proposer)
    iv.start()
    iv.current = bank.questions["softmax"]
    iv.state.asked = ["softmax"]
    iv.answer(Answer.typed("half"))
    ch = iv.next_choices(3)
    assert ch[1].prompt == "Tell me how the max trick avoids overflow." and ch[1].concept == "max-subtraction"
    assert "written for your answer" in ch[1].reason
    assert all(c.concept != "not-a-concept" for c in iv.next_choices(3))  # invalid concept: rejected
    assert len(iv.next_choices(3)) == 3  # a failing proposer never blocks
    nxt = iv.advance(ch[1])
    assert nxt.prompt == "Tell me how the max trick avoids overflow."
    assert [c.id for c in iv.rubric_for(nxt).concepts] == ["max-subtraction"]


# --------------------------------------------------------------------------- resume


def test_resume_continues_exactly_where_it_stopped(bank, tmp_path: Path) -> None:
    answers = ["half", "strong", "wrong", "nothing", "half", "strong", "half", "nothing"] * 3
    cfg = SessionConfig(n_questions=3, seed=7)
    with Store(tmp_path / "a.sqlite3") as s:
        whole = run(Interview(bank, cfg, s, Replay(by_answer)), lambda i, q: answers[i])
    with Store(tmp_path / "b.sqlite3") as s:
        iv = Interview(bank, cfg, s, Replay(by_answer))
        iv.start()
        for i in range(3):
            iv.answer(Answer.typed(answers[i]))
            iv.advance()
        iv.hint()
        sid = iv.session_id
        del iv  # the process "dies" here
    with Store(tmp_path / "b.sqlite3") as s:
        back = Interview.resume(bank, s, sid, Replay(by_answer))
        assert len(back.turns) == 3 and back.current.id == whole[3]
        assert not back.cold  # the hint taken before the crash still counts
        rest = run(back, lambda i, q: answers[3 + i])
        assert whole == [t.question_id for t in back.turns[:3]] + rest
        assert back.finished and s.session(sid).finished
        with pytest.raises(InterviewError, match="finished"):
            Interview.resume(bank, s, sid)


def test_resume_after_a_recorded_answer_keeps_the_grade(bank, store: Store) -> None:
    iv = Interview(bank, SessionConfig(mode="practice", n_questions=2, section="A"), store, Replay(by_answer))
    q = iv.start()
    iv.answer(Answer.typed("half"))
    back = Interview.resume(bank, store, iv.session_id, Replay(by_answer))
    assert back.current.id == q.id and back._attempts == 1 and not back.cold
    assert back.next_choices()[0].question_id == iv.next_choices()[0].question_id


# --------------------------------------------------------------------------- the real grader


@pytest.mark.slow
def test_real_grader_session(bank, store: Store) -> None:
    """The default grader (stacked) drives the policy: a misconception is corrected, a strong answer goes deeper."""
    iv = Interview(bank, SessionConfig(n_questions=2, section="A", seed=0), store)
    iv.start()
    iv.current = bank.questions["softmax"]
    iv.state.roots, iv.state.asked = ["softmax"], ["softmax"]
    t = iv.answer(Answer.typed("Softmax applies a sigmoid to each logit separately, so each output only depends on its own logit."))
    assert t.grade.grader == "stacked"
    assert [m.misconception_id for m in t.grade.misconceptions if not m.corrected] == ["softmax-independent"]
    pick = iv.next_choices()[0]
    assert pick.kind == "corrective" and pick.question_id == "softmax-fix-softmax-independent"
    iv.advance(pick)
    fix = iv.answer(Answer.typed("No: every softmax output depends on all the logits, because they share the normalising sum "
                    "of exponentials in the denominator."))
    assert fix.grade.score > t.grade.score
    assert fix.parent_id == "softmax" and fix.choice["kind"] == "corrective"
    nxt = iv.advance()
    assert nxt is not None and nxt.id not in ("softmax", "softmax-fix-softmax-independent")
    strong = iv.answer(Answer.typed(
        "Cross-entropy is the negative log of the probability the model assigns to the correct class. Averaged "
        "over the data it is the negative log-likelihood, so minimising it is maximum likelihood estimation."
        if nxt.id == "cross-entropy" else nxt.model_answer))
    assert strong.grade.score >= 3.5
    assert all(v.verdict != "missing" for v in strong.grade.verdicts)
    assert len(store.turns(iv.session_id)) == 3
