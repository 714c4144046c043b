"""TUI follow-ups: an answer graded after the user left is still saved; late judge verdicts reach the history;
`viva interview` options and `viva resume` open the app on that session."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_tui import answer_first, answer_for, make_app, start, wait_for  # noqa: E402
from test_tui_fakes import judged  # noqa: E402

from agent.answer import Answer  # noqa: E402
from agent.session_config import SessionConfig  # noqa: E402
from agent.store import Store  # noqa: E402


async def test_escape_while_grading_still_records_the_turn(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path)
    gate = threading.Event()
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        await wait_for(pilot, lambda: app.screen.prepared)
        real = iv.grade

        def slow_grade(answer: str):
            gate.wait(10)
            return real(answer)

        iv.grade = slow_grade
        qid = iv.current.id
        app.screen.query_one("#answer").text = answer_for(iv)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ResultScreen")
        await pilot.press("escape")  # leave while the grade is still being computed
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        assert app.interview is None
        assert Store(tmp_path / "history.sqlite3").turns(iv.session_id) == []
        gate.set()
        await wait_for(pilot, lambda: len(iv.turns) == 1)
        turns = Store(tmp_path / "history.sqlite3").turns(iv.session_id)
        assert [t.question_id for t in turns] == [qid]
        assert turns[0].grade.display == iv.turns[0].grade.display


async def test_late_judge_result_is_saved_with_its_turn(bank, tmp_path: Path) -> None:
    result = judged(4.0, "names the shift")
    app, svc = make_app(bank, tmp_path, judge=result, options=SessionConfig(n_questions=3, judge=True))
    svc.judge_gate.clear()  # the judge answers only after the turn is recorded
    async with app.run_test(size=(100, 30)) as pilot:
        iv = await answer_first(pilot, svc)
        store = Store(tmp_path / "history.sqlite3")
        before = store.turns(iv.session_id)[0]
        assert before.judge is None and before.offline_grade is None
        svc.judge_gate.set()
        await wait_for(pilot, lambda: iv.turns[0].judge is not None)
        stored = store.turns(iv.session_id)[0]
        assert iv.turns[0].judge == stored.judge == result.model_dump(mode="json")
        # the stored grade is now the blend; the scorer's grade is kept beside it
        assert stored.offline_grade == before.grade
        assert stored.grade.grader == "blend" and stored.grade == iv.turns[0].grade
        assert stored.grade.score == round(0.4 * before.grade.score + 0.6 * 4.0, 3)
        await wait_for(pilot, lambda: app.screen.query_one("#grade").label == "blended")
        assert app.screen.query_one("#grade").score == stored.grade.display


async def test_options_start_the_session_at_once(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path, options=SessionConfig(mode="practice", n_questions=1, seed=3))
    app._autostart = True
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InterviewScreen")
        iv = svc.interviews[0]
        assert (iv.config.mode, iv.config.n_questions, iv.config.seed) == ("practice", 1, 3)


async def test_resume_opens_the_sessions_current_question(bank, tmp_path: Path) -> None:
    from test_tui_fakes import LexicalScorer

    from agent.interview import Interview, SessionConfig

    store = Store(tmp_path / "history.sqlite3")
    first = Interview(bank, SessionConfig(n_questions=3, seed=1), store=store, scorer=LexicalScorer())
    first.start()
    first.answer(Answer.typed(answer_for(first)))  # a session is stored with its first answer
    first.advance(first.next_choices(1)[0])
    qid = first.current.id
    resumed = Interview.resume(bank, Store(tmp_path / "history.sqlite3"), first.session_id)
    app, svc = make_app(bank, tmp_path)
    app._resume = resumed
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InterviewScreen" and app.screen.is_mounted
                       and bool(app.screen.query("#prompt")))
        assert app.interview is resumed
        assert app.interview.current.id == qid
        assert resumed.current.prompt[:20] in str(app.screen.query_one("#prompt").render())


async def test_time_limit_from_home_ends_after_the_current_answer(bank, tmp_path: Path) -> None:
    from datetime import timedelta

    from test_tui_fakes import FIXED

    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=5))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HomeScreen" and app.screen.is_mounted)
        app.screen.query_one("#limit").value = 10
        await pilot.pause()
        await start(pilot)
        iv = svc.interviews[0]
        assert iv.config.time_limit_s == 600
        iv.clock = lambda: FIXED + timedelta(minutes=11)  # the limit has passed while answering
        app.screen._tick()
        assert "time-up-" + iv.session_id in app._said
        assert "left" in str(app.screen.query_one("#elapsed").render())
        app.screen.query_one("#answer").text = answer_for(iv)
        await pilot.press("ctrl+s")  # the current answer can still be submitted
        await wait_for(pilot, lambda: len(iv.turns) == 1 and app.screen.grade is not None)
        await pilot.press("n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HistoryScreen")
        assert iv.finished
        info = Store(tmp_path / "history.sqlite3").session(iv.session_id)
        assert info.finished and info.n_turns == 1
