"""One rule for which grade is stored, whichever front end recorded the answer.

The same answer goes through `viva interview --text` (the text loop fed by a StringIO) and through the app
(a Textual pilot), each with the real openai client against a scripted judge on 127.0.0.1 and its own real
SQLite history. Both must store the same grade, verdict rows, review and judge result: before the judge's
result arrives (the scorer's grade) and after it (the blend, the scorer's grade kept as offline_grade).
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from judge_server import JudgeServer, Reply, answer_of, completion, error  # noqa: E402
from test_tui import answer_for, start, wait_for  # noqa: E402
from test_tui_fakes import FIXED, FakeServices, LexicalScorer  # noqa: E402

from agent.answer import Answer  # noqa: E402
from agent.commands.interview import run_text  # noqa: E402
from agent.config import reset_settings  # noqa: E402
from agent.interview import Interview  # noqa: E402
from agent.session_config import SessionConfig  # noqa: E402
from agent.store import Store  # noqa: E402
from tui.app import VivaApp  # noqa: E402
from tui.services import Services  # noqa: E402

CONFIG = dict(n_questions=1, seed=0)


class RealJudgeServices(FakeServices):
    """The app's services with the real judge (Services.judge: the real openai client over HTTP)."""

    judge = Services.judge
    judge_available = Services.judge_available


def point_judge(monkeypatch: pytest.MonkeyPatch, url: str, cache: Path) -> None:
    monkeypatch.setenv("VIVA_JUDGE_BASE_URL", url)
    monkeypatch.setenv("VIVA_JUDGE_API_KEY", "test-key")
    monkeypatch.setenv("VIVA_JUDGE_MODEL", "judge-test")
    monkeypatch.setenv("VIVA_JUDGE_TIMEOUT_S", "10")
    monkeypatch.setenv("VIVA_CACHE_DIR", str(cache))  # one cache per front end: each asks the server itself
    reset_settings()


def verdict_for(rubric) -> Any:
    """A scripted judge: the first concept covered (quoting the answer), every other one missing, grade 2."""
    def handler(req: dict[str, Any], n: int) -> Reply:
        answer = answer_of(req)
        first = rubric.concepts[0]
        term = next(t for t in first.terms if t.lower() in answer.lower())
        i = answer.lower().index(term.lower())
        concepts = [{"concept_id": first.id, "verdict": "covered", "quote": answer[i:i + len(term)], "reason": "ok"}]
        concepts += [{"concept_id": c.id, "verdict": "missing", "quote": "", "reason": "not said"}
                     for c in rubric.concepts[1:]]
        return completion(json.dumps({"concepts": concepts, "misconceptions": [], "grade": 2,
                                      "feedback": "Only the first idea is really explained.",
                                      "follow_up": "What about the rest of the question?"}))
    return handler


def _steady(v: Any) -> Any:
    """A judge result without what differs from one request to the next (latency, cache hits)."""
    if isinstance(v, dict):
        return {k: _steady(x) for k, x in v.items() if k not in ("calls", "cached")}
    if isinstance(v, list):
        return [_steady(x) for x in v]
    return v


def rows(db: Path) -> dict[str, Any]:
    """What the history holds about the session's one turn, read back from the SQLite file."""
    c = sqlite3.connect(db)
    try:
        ((score, grade, offline, judge),) = c.execute("SELECT score, grade, offline_grade, judge FROM turns")
        verdicts = sorted(c.execute("SELECT question_id, concept_id, verdict, score FROM verdicts"))
        reviews = sorted(c.execute("SELECT question_id, rating FROM srs_log"))
        srs = sorted(c.execute("SELECT question_id, rating, due, reps FROM srs"))
    finally:
        c.close()
    return {"score": score, "grade": _steady(json.loads(grade)),
            "offline_grade": _steady(json.loads(offline)) if offline else None,
            "judge": _steady(json.loads(judge)) if judge else None,
            "verdicts": verdicts, "reviews": reviews, "srs": srs}


def first_question(bank):
    iv = Interview(bank, SessionConfig(**CONFIG), scorer=LexicalScorer(), clock=lambda: FIXED)
    return iv.start()


def cli_run(bank, db: Path, text: str, *, judge: bool) -> tuple[Interview, str]:
    with Store(db) as store:
        iv = Interview(bank, SessionConfig(**CONFIG, judge=judge), store, LexicalScorer(), clock=lambda: FIXED)
        out = io.StringIO()
        run_text(iv, io.StringIO(f"{text}\n\n:quit\n"), out)
    return iv, out.getvalue()


async def app_run(bank, tmp_path: Path, held: threading.Event) -> tuple[dict, dict, Interview]:
    """The app answers the first question; the history is read while the judge is held, then after."""
    svc = RealJudgeServices(bank, tmp_path / "history.sqlite3", judge=None)
    app = VivaApp(svc, clock=lambda: 0.0, load_settings=False, options=SessionConfig(**CONFIG, judge=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        app.screen.query_one("#answer").text = answer_for(iv)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(iv.turns) == 1)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ResultScreen")
        assert "waiting" in str(app.screen.query_one("#judge").render())
        before = rows(tmp_path / "history.sqlite3")
        held.set()
        await wait_for(pilot, lambda: iv.turns[0].judge is not None, tries=500)
        await wait_for(pilot, lambda: "judge" in str(app.screen.query_one("#judge").render())
                       and "waiting" not in str(app.screen.query_one("#judge").render()))
        after = rows(tmp_path / "history.sqlite3")
        shown = app.screen.query_one("#grade")
        assert shown.score == iv.turns[0].grade.display
    return before, after, iv


async def test_cli_and_app_store_the_same_grade_before_and_after_the_judge(bank, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    q = first_question(bank)
    rubric = bank.rubrics[q.id]
    held = threading.Event()
    script = verdict_for(rubric)

    def handler(req: dict[str, Any], n: int) -> Reply:
        held.wait(20)  # the app's judge answers once its turn was read back as recorded
        return script(req, n)

    with JudgeServer(handler) as srv:
        # the app (its grade comes from its worker; the judge's result is applied on the main thread)
        point_judge(monkeypatch, srv.base_url, tmp_path / "cache-app")
        app_before, app_after, iv = await app_run(bank, tmp_path / "app", held)
        text = iv.turns[0].answer
        # the CLI: judge off is the "before"; judge on records, then refines the recorded turn
        point_judge(monkeypatch, srv.base_url, tmp_path / "cache-cli")
        cli_iv, _ = cli_run(bank, tmp_path / "cli-off.sqlite3", text, judge=False)
        cli_before = rows(tmp_path / "cli-off.sqlite3")
        cli_iv, out = cli_run(bank, tmp_path / "cli-on.sqlite3", text, judge=True)
        cli_after = rows(tmp_path / "cli-on.sqlite3")
        assert len(srv.requests) == 2  # one judge request per front end

    assert cli_iv.turns[0].question_id == iv.turns[0].question_id == q.id
    assert "(asking the LLM judge ...)" in out and "judge (judge-test): 2" in out
    # before the judge: the scorer's grade, no judge, nothing kept aside
    assert app_before == cli_before
    assert app_before["judge"] is None and app_before["offline_grade"] is None
    assert app_before["grade"]["grader"] == "lexical-fake"
    # after: the blend, the scorer's grade kept, the judge's result stored: the same in both histories
    assert app_after == cli_after
    assert app_after["grade"]["grader"] == "blend" and app_after["judge"]["ok"] is True
    assert app_after["offline_grade"] == app_before["grade"]
    assert app_after["score"] == pytest.approx(0.4 * app_before["score"] + 0.6 * 2.0, abs=1e-3)
    assert app_after["score"] != app_before["score"]
    # the verdict rows and the review follow the stored grade
    assert app_after["verdicts"] != app_before["verdicts"]
    second = rubric.concepts[1].id
    assert [v[2] for v in app_after["verdicts"] if v[1] == second] == ["partial"]  # 0.4 x covered + 0.6 x missing
    assert app_after["reviews"] == cli_after["reviews"] and len(app_after["reviews"]) == 1


async def test_a_failed_judge_keeps_the_grade_and_stores_the_failure(bank, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    held = threading.Event()

    def handler(req: dict[str, Any], n: int) -> Reply:
        held.wait(20)
        return error(500, "the judge's server is down")

    with JudgeServer(handler) as srv:
        point_judge(monkeypatch, srv.base_url, tmp_path / "cache-app")
        monkeypatch.setenv("VIVA_JUDGE_TIMEOUT_S", "5")
        before, after, iv = await app_run(bank, tmp_path / "app", held)
        point_judge(monkeypatch, srv.base_url, tmp_path / "cache-cli")
        _, out = cli_run(bank, tmp_path / "cli.sqlite3", iv.turns[0].answer, judge=True)
        cli = rows(tmp_path / "cli.sqlite3")

    assert after["grade"] == before["grade"] and after["score"] == before["score"]
    assert after["offline_grade"] is None
    assert after["judge"]["ok"] is False and "500" in after["judge"]["failure"]
    assert cli["grade"] == before["grade"] and cli["judge"] == after["judge"]
    assert cli["verdicts"] == after["verdicts"] == before["verdicts"]
    assert "judge: not used" in out


def _judged_session(bank, store: Store, url: str) -> Interview:
    iv = Interview(bank, SessionConfig(**CONFIG, judge=True), store, LexicalScorer(), clock=lambda: FIXED)
    q = iv.start()
    iv.answer(Answer.typed(answer_for(iv)))
    assert iv.turns[0].question_id == q.id
    return iv


def test_apply_judge_twice_is_idempotent_and_resume_keeps_the_blend(bank, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.grading.judge import Judge

    q = first_question(bank)
    with JudgeServer(verdict_for(bank.rubrics[q.id])) as srv:
        point_judge(monkeypatch, srv.base_url, tmp_path / "cache")
        db = tmp_path / "h.sqlite3"
        with Store(db) as store:
            iv = _judged_session(bank, store, srv.base_url)
            offline = iv.turns[0].grade
            result = Judge().judge(iv.question(q.id), iv.rubric_for(q.id), iv.turns[0].answer)
            assert result.ok, result.failure
            once = iv.apply_judge(0, result)
            first = rows(db)
            twice = iv.apply_judge(0, result)
            assert rows(db) == first  # applied again: re-blended from the scorer's grade, not from the blend
            assert twice == once and twice.offline_grade == offline and twice.grade.grader == "blend"
            assert iv.turns[0] == twice and iv._last_grade == twice.grade
            assert iv.state.scores == [twice.grade.score]
            # a failure after that: the scorer's grade stands again, and the failure is what is stored
            from agent.grading.judge import JudgeResult

            failed = iv.apply_judge(0, JudgeResult(ok=False, model="judge-test", failure="timed out"))
            assert failed.grade == offline and failed.offline_grade is None
            assert failed.judge == {"ok": False, "failure": "timed out", "failure_kind": None, "model": "judge-test"}
            iv.apply_judge(0, result)
            sid = iv.session_id
        # resume: the stored grade is the blend, and the follow-ups are chosen from it
        with Store(db) as store:
            back = Interview.resume(bank, store, sid, LexicalScorer(), clock=lambda: FIXED)
            assert back.turns[0].grade == once.grade and back.turns[0].offline_grade == offline
            assert back._last_grade == once.grade
            assert back.state.scores == [once.grade.score]
            assert store.turns(sid)[0].judge == once.judge
            assert store.mastery().concepts  # the verdict rows are the blend's
            assert {c.concept_id: c.mastery for c in store.mastery().concepts} == {
                v.concept_id: {"covered": 1.0, "partial": 0.5, "missing": 0.0}[v.verdict] for v in once.grade.verdicts}


def test_refine_turn_is_what_the_cli_calls(bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    q = first_question(bank)
    with JudgeServer(verdict_for(bank.rubrics[q.id])) as srv:
        point_judge(monkeypatch, srv.base_url, tmp_path / "cache")
        with Store(tmp_path / "h.sqlite3") as store:
            iv = _judged_session(bank, store, srv.base_url)
            before = iv.turns[0]
            turn = iv.refine_turn()
            assert turn.offline_grade == before.grade and turn.judge["ok"] and turn.grade.grader == "blend"
            assert store.turns(iv.session_id)[0] == turn
            iv.config.judge = False
            assert iv.refine_turn() == turn  # judge off: nothing asked, nothing changed
        assert len(srv.requests) == 1
