"""One session config from the command line and the settings to the app: `viva interview` opening the app keeps
every option it was given (the follow-up depth included), and the home screen starts from the settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_tui import make_app, start, wait_for  # noqa: E402
from test_tui_fakes import FakeServices  # noqa: E402

from agent.config import reset_settings  # noqa: E402
from agent.session_config import SessionConfig  # noqa: E402
from tui.app import VivaApp  # noqa: E402


def options_from_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> SessionConfig:
    """What `viva interview ARGV` hands the app when the terminal can run it."""
    import tui.app
    from agent.cli import main

    got: list[SessionConfig | None] = []
    monkeypatch.setattr("agent.commands.interview._tui_possible", lambda: True)
    monkeypatch.setattr(tui.app, "run_app", lambda options=None, interview=None: got.append(options) or 0)
    assert main(["interview", *argv]) == 0
    (options,) = got
    assert isinstance(options, SessionConfig)
    return options


def test_cli_hands_the_app_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVA_VOICE", "false")
    reset_settings()
    opts = options_from_cli(monkeypatch, "--mode", "practice", "--n", "3", "--section", "A", "--topic", "soft",
                            "--seed", "4", "--time-limit", "10", "--depth", "1", "--judge")
    assert opts == SessionConfig(mode="practice", n_questions=3, section="A", topic="soft", seed=4,
                                 time_limit_s=600, max_depth=1, judge=True, voice=False)
    monkeypatch.setenv("VIVA_VOICE", "true")
    reset_settings()
    assert options_from_cli(monkeypatch).voice  # the app answers aloud when the voice setting says so
    assert not options_from_cli(monkeypatch, "--no-voice").voice  # the command line overrides the setting
    monkeypatch.setenv("VIVA_VOICE", "false")
    reset_settings()
    assert options_from_cli(monkeypatch, "--voice").voice


async def test_app_runs_with_the_depth_given_on_the_command_line(bank, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    opts = options_from_cli(monkeypatch, "--depth", "0", "--n", "3", "--seed", "2")
    opts.voice = False  # the pilot answers by typing
    app, svc = make_app(bank, tmp_path, options=opts)
    app._autostart = True  # as run_app does when it is given options
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InterviewScreen")
        first = svc.interviews[0]
        assert first.config.max_depth == 0 and first.policy.max_depth == 0  # not the mock default (2)
        assert first.config.seed == 2 and first.config.n_questions == 3
        # a session started again from the home screen keeps what the form does not show
        app.action_home()
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        await start(pilot)
        second = svc.interviews[1]
        assert second.policy.max_depth == 0 and second.config.seed == 2
        assert second.config is not app.options  # the running session's config is its own
        await wait_for(pilot, lambda: bool(app.screen.query("#answer")))  # mounted before the app closes


@pytest.mark.parametrize("voice,judge,n", [(True, False, 8), (False, True, 3)])
async def test_home_starts_from_the_settings(bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             voice: bool, judge: bool, n: int) -> None:
    from textual.widgets import Select, Switch

    for name, value in {"VOICE": voice, "JUDGE": judge, "QUESTIONS_PER_SESSION": n, "THEME": "light"}.items():
        monkeypatch.setenv(f"VIVA_{name}", str(value).lower())
    reset_settings()
    svc = FakeServices(bank, tmp_path / "history.sqlite3")
    app = VivaApp(svc, clock=lambda: 0.0, warm=False)  # no options given: the settings fill the home screen
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.theme == "textual-light")  # the settings have arrived
        await pilot.pause()
        home = app.screen
        assert home.query_one("#voice", Switch).value is voice
        assert home.query_one("#judge", Switch).value is judge
        assert home.query_one("#count", Select).value == n
        chosen = home.current_options()
        assert (chosen.voice, chosen.judge, chosen.n_questions) == (voice, judge, n)


async def test_options_given_to_the_app_are_not_overridden_by_the_settings(
        bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import Select, Switch

    for name, value in {"VOICE": "true", "JUDGE": "true", "QUESTIONS_PER_SESSION": "8", "THEME": "light"}.items():
        monkeypatch.setenv(f"VIVA_{name}", value)
    reset_settings()
    svc = FakeServices(bank, tmp_path / "history.sqlite3")
    app = VivaApp(svc, clock=lambda: 0.0, warm=False, options=SessionConfig(n_questions=3))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.theme == "textual-light")
        await pilot.pause()
        assert not app.screen.query_one("#voice", Switch).value
        assert not app.screen.query_one("#judge", Switch).value
        assert app.screen.query_one("#count", Select).value == 3
