"""Pilot tests of every TUI flow, with the real bank and a lexical stand-in grader (fast)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_tui_fakes import FakeServices, judge_failed, judged  # noqa: E402

from agent.answer import Answer
from agent.session_config import SessionConfig  # noqa: E402
from tui.app import VivaApp  # noqa: E402


def answer_for(iv) -> str:
    """An answer that names the first term of the first two concepts of the current question's rubric."""
    r = iv.rubric_for(iv.current)
    terms = [c.terms[0] for c in r.concepts if c.terms][:2]
    return "I would say it is about " + " and also ".join(terms) + "."


def make_app(bank, tmp_path: Path, **kw) -> tuple[VivaApp, FakeServices]:
    svc = FakeServices(bank, tmp_path / "history.sqlite3", **{k: kw.pop(k) for k in ("judge", "voice_ok") if k in kw})
    app = VivaApp(svc, clock=lambda: 0.0, load_settings=False,
                  options=kw.pop("options", SessionConfig(n_questions=3)), **kw)
    return app, svc


async def wait_for(pilot, cond, tries: int = 200) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


async def start(pilot) -> None:
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "InterviewScreen")


async def choose_audio_file(pilot, path: Path) -> None:
    """ctrl+o, the file's path in the dialog, enter."""
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "AudioFileScreen")
    pilot.app.screen.query_one("#audio-path").value = str(path)
    await pilot.press("enter")


async def answer_from_file(pilot, path: Path, tries: int = 200) -> None:
    """Answer with an audio file and wait for its result screen, mounted (leaving the app while a pushed
    screen is still mounting fails its on_mount)."""
    await choose_audio_file(pilot, path)
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ResultScreen"
                   and bool(pilot.app.screen.query("#model-answer")), tries=tries)


async def answer_first(pilot, svc):
    """Start a session and answer its first question with ``answer_for``; the interview, once the turn is in."""
    await start(pilot)
    iv = svc.interviews[0]
    pilot.app.screen.query_one("#answer").text = answer_for(iv)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: len(iv.turns) == 1)
    return iv


async def test_home_then_typed_answer_result_followup_next(bank, tmp_path: Path) -> None:
    from tui.screens.followup import FollowUpScreen
    from tui.screens.interview import InterviewScreen
    from tui.screens.result import ResultScreen
    from tui.widgets.evidence import concept_colour

    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model_state["grader"][0] == "ready")
        await start(pilot)
        iv = svc.interviews[0]
        first = iv.current
        await pilot.press(*"cross")  # typing goes to the answer box
        ta = app.screen.query_one("#answer")
        assert ta.text == "cross"
        answer = answer_for(iv)
        ta.text = answer
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        res = app.screen
        assert len(iv.turns) == 1 and iv.turns[0].answer == answer
        assert [t.answer for t in svc.store().turns(iv.session_id)] == [answer]  # committed at once
        table = res.query_one("#concepts")
        assert table.row_count == len(iv.rubric_for(first).concepts)
        # each covered concept's evidence is highlighted in the answer in that concept's colour
        spans = {(answer[sp.start:sp.end], str(sp.style)) for sp in res.highlight.spans}
        covered = [(i, v) for i, v in enumerate(res.grade.verdicts) if v.verdict == "covered"]
        assert len(covered) >= 2
        for i, v in covered:
            assert (v.evidence.text, f"bold black on {concept_colour(i)}") in spans
        assert "judge off" in str(res.query_one("#judge").render())
        assert not res.query_one("#model-answer").display
        await pilot.press("m")
        assert res.query_one("#model-answer").display
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowUpScreen))
        fu = app.screen
        assert len(fu.choices) >= 2 and all(c.reason for c in fu.choices)
        await pilot.press("down")  # pick another
        picked = fu.choices[1]
        await pilot.press("enter")
        if picked.ends:
            await wait_for(pilot, lambda: type(app.screen).__name__ == "HistoryScreen")
            return
        await wait_for(pilot, lambda: isinstance(app.screen, InterviewScreen) and app.screen.is_mounted)
        assert iv.current.id == picked.question.id != first.id
        assert picked.question.prompt in str(app.screen.query_one("#prompt").render())


async def test_a_standing_draft_is_graded_ahead_and_nothing_of_it_recorded(bank, tmp_path: Path) -> None:
    """A draft left standing is graded in the background (the models read its sentences before the answer
    comes); a draft that changes sooner is not; the turn records the submitted answer and its own grade."""
    from tui.screens.interview import DRAFT_IDLE_S

    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model_state["grader"][0] == "ready")
        await start(pilot)
        iv = svc.interviews[0]
        scr = app.screen
        await wait_for(pilot, lambda: scr.prepared)
        ta = scr.query_one("#answer")
        answer = answer_for(iv)
        ta.text = "I would say"  # changed again before it has stood: never graded
        await pilot.pause(DRAFT_IDLE_S / 3)
        ta.text = answer.rsplit(" and also ", 1)[0] + "."
        await wait_for(pilot, lambda: scr.drafts_graded == 1)
        assert svc.grade_calls == 1
        ta.text = answer
        await wait_for(pilot, lambda: scr.drafts_graded == 2)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(iv.turns) == 1)
        turn = iv.turns[0]
        assert turn.answer == answer
        assert turn.grade.model_dump() == iv.grade(answer).model_dump()  # as if no draft had been graded
        assert [t.answer for t in svc.store().turns(iv.session_id)] == [answer]
        assert svc.grade_calls == 4  # two drafts, the answer, and the check above
        await pilot.pause(2 * DRAFT_IDLE_S)
        assert scr.drafts_graded == 2  # nothing after the answer is in


async def test_drafts_are_left_alone_when_the_setting_says_so(bank, tmp_path: Path, monkeypatch) -> None:
    from agent.config import reset_settings
    from tui.screens.interview import DRAFT_IDLE_S

    monkeypatch.setenv("VIVA_GRADE_DRAFTS", "false")
    reset_settings()
    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        await wait_for(pilot, lambda: app.screen.prepared)
        app.screen.query_one("#answer").text = answer_for(iv)
        await pilot.pause(3 * DRAFT_IDLE_S)
        assert app.screen.drafts_graded == 0 and svc.grade_calls == 0
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(iv.turns) == 1)
        assert svc.grade_calls == 1


async def test_the_transcript_is_not_graded_while_the_candidate_speaks(bank, tmp_path: Path) -> None:
    """Whisper needs the CPU while the answer is spoken: the transcript shown so far is not graded as a draft."""
    from tui.screens.interview import DRAFT_IDLE_S

    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=3, voice=True))
    svc.segment_pause = 2 * DRAFT_IDLE_S  # each part of the transcript stands long enough to be a draft
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        scr = app.screen
        await wait_for(pilot, lambda: scr.prepared)
        wav = tmp_path / "answer.wav"
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".txt").write_text("It is the next token. The loss is cross-entropy. It is shifted by one.")
        await answer_from_file(pilot, wav)
        assert len(iv.turns) == 1 and iv.turns[0].source == "voice"
        assert scr.drafts_graded == 0 and svc.grade_calls == 1


async def test_skip_moves_to_next_question(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        first = iv.current.id
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: iv.current is not None and iv.current.id != first
                       and type(app.screen).__name__ == "InterviewScreen" and app.screen.is_mounted)
        assert first in iv.state.skipped
        assert not iv.turns
        assert iv.current.prompt in str(app.screen.query_one("#prompt").render())


async def test_empty_answer_is_refused_and_hint_shown(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path)
    async with app.run_test() as pilot:
        await start(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert svc.grade_calls == 0
        assert type(app.screen).__name__ == "InterviewScreen"
        await pilot.press("ctrl+t")
        assert "Hint 1/" in str(app.screen.query_one("#hint").render())
        assert not svc.interviews[0].cold  # a hinted attempt is not cold


async def test_session_ends_on_history(bank, tmp_path: Path) -> None:
    from tui.screens.history import HistoryScreen

    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=1))
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        app.screen.query_one("#answer").text = answer_for(iv)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ResultScreen")
        await pilot.press("n")
        if type(app.screen).__name__ == "FollowUpScreen":
            await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        assert app.interview is None and iv.finished
        assert svc.store().session(iv.session_id).finished_at is not None
        assert app.screen.query_one("#sessions").row_count == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HomeScreen")


async def test_judge_verdict_updates_in_place(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path, judge=judged(4.5, "clear and complete"),
                        options=SessionConfig(n_questions=3, judge=True))
    svc.judge_gate.clear()  # hold the judge until the result screen is up
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        app.screen.query_one("#answer").text = answer_for(svc.interviews[0])
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ResultScreen")
        judge = app.screen.query_one("#judge")
        assert "waiting" in str(judge.render())
        svc.judge_gate.set()
        await wait_for(pilot, lambda: "4.5/5" in str(judge.render()))
        assert "clear and complete" in str(judge.render())


async def test_failing_judge_is_said_once_and_grade_stays(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path, judge=judge_failed("HTTP 500 from the judge endpoint"),
                        options=SessionConfig(n_questions=3, judge=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        app.screen.query_one("#answer").text = answer_for(svc.interviews[0])
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ResultScreen")
        await wait_for(pilot, lambda: "judge failed" in str(app.screen.query_one("#judge").render()))
        assert "judge-failed" in app._said
        assert app.say_once("judge-failed", "again") is False
        assert app.screen.query_one("#grade").score > 0


async def test_voice_from_audio_file_and_missing_speaker(bank, tmp_path: Path) -> None:

    app, svc = make_app(bank, tmp_path, voice_ok=False, options=SessionConfig(n_questions=3, voice=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        answer = answer_for(iv)
        wav = tmp_path / "answer.wav"
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".txt").write_text(answer)
        await wait_for(pilot, lambda: "tts" in app._said)  # no speaker: said once, text goes on
        await pilot.press("ctrl+r")  # no microphone either
        await wait_for(pilot, lambda: "voice-failed" in app._said)
        await answer_from_file(pilot, wav)
        turn = iv.turns[0]
        assert turn.source == "voice" and turn.answer == answer and turn.transcript == answer
        assert "142 wpm" in str(app.screen.query_one("#insight-line").render())
        assert list(app.screen.query_one("#pace").data) == [120.0, 135.0, 150.0, 160.0]


async def test_result_shows_coaching_for_a_spoken_answer(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=2, voice=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = app.interview
        wav = tmp_path / "a.wav"
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".txt").write_text("It is about shift.")
        await answer_from_file(pilot, wav)
        await wait_for(pilot, lambda: app.screen.query_one("#coaching").display)
        text = str(app.screen.query_one("#coaching").render())
        assert "What a strong answer adds" in text and "Delivery" in text
        rubric = iv.rubric_for(iv.turns[-1].question_id)
        missing = [c for c in rubric.concepts if c.id in iv.turns[-1].grade.missing]
        assert missing and missing[0].description.split(",")[0].split(";")[0][:30] in " ".join(text.split())
        # the fillers (12 a minute) matter most, so they come first
        assert text.index("1. Cut the fillers") < text.index("2. Good pace")


@pytest.mark.slow
async def test_ctrl_o_through_the_real_speech_path_keeps_every_sentence(bank, tmp_path: Path) -> None:
    """ctrl+o with the espeak-ng prefix-LM answer once lost its first sentence in the app. Here the
    app's real listen (Recorder -> StreamingTranscriber -> final decode of the whole recording) runs."""
    from tests.speech_fixtures import espeak_file
    from tui.services import Services

    text = ("A prefix language model uses full bidirectional attention over the prefix, the input part, and "
            "causal attention over the rest. The loss is computed only on the tokens after the prefix. UniLM, "
            "T5 in its prefix LM variant, and UL2 use it.")
    wav = espeak_file(text, tmp_path / "prefix-lm.wav")
    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=2, voice=True))
    svc.listen = lambda *a, **kw: Services.listen(svc, *a, **kw)  # the real speech path
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        await answer_from_file(pilot, wav, tries=3000)
        answer = iv.turns[0].answer.lower()
        assert "attention over the rest" in answer and "computed only on" in answer and "use it" in answer, answer


async def test_repaired_terms_are_shown_with_what_was_heard(bank, tmp_path: Path) -> None:
    import json


    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=2, voice=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        iv = svc.interviews[0]
        answer = answer_for(iv)
        wav = tmp_path / "answer.wav"
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".txt").write_text(answer)
        heard = answer + " (as heard)"
        wav.with_suffix(".voice.json").write_text(json.dumps(
            {"heard": heard, "repairs": [{"heard": "proplexed it", "read_as": "perplexity"}]}))
        await answer_from_file(pilot, wav)
        turn = iv.turns[0]
        assert turn.answer == answer and turn.transcript == heard  # graded as read, kept as heard
        line = str(app.screen.query_one("#repairs").render())
        assert "heard 'proplexed it', read as 'perplexity'" in line


async def test_a_silent_recording_says_nothing_was_heard_and_voice_stays_on(bank, tmp_path: Path) -> None:
    from textual.widgets import Static

    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=2, voice=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        silent = tmp_path / "silent.wav"
        silent.write_bytes(b"RIFF")
        silent.with_suffix(".txt").write_text("")  # the fake hears nothing in it
        await choose_audio_file(pilot, silent)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InterviewScreen")
        line = app.screen.query_one("#voice-line", Static)
        await wait_for(pilot, lambda: "nothing was heard" in str(line.render()))
        assert str(line.render()) == "nothing was heard; type your answer or try again (ctrl+r)"
        assert "voice-failed" not in app._said and not svc.interviews[0].turns
        assert not app.screen.query_one("#answer").read_only  # typing is open
        answer = answer_for(svc.interviews[0])
        wav = tmp_path / "answer.wav"
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".txt").write_text(answer)
        await answer_from_file(pilot, wav)  # another try is heard
        assert svc.interviews[0].turns[0].source == "voice"


async def test_audio_file_dialog_rejects_missing_file(bank, tmp_path: Path) -> None:
    app, _ = make_app(bank, tmp_path)
    async with app.run_test() as pilot:
        await start(pilot)
        await choose_audio_file(pilot, tmp_path / "nope.wav")
        assert "No file at" in str(app.screen.query_one("#audio-error").render())
        await pilot.press("escape")
        assert type(app.screen).__name__ == "InterviewScreen"


async def test_run_demo_streams_output_and_checks(bank, tmp_path: Path) -> None:
    from tui.screens.demo import DemoScreen

    app, _ = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_demo("causal_mask")
        await wait_for(pilot, lambda: isinstance(app.screen, DemoScreen) and app.screen.is_mounted)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.finished is not None)
        checks = str(app.screen.query_one("#checks").render())
        assert "✔ pass no future leakage" in checks and "✘ FAIL rows sum to one" in checks
        assert "1/2 checks passed" in str(app.screen.query_one("#d-state").render())
        lines = [str(s.text) for s in app.screen.query_one("#output").lines]
        assert any("plain output from the demo" in x for x in lines)
        await pilot.press("escape")
        assert type(app.screen).__name__ == "HomeScreen"


async def test_history_shows_sessions_mastery_and_goal(bank, tmp_path: Path) -> None:
    from tui.screens.history import HistoryScreen

    app, svc = make_app(bank, tmp_path)
    seed_history(svc, bank)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        scr = app.screen
        assert scr.query_one("#sessions").row_count == 2
        assert scr.query_one("#mastery").row_count >= 3
        goal = svc.store().goal(bank)
        assert f"{goal.done}/{goal.target}" in str(scr.query_one("#goal-text").render())
        assert scr.query_one("#goal").progress == goal.done
        assert len(scr.query_one("#chart").values) == 4


async def test_home_names_the_sections(bank, tmp_path: Path) -> None:
    from textual.widgets import Select

    app, _ = make_app(bank, tmp_path, options=SessionConfig(n_questions=3, section="masking"))
    async with app.run_test(size=(100, 30)) as pilot:
        sel = app.screen.query_one("#section", Select)
        await wait_for(pilot, lambda: sel.value == "masking")
        labels = [str(label) for label, _ in sel._options]
        assert "masking: Causal masking" in labels and "A: Causal language modelling" in labels
        about = app.screen.query_one("#section-about")
        assert about.display and "keeps each position from seeing the future" in str(about.render())
        sel.value = "F"
        await pilot.pause()
        assert "perplexity" in str(about.render())
        sel.clear()
        await pilot.pause()
        assert not about.display


async def test_history_opens_a_session_for_review(bank, tmp_path: Path) -> None:
    from tui.screens.history import HistoryScreen
    from tui.screens.review import ReviewScreen

    app, svc = make_app(bank, tmp_path)
    seed_history(svc, bank)
    empty = svc.new_interview(SessionConfig(n_questions=1, seed=9))
    empty.start()  # a session with no answer: not listed, nothing to open
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        table = app.screen.query_one("#sessions")
        assert table.row_count == 2
        assert empty.session_id not in [k.value for k in table.rows]
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        rev = app.screen.review
        sid = rev.session.id
        turns = svc.store().turns(sid)
        assert [i.turn.question_id for i in rev.items] == [t.question_id for t in turns]
        assert len(app.screen.query(".review-item")) == len(turns) == 2
        text = " ".join(str(w.render()) for w in app.screen.query(".review-q, .review-answer, .review-verdicts"))
        for t in turns:
            assert t.prompt[:40] in " ".join(text.split())
            assert f"{t.grade.display:g}/5" in text
        assert "I am not sure." in text  # the answer as given
        coaching = " ".join(str(w.render()) for w in app.screen.query(".review-coaching"))
        assert "What a strong answer adds" in coaching
        await pilot.press("p")  # typed answers: no recording, said once
        await pilot.pause()
        assert any("No recording was kept" in n.message for n in app._notifications)
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)


def seed_history(svc, bank) -> None:
    """Two finished sessions of two answers each, graded by the lexical stand-in."""
    from agent.session_config import SessionConfig

    for seed in (1, 2):
        iv = svc.new_interview(SessionConfig(n_questions=2, seed=seed))
        iv.start()
        for k in range(2):
            iv.answer(Answer.typed(answer_for(iv) if k == 0 else "I am not sure."))
            if iv.advance() is None:
                break
        iv.finish()


async def test_theme_toggle_and_palette_commands(bank, tmp_path: Path) -> None:
    app, _ = make_app(bank, tmp_path)
    async with app.run_test() as pilot:
        assert app.theme == "textual-dark"
        await pilot.press("f3")
        assert app.theme == "textual-light"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "History and progress" in titles and "Toggle light/dark theme" in titles
        assert any(t.startswith("Demo: ") for t in titles)


def test_first_paint_imports_nothing_heavy() -> None:
    import json
    import subprocess
    import sys

    code = ("import sys, json, asyncio\n"
            "from tui.app import VivaApp\n"
            "async def main():\n"
            "    app = VivaApp(warm=False, load_settings=False)\n"
            "    async with app.run_test() as pilot:\n"
            "        await pilot.pause()\n"
            "        print(json.dumps([m for m in ('torch','sentence_transformers','faster_whisper','piper',"
            "'openai','transformers') if m in sys.modules]))\n"
            "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
async def test_real_demo_runs_in_a_child_process(tmp_path: Path) -> None:
    """The demo screen with the real back end: torch runs in a child process, checks stream back."""
    from tui.screens.demo import DemoScreen
    from tui.services import Services

    app = VivaApp(Services(), clock=lambda: 0.0, load_settings=False, warm=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_demo("causal_mask")
        await wait_for(pilot, lambda: isinstance(app.screen, DemoScreen) and app.screen.is_mounted)
        assert "TITLE" in app.screen.info.source
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.finished is not None, tries=6000)
        scr = app.screen
        assert scr.finished == 0
        assert scr.checks and all(ok for _, ok, _ in scr.checks)
        assert f"{len(scr.checks)}/{len(scr.checks)} checks passed" in str(scr.query_one("#d-state").render())


@pytest.mark.slow
async def test_app_and_cli_run_a_demo_through_the_same_runner(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`viva demo run` and the app's demo screen both run a real demo through agent.demos._runner.events:
    the CLI with its per-demo time limit, the app with none."""
    import agent.demos._runner as runner
    from agent.cli import main
    from tui.screens.demo import DemoScreen
    from tui.services import Services

    calls: list[tuple[list[str], str, float | None]] = []
    real = runner.events

    def spy(names, device="auto", **kw):
        calls.append((list(names), device, kw.get("timeout")))
        yield from real(names, device, **kw)

    monkeypatch.setattr(runner, "events", spy)

    assert main(["demo", "run", "causal_mask", "--device", "cpu", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" not in out and "seed 3" in out

    app = VivaApp(Services(), clock=lambda: 0.0, load_settings=False, warm=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_demo("causal_mask")
        await wait_for(pilot, lambda: isinstance(app.screen, DemoScreen) and app.screen.is_mounted)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.finished is not None, tries=6000)
        assert app.screen.finished == 0
        assert app.screen.checks and all(ok for _, ok, _ in app.screen.checks)

    assert calls == [(["causal_mask"], "cpu", 60.0), (["causal_mask"], "auto", None)]


async def test_header_and_home_count_the_same_thing(bank, tmp_path: Path) -> None:
    """The home screen's count is topics; the header says 'Topic t/N · question q', never more topics than N
    (it once read 'Question 4/3': home counted topics, the header questions)."""
    import re

    from textual.widgets import Label, Static

    from tui.screens.followup import FollowUpScreen
    from tui.screens.interview import InterviewScreen
    from tui.screens.result import ResultScreen

    app, svc = make_app(bank, tmp_path, options=SessionConfig(n_questions=1))
    async with app.run_test(size=(100, 30)) as pilot:
        labels = [str(lbl.render()) for lbl in app.screen.query(Label)]
        assert any(text.startswith("Topics") for text in labels), labels
        await start(pilot)
        iv = svc.interviews[0]
        seen = []
        for _ in range(3):
            seen.append(str(app.screen.query_one("#q-meta", Static).render()))
            app.screen.query_one("#answer").text = answer_for(iv)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, FollowUpScreen)
                           or type(app.screen).__name__ == "HistoryScreen")
            if not isinstance(app.screen, FollowUpScreen):
                break
            head = str(app.screen.query_one("#f-head", Static).render())
            assert f"{len(iv.turns)} answered · 1 of 1 topics opened" in head
            picks = [k for k, c in enumerate(app.screen.choices) if not c.ends]
            if not picks:
                break
            before = iv.current.id
            for _ in range(picks[0]):
                await pilot.press("down")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, InterviewScreen) and app.screen.is_mounted
                           and iv.current.id != before)  # noqa: B023 (awaited here)
        assert len(seen) >= 2, "no follow-up was asked"
        for k, meta in enumerate(seen, start=1):
            m = re.match(r"Topic (\d+)/(\d+) · question (\d+)", meta)
            assert m and m.group(1) == m.group(2) == "1" and int(m.group(3)) == k, meta


async def test_quitting_from_a_result_prints_the_resume_hint(bank, tmp_path: Path) -> None:
    from tui.screens.result import ResultScreen

    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        iv = await answer_first(pilot, svc)
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.quit_note is not None and f"`viva resume {iv.session_id}`" in app.quit_note
    assert "1 answer(s) saved" in app.quit_note
    assert svc.store().latest_unfinished().id == iv.session_id


async def test_a_session_left_before_any_answer_is_not_left_open(bank, tmp_path: Path) -> None:
    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        await pilot.press("escape")  # home, without answering
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        await start(pilot)  # another session, again no answer
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.quit_note is None  # nothing to resume
    assert len(svc.interviews) == 2
    assert svc.store().sessions() == [] and svc.store().latest_unfinished() is None
