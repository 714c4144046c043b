"""TUI: quitting while an answer is graded keeps it; a follow-up screen already showing takes in the judge's
follow-up when the verdict arrives late; a slow grade shows the result screen with "grading…" first."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_tui import answer_first, answer_for, make_app, start, wait_for  # noqa: E402
from test_tui_fakes import judged  # noqa: E402

from agent.session_config import SessionConfig  # noqa: E402
from agent.store import Store  # noqa: E402


def gate_grades(iv) -> threading.Event:
    """Hold every real answer's grade until the returned event is set (the screen's warm-up grade passes)."""
    gate = threading.Event()
    real = iv.grade

    def slow_grade(answer: str):
        if answer != "warming up":
            gate.wait(10)
        return real(answer)

    iv.grade = slow_grade
    return gate


async def submit_held(pilot, app, svc, repeat: int = 1):
    """Start a session, type the question's sample answer (``repeat`` times over) and submit it with its grade
    held back; returns the interview, the gate that releases the grade, and the answer."""
    await start(pilot)
    iv = svc.interviews[0]
    await wait_for(pilot, lambda: app.screen.prepared)
    gate = gate_grades(iv)
    answer = " ".join([answer_for(iv)] * repeat)
    app.screen.query_one("#answer").text = answer
    await pilot.press("ctrl+s")
    return iv, gate, answer


async def until_exited(app, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if app.return_code is not None or not app.is_running:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the app did not exit")


async def test_ctrl_q_while_grading_grades_and_saves_the_answer_then_quits(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        iv, gate, answer = await submit_held(pilot, app, svc)
        qid = iv.current.id  # not moved on: the answer is still being graded
        await pilot.press("ctrl+q")  # quit while the grade is still being computed
        await pilot.pause(0.1)
        assert app.is_running and app.return_code is None  # it waits for the grade
        notes = [str(n.message) for n in app._notifications]
        assert any("Saving your answer first" in n for n in notes), notes
        assert Store(tmp_path / "history.sqlite3").turns(iv.session_id) == []
        gate.set()
        await until_exited(app)
    turns = Store(tmp_path / "history.sqlite3").turns(iv.session_id)
    assert [t.question_id for t in turns] == [qid]
    assert turns[0].answer == answer
    said = app.quit_note or ""
    assert "saved" in said and "NOT" not in said and f"viva resume {iv.session_id}" in said, said
    # resuming the session continues after the answered question
    from agent.interview import Interview

    resumed = Interview.resume(bank, Store(tmp_path / "history.sqlite3"), iv.session_id)
    assert resumed.answered and [t.answer for t in resumed.turns] == [answer]


async def test_second_ctrl_q_quits_at_once(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        _, gate, _ = await submit_held(pilot, app, svc)
        await pilot.press("ctrl+q")
        await pilot.pause(0.05)
        assert app.return_code is None
        await pilot.press("ctrl+q")
        await until_exited(app)
        gate.set()


async def test_quit_without_a_grade_in_flight_quits_at_once(bank, tmp_path: Path) -> None:
    app, _ = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        await pilot.press("ctrl+q")
        await until_exited(app)


async def test_slow_grade_shows_the_result_screen_with_grading_first(bank, tmp_path: Path) -> None:
    from tui.screens.interview import InterviewScreen
    from tui.screens.result import ResultScreen

    app, svc = make_app(bank, tmp_path)
    app.result_screen_after_s = 1.0  # the app's 0.25 s, with room for the check below on a busy machine
    async with app.run_test(size=(100, 30)) as pilot:
        iv, gate, _ = await submit_held(pilot, app, svc)
        assert isinstance(app.screen, InterviewScreen)  # a fast grade would replace it directly
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        res = app.screen
        await wait_for(pilot, lambda: res.is_mounted and "grading" in str(res.query_one("#flags").render()))
        assert res.grade is None
        await pilot.press("n")  # nothing to move on to yet
        assert app.screen is res
        gate.set()
        await wait_for(pilot, lambda: res.grade is not None)
        assert len(iv.turns) == 1 and res.query_one("#concepts").row_count > 0


async def test_result_waits_under_the_history_screen(bank, tmp_path: Path) -> None:
    """A grade that arrives while the history is open is shown when the user comes back to the question."""
    from tui.screens.history import HistoryScreen
    from tui.screens.result import ResultScreen

    app, svc = make_app(bank, tmp_path)
    app.result_screen_after_s = 30.0
    async with app.run_test(size=(100, 30)) as pilot:
        iv, gate, _ = await submit_held(pilot, app, svc)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        gate.set()
        await wait_for(pilot, lambda: len(iv.turns) == 1)
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        assert app.screen.grade is not None


async def test_followup_screen_takes_in_the_judges_late_follow_up(bank, tmp_path: Path) -> None:
    from tui.screens.followup import FollowUpScreen

    app, svc = make_app(bank, tmp_path, judge=judged(3.0, "misses a concept"),
                        options=SessionConfig(n_questions=3, judge=True))
    svc.judge_gate.clear()  # the judge answers only once the follow-up screen is showing
    async with app.run_test(size=(100, 30)) as pilot:
        iv = await answer_first(pilot, svc)
        missing = [v for v in iv.turns[0].grade.verdicts if v.verdict == "missing"]
        assert missing, "the answer must leave a concept for the judge to probe"
        follow_up = f"Could you explain {missing[0].name} in more detail, with an example?"
        svc.judge_result = judged(3.0, "misses a concept", follow_up=follow_up, missing=(missing[0].concept_id,))
        await wait_for(pilot, lambda: app.screen.grade is not None)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowUpScreen))
        fu = app.screen
        before = [c.prompt for c in fu.choices]
        assert follow_up not in before
        svc.judge_gate.set()
        await wait_for(pilot, lambda: iv.turns[0].judge is not None)
        await wait_for(pilot, lambda: follow_up in [c.prompt for c in fu.choices])
        assert app.screen is fu  # updated in place
        shown = [str(o.prompt) for o in fu.query_one("#choices").options]
        assert any(follow_up in p for p in shown), shown
        notes = [str(n.message) for n in app._notifications]
        assert any("judge's verdict came in" in n and follow_up in n for n in notes), notes
        # the new choice can be taken
        idx = [c.prompt for c in fu.choices].index(follow_up)
        fu.query_one("#choices").highlighted = idx
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InterviewScreen")
        assert iv.current.prompt == follow_up


async def test_slow_grade_fills_in_with_the_grade_in_view(bank, tmp_path: Path) -> None:
    """A result screen shown while grading, then filled in, opens at the top (the grade in view) even when
    the result is longer than the terminal."""
    from tui.screens.result import ResultScreen

    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        _, gate, _ = await submit_held(pilot, app, svc, repeat=30)
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen) and app.screen.is_mounted)
        res = app.screen
        gate.set()
        await wait_for(pilot, lambda: res.grade is not None)
        await pilot.pause()
        await pilot.pause()
        scroller = res.query_one("#result")
        assert scroller.max_scroll_y > 0  # the result is longer than the screen
        assert scroller.scroll_y == 0
