"""A follow-up written by the LLM judge: the real judge client against a local OpenAI-compatible server; the
interview offers its follow-up only when it probes a concept of the rubric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.answer import Answer
from agent.bank import load_bank
from agent.interview import Interview, SessionConfig
from agent.policy import validate_proposal
from agent.store import Store
from tests.judge_server import JudgeServer, completion
from tests.test_interview import BANK_DIR, Replay

ANSWER = "Cross-entropy is minus the log of the probability the model gives to the true label."


@pytest.fixture(scope="module")
def bank():
    return load_bank([BANK_DIR], packaged=False)


def reply(follow_up: str) -> str:
    return json.dumps({
        "concepts": [{"concept_id": "negative-log-prob", "verdict": "covered",
                      "quote": "minus the log of the probability the model gives to the true label", "reason": "ok"},
                     {"concept_id": "maximum-likelihood", "verdict": "missing", "quote": "", "reason": "absent"}],
        "misconceptions": [], "grade": 3, "feedback": "Say why this is maximum likelihood.", "follow_up": follow_up,
    })


def session(bank, store: Store) -> Interview:
    def half(q, r, a):
        return {r.concepts[0].id: "covered"}, 3.0, []

    iv = Interview(bank, SessionConfig(n_questions=2, section="A", judge=True), store, Replay(half))
    iv.start()
    iv.current = bank.questions["cross-entropy"]
    iv.state.roots, iv.state.asked = ["cross-entropy"], ["cross-entropy"]
    return iv


def run_judge(bank, tmp_path: Path, follow_up: str):
    from agent.grading.judge import Judge, JudgeConfig

    with JudgeServer(lambda req, n: completion(reply(follow_up))) as srv:
        judge = Judge(JudgeConfig(model="judge-test", base_url=srv.base_url, api_key="test-key", timeout_s=5,
                                  backoff_s=0.05, cache_dir=tmp_path / "judge-cache"))
        res = judge.judge(bank.questions["cross-entropy"], bank.rubrics["cross-entropy"], ANSWER)
    assert res.ok, res.failure
    return res


def test_judge_follow_up_is_offered_and_resumed(bank, tmp_path: Path) -> None:
    res = run_judge(bank, tmp_path, "Why is minimising this loss the same as maximum likelihood estimation?")
    with Store(tmp_path / "h.sqlite3") as store:
        iv = session(bank, store)
        iv.answer(Answer.typed(ANSWER))
        plain = iv.next_choices(3)
        assert all("judge" not in c.reason for c in plain)  # no judge result yet
        turn = iv.apply_judge(0, res)
        assert store.turns(iv.session_id)[-1].judge["follow_up"] == res.follow_up == turn.judge["follow_up"]
        choices = iv.next_choices(3)
        # the policy's pick stays first (its reason now quotes the blended grade's evidence)
        assert (choices[0].question, choices[0].kind) == (plain[0].question, plain[0].kind)
        assert turn.grade.grader == "blend" and turn.offline_grade is not None
        judge_choice = choices[1]
        assert judge_choice.prompt == res.follow_up
        assert judge_choice.concept == "maximum-likelihood"
        assert judge_choice.reason == "the judge's follow-up on your answer"
        q = iv.advance(judge_choice)
        assert q.id == "cross-entropy-ask-maximum-likelihood" and q.prompt == res.follow_up
        sid = iv.session_id
    with Store(tmp_path / "h.sqlite3") as store:
        back = Interview.resume(bank, store, sid, Replay(lambda q, r, a: ({}, 1.0, [])))
        assert back.current.prompt == res.follow_up
        assert [c.id for c in back.rubric_for(back.current).concepts] == ["maximum-likelihood"]
        t = back.answer(Answer.typed("It maximises the likelihood of the labels."))
        assert t.prompt == res.follow_up and t.parent_id == "cross-entropy"


def test_judge_follow_up_off_the_rubric_is_rejected(bank, tmp_path: Path) -> None:
    res = run_judge(bank, tmp_path, "What is your favourite colour, honestly?")
    with Store(tmp_path / "h.sqlite3") as store:
        iv = session(bank, store)
        iv.answer(Answer.typed(ANSWER))
        iv.apply_judge(0, res)
        assert all("judge" not in c.reason for c in iv.next_choices(3))


def test_judge_follow_up_needs_the_judge_setting(bank, tmp_path: Path) -> None:
    res = run_judge(bank, tmp_path, "Why is minimising this loss the same as maximum likelihood estimation?")
    with Store(tmp_path / "h.sqlite3") as store:
        iv = session(bank, store)
        iv.config.judge = False
        iv.answer(Answer.typed(ANSWER))
        iv.apply_judge(0, res)
        assert all("judge" not in c.reason for c in iv.next_choices(3))


def test_validate_proposal(bank) -> None:
    q, r = bank.questions["softmax"], bank.rubrics["softmax"]
    assert validate_proposal(q, r, "How does subtracting the max keep it numerically stable?") == "max-subtraction"
    assert validate_proposal(q, r, q.prompt) is None  # the question again
    assert validate_proposal(q, r, "Why?") is None
    assert validate_proposal(q, r, "word " * 120) is None
    assert validate_proposal(q, r, None) is None
    # ties between equally matching concepts go to the one the answer was weak on
    text = "Can you say more about the probability ranking?"
    assert validate_proposal(q, r, text, weak=["preserves-order"]) == "preserves-order"


SOFTMAX_REPLY = json.dumps({
    "concepts": [{"concept_id": "normalises-to-distribution", "verdict": "covered",
                  "quote": "outputs sum to one", "reason": "stated"},
                 {"concept_id": "preserves-order", "verdict": "missing", "quote": "", "reason": "absent"},
                 {"concept_id": "max-subtraction", "verdict": "missing", "quote": "", "reason": "absent"}],
    "misconceptions": [], "grade": 2, "feedback": "Mention numerical stability.",
    "follow_up": "Why subtract the largest logit before exponentiating, and what overflow does it avoid?",
})


def test_text_mode_with_the_judge(bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from agent.commands.interview import run_text
    from agent.config import reset_settings

    with JudgeServer(lambda req, n: completion(SOFTMAX_REPLY)) as srv:
        monkeypatch.setenv("VIVA_JUDGE_BASE_URL", srv.base_url)
        monkeypatch.setenv("VIVA_JUDGE_API_KEY", "test-key")
        monkeypatch.setenv("VIVA_JUDGE_MODEL", "judge-test")
        monkeypatch.setenv("VIVA_CACHE_DIR", str(tmp_path / "cache"))
        reset_settings()

        def half(q, r, a):
            return {r.concepts[0].id: "covered"}, 2.5, []

        with Store(tmp_path / "h.sqlite3") as store:
            iv = Interview(bank, SessionConfig(n_questions=1, topic="softmax and logits", judge=True), store,
                           Replay(half))
            out = io.StringIO()
            run_text(iv, io.StringIO("Softmax makes the outputs sum to one.\n\n:quit\n"), out)
            text = out.getvalue()
            (t,) = store.turns(iv.session_id)
        assert len(srv.requests) == 1
    assert t.question_id == "softmax" and t.judge["ok"] and t.judge["grade"] == 2
    assert t.grade.extra["judge"]["follow_up"].startswith("Why subtract the largest logit")
    assert "(asking the LLM judge ...)" in text and "judge (judge-test): 2" in text
    assert "the judge's follow-up on your answer" in text
