"""Snapshots of every screen at 100x30 and 80x24 (fixed clock, fixed data: deterministic).

Update them after a deliberate UI change with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_tui import answer_for, make_app, seed_history, wait_for  # noqa: E402
from test_tui_fakes import judged  # noqa: E402

from agent.session_config import SessionConfig  # noqa: E402

SIZES = [(100, 30), (80, 24)]


async def _settle(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.model_state["grader"][0] == "ready")
    await pilot.pause()
    for ta in pilot.app.screen.query("TextArea"):
        ta.cursor_blink = False
    await pilot.pause()


async def _to_interview(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.model_state["grader"][0] == "ready")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "InterviewScreen")
    await wait_for(pilot, lambda: pilot.app.screen.prepared)


async def _to_result(pilot) -> None:
    await _to_interview(pilot)
    app = pilot.app
    app.screen.query_one("#answer").text = answer_for(app.interview) + (
        " We only compute the loss on the last token.")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ResultScreen")


@pytest.fixture(scope="module")
def bank():
    """A fixed copy of five bank items, so the snapshots do not move when the packaged bank grows."""
    from agent.bank import load_bank

    return load_bank([Path(__file__).parent / "data" / "tui_bank"], packaged=False)


def _app(bank, tmp_path, **kw):
    return make_app(bank, tmp_path, **kw)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home(snap_compare, bank, tmp_path, size) -> None:
    app, _ = _app(bank, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_settle)


def test_home_light_theme(snap_compare, bank, tmp_path) -> None:
    app, _ = _app(bank, tmp_path)

    async def run_before(pilot):
        await pilot.press("f3")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_interview(snap_compare, bank, tmp_path, size) -> None:
    app, _ = _app(bank, tmp_path)

    async def run_before(pilot):
        await _to_interview(pilot)
        pilot.app.screen.query_one("#answer").text = "It is the cross-entropy of the next token"
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_result(snap_compare, bank, tmp_path, size) -> None:
    app, _ = _app(bank, tmp_path)

    async def run_before(pilot):
        await _to_result(pilot)
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_result_voice_and_judge(snap_compare, bank, tmp_path) -> None:
    app, svc = _app(bank, tmp_path, judge=judged(4.0, "names the loss and the shift"),
                    options=SessionConfig(n_questions=3, voice=True, judge=True))

    async def run_before(pilot):
        await _to_interview(pilot)
        wav = tmp_path / "a.wav"
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".txt").write_text(answer_for(pilot.app.interview))
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "AudioFileScreen")
        pilot.app.screen.query_one("#audio-path").value = str(wav)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ResultScreen")
        await wait_for(pilot, lambda: "4.0/5" in str(pilot.app.screen.query_one("#judge").render()))
        pilot.app.screen.query_one("#result").scroll_end(animate=False)
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


async def _to_voice_result(pilot, tmp_path) -> None:
    await _to_interview(pilot)
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    wav.with_suffix(".txt").write_text(answer_for(pilot.app.interview))
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "AudioFileScreen")
    pilot.app.screen.query_one("#audio-path").value = str(wav)
    await pilot.press("enter")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ResultScreen")
    await wait_for(pilot, lambda: pilot.app.screen.query_one("#coaching").display)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_coaching_panel(snap_compare, bank, tmp_path, size) -> None:
    """A spoken answer's result, scrolled to the coaching panel: the missing idea and the ranked delivery notes."""
    app, _ = _app(bank, tmp_path, options=SessionConfig(n_questions=3, voice=True))

    async def run_before(pilot):
        await _to_voice_result(pilot, tmp_path)
        await _settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#result").scroll_to_widget(screen.query_one("#coaching"), animate=False, top=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_followup(snap_compare, bank, tmp_path, size) -> None:
    app, _ = _app(bank, tmp_path)

    async def run_before(pilot):
        await _to_result(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "FollowUpScreen")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_demo(snap_compare, bank, tmp_path, size) -> None:
    app, _ = _app(bank, tmp_path)

    async def run_before(pilot):
        await _settle(pilot)
        pilot.app.action_demo("causal_mask")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "DemoScreen")
        await pilot.press("r")
        await wait_for(pilot, lambda: pilot.app.screen.finished is not None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_history(snap_compare, bank, tmp_path, size) -> None:
    app, svc = _app(bank, tmp_path)
    seed_history(svc, bank)

    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HistoryScreen")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_review(snap_compare, bank, tmp_path, size) -> None:
    app, svc = _app(bank, tmp_path)
    seed_history(svc, bank)

    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HistoryScreen")
        pilot.app.screen.query_one("#sessions").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ReviewScreen")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_audio_file_dialog(snap_compare, bank, tmp_path) -> None:
    app, _ = _app(bank, tmp_path)

    async def run_before(pilot):
        await _to_interview(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "AudioFileScreen")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
