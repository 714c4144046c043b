"""The Textual application. First paint happens before any heavy import; models load in workers.

Only the home screen is imported up front; the other screens are imported when first shown. The back
end (:class:`tui.services.Services`) is called from thread workers that answer through messages.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from agent.session_config import SessionConfig
from tui.messages import GradeFailed, GradeReady, JudgeReady, ModelStatus, Notice
from tui.services import Services

if TYPE_CHECKING:
    from textual.timer import Timer

    from agent.answer import Answer
    from agent.config import Settings
    from agent.interview import Interview
    from agent.models import Question, Rubric
    from tui.screens.interview import InterviewScreen
    from tui.screens.result import ResultScreen

log = logging.getLogger(__name__)

THEMES = {"dark": "textual-dark", "light": "textual-light"}
# A typed answer is graded in a few tens of milliseconds once the grader is warm. Building the result screen at
# the same time would slow the grade down (both need the interpreter), so the screen is built when the grade
# arrives; only a grade slower than this shows the screen first, with "grading…".
RESULT_SCREEN_AFTER_S = 0.25


@dataclass
class GradeRequest:
    answer: Answer
    t0: float
    interview: Interview  # the session the answer belongs to (kept even if the user leaves the screen)
    screen: ResultScreen
    origin: InterviewScreen | None = None  # the question's screen, which the result screen replaces
    shown: bool = False  # the result screen has been shown (or the user left the question)
    timer: Timer | None = None


class VivaApp(App):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    TITLE = "viva"
    SUB_TITLE = "mock interviews for ML roles"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f2", "history", "History"),
        Binding("f3", "toggle_theme", "Theme"),
    ]

    def __init__(self, services: Services | None = None, *, clock: Callable[[], float] | None = None,
                 warm: bool = True, options: SessionConfig | None = None, load_settings: bool = True) -> None:
        super().__init__()
        self.services = services if services is not None else Services()
        self.clock = clock or time.monotonic
        self.warm = warm
        # what the home screen shows and starts; the settings fill it in unless it was given (the CLI's options)
        self.options = options if options is not None else SessionConfig()
        self._options_from_settings = options is None
        self.load_settings = load_settings
        self.interview: Interview | None = None
        self.model_state: dict[str, tuple[str, str]] = {"grader": ("waiting", "")}
        self._said: set[str] = set()
        self.first_paint: float | None = None
        self._keys = 0
        self.grade_lock = threading.Lock()
        # judge key -> the session, the recorded turn's index and the result screen showing it
        self._judge_turns: dict[int, tuple[Interview, int, ResultScreen]] = {}
        self._resume: Interview | None = None
        self._autostart = False
        self._gc_held = False
        self._grading: set[int] = set()  # id() of each GradeRequest whose grade has not arrived yet
        self._quit_after_grading = False
        self.quit_note: str | None = None  # what was said on quitting after a grade (also printed at exit)
        self.result_screen_after_s = RESULT_SCREEN_AFTER_S
        self.theme = THEMES["dark"]

    # ------------------------------------------------------------------ start-up
    def get_default_screen(self) -> Screen:
        from tui.screens.home import HomeScreen

        return HomeScreen()  # the first screen is the home screen itself: one screen to build before paint

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        self.first_paint = time.perf_counter()
        if self._gc_held:  # run_app (and `viva`) held collection off while the first screen was built
            self._gc_held = False
            gc.freeze()  # the start-up objects live as long as the app: keep them out of later collections
            gc.enable()
        if self.load_settings:
            self.load_user_settings()
        self.open_history()
        if self.warm:
            self.warm_grader()
        if self._resume is not None:
            iv, self._resume = self._resume, None
            self.resume_session(iv)
        elif self._autostart:
            self._autostart = False
            self.start_session(self.options)

    def resume_session(self, iv: Interview) -> None:
        """Continue an interrupted session (``viva resume``): its current question, or the follow-up choice
        when the question was answered just before the interruption."""
        from tui.screens.interview import InterviewScreen

        self.interview = iv
        self.notify(f"Resuming session {iv.session_id}: {len(iv.turns)} answer(s) so far.", timeout=6)
        if iv.config.voice and self.model_state.get("whisper", ("", ""))[0] not in ("ready", "loading"):
            self.warm_whisper()
        if iv.answered:
            from tui.screens.followup import FollowUpScreen

            self.push_screen(FollowUpScreen(list(iv.next_choices(3))))
            return
        self.push_screen(InterviewScreen())

    @work(thread=True, exclusive=True, group="settings")
    def load_user_settings(self) -> None:
        try:
            from agent.config import get_settings

            s = get_settings()
        except Exception as e:  # a broken config file must not stop the app
            self.post_message(Notice("settings", f"settings not loaded ({e}); using defaults"))
            return
        self.call_from_thread(self._apply_settings, s)

    def _apply_settings(self, s: Settings) -> None:
        from tui.screens.home import HomeScreen

        self.theme = THEMES.get(s.theme, THEMES["dark"])
        if not self._options_from_settings:  # the command line's options already hold the settings it used
            return
        self.options.n_questions = s.questions_per_session
        self.options.judge = s.judge
        self.options.voice = s.voice
        if isinstance(self.screen, HomeScreen):
            self.screen.refresh_options()

    @work(thread=True, exclusive=True, group="store")
    def open_history(self) -> None:
        """Open the history database after the first paint, so that a corrupt one set aside (and what was
        recovered from it) is said once at start-up rather than never."""
        from rich.markup import escape

        try:
            message = self.services.store_notice()
        except Exception as e:  # the history screen says it again when opened; the interview can still run
            self.post_message(Notice("store", escape(f"The history could not be opened: {e}"), "error"))
            return
        if message is not None:
            self.post_message(Notice("store-recovered", escape(message[0].upper() + message[1:])))

    @work(thread=True, exclusive=True, group="grader")
    def warm_grader(self) -> None:
        self.post_message(ModelStatus("grader", "loading", "loading the grader"))
        t0 = time.perf_counter()
        try:
            desc = self.services.warm_grader()
        except Exception as e:  # the app still opens; grading will try again and say why it failed
            log.warning("grader warm-up failed: %s", e)
            self.post_message(ModelStatus("grader", "failed", str(e)))
            return
        self.post_message(ModelStatus("grader", "ready", f"{desc} ({time.perf_counter() - t0:.1f}s)"))

    # ------------------------------------------------------------------ messages from workers
    def on_model_status(self, msg: ModelStatus) -> None:
        self.model_state[msg.name] = (msg.state, msg.detail)
        from tui.widgets.status import StatusLine

        if not self.screen_stack:  # the app is shutting down
            return
        for line in self.screen.query(StatusLine):
            line.refresh_state()
        if msg.state == "failed":
            self.say_once(f"model-{msg.name}", f"{msg.name} failed to load: {msg.detail}", "error")

    def on_notice(self, msg: Notice) -> None:
        self.say_once(msg.key, msg.text, msg.severity)

    def next_key(self) -> int:
        self._keys += 1
        return self._keys

    def say_once(self, key: str, text: str, severity: str = "warning") -> bool:
        """Tell the user ``text`` the first time ``key`` comes up; later calls are silent."""
        if key in self._said:
            return False
        self._said.add(key)
        log.info("notice %s: %s", key, text)
        self.notify(text, severity=severity, timeout=8)  # type: ignore[arg-type]
        return True

    def on_judge_ready(self, msg: JudgeReady) -> None:
        """The judge's result on a recorded turn: the core applies it (Interview.apply_judge: the stored grade
        becomes the blend, or stays the scorer's when the judge failed), then the result screen shows the
        refined turn and a follow-up screen showing may take in the judge's follow-up."""
        from tui.screens.followup import FollowUpScreen

        got = self._judge_turns.pop(msg.turn_key, None)
        if got is None:
            return
        iv, index, screen = got
        result = msg.result
        if not result.ok:
            self.say_once("judge-failed", f"The LLM judge could not be used ({result.failure}); "
                                          "showing the offline grade.")
        try:
            turn = iv.apply_judge(index, result)
        except Exception as e:  # the verdict is still shown; the history write failure is said
            self.say_once("store-judge", f"Could not save the judge's verdict to the history: {e}", "error")
            turn = None
        screen.show_judge(result, turn)
        if isinstance(self.screen, FollowUpScreen):
            self.screen.show_judge()

    # ------------------------------------------------------------------ judge worker (app-level: it outlives screens)
    @work(thread=True, group="judge")
    def run_judge(self, key: int, question: Question, rubric: Rubric, answer: str) -> None:
        try:
            result = self.services.judge(question, rubric, answer)
        except Exception as e:  # the judge module reports endpoint trouble itself; this is anything else
            from agent.grading.judge import JudgeResult

            result = JudgeResult(ok=False, model="", question_id=question.id, failure_kind="error",
                                 failure=f"{type(e).__name__}: {e}")
        self.post_message(JudgeReady(key, result))

    # ------------------------------------------------------------------ grading (app-level: it outlives the screen)
    def submit_answer(self, answer: Answer) -> None:
        """Grade a typed or spoken answer in a worker; the result screen replaces the question when the grade arrives (recorded first),
        or after ``result_screen_after_s`` with "grading…" when the grade is slow."""
        from tui.screens.interview import InterviewScreen
        from tui.screens.result import ResultScreen

        iv = self.interview
        assert iv is not None and iv.current is not None, "an answer is submitted to the session's current question"
        question = iv.current
        try:
            rubric = iv.rubric_for(question)
        except Exception:  # an inline follow-up without a rubric: the grader says what it can
            rubric = None
        screen = ResultScreen(question=question, rubric=rubric, answer=answer.text, insights=answer.insights)
        origin = self.screen if isinstance(self.screen, InterviewScreen) else None
        req = GradeRequest(answer, time.perf_counter(), iv, screen, origin=origin)
        self._grading.add(id(req))
        self.grade_answer(req, screen)
        req.timer = self.set_timer(self.result_screen_after_s, lambda: self._show_result(req))

    def _show_result(self, req: GradeRequest) -> None:
        """Replace the question's screen with the answer's result screen, once. When the user left the question
        meanwhile, nothing is shown (the grade is still recorded and said); when another screen (history) is on
        top of it, the question's screen shows the result when it comes back."""
        if req.shown:
            return
        req.shown = True
        if req.timer is not None:
            req.timer.stop()
        origin = req.origin
        if origin is None or self.screen is origin:
            self.switch_screen(req.screen)
        elif origin in self.screen_stack:
            origin.result_waiting = req.screen

    @work(thread=True, group="grade")
    def grade_answer(self, req: GradeRequest, screen: ResultScreen) -> None:
        # not exclusive: a newer submission must not cancel the grading (and so the saving) of an older one
        try:
            with self.grade_lock:
                grade = req.interview.grade(req.answer.text)
        except Exception as e:
            self.post_message(GradeFailed(f"{type(e).__name__}: {e}", req))
            return
        self.post_message(GradeReady(grade, time.perf_counter() - req.t0, req))

    def on_grade_ready(self, msg: GradeReady) -> None:
        req = msg.request
        iv, screen = req.interview, req.screen
        left = iv is not self.interview  # the user left the session while the answer was being graded
        question, rubric = screen.question, screen.rubric
        try:
            turn = iv.answer(req.answer, msg.grade)  # recorded with the scorer's grade; the judge refines it
        except Exception as e:  # the grade is still shown; the history write failure is said
            self.say_once("store", f"Could not save the answer to the history: {e}", "error")
            turn = None
        if req.answer.spoken:
            from agent.speech.capture import discard_recording

            discard_recording(req.answer)  # the history has kept its copy (keep_audio setting)
        key = self.next_key()
        judge_state = "off"
        if left:
            saved = "saved to the history" if turn is not None else "NOT saved (see the error above)"
            self.notify(f"Your answer to the question you left was graded {msg.grade.display:g}/5 and {saved}; "
                        f"`viva resume {iv.session_id}` continues that session.", timeout=10)
        if (turn is not None and iv.config.judge and rubric is not None
                and not self.services.judge_available()):
            self._judge_turns[key] = (iv, turn.index, screen)
            self.run_judge(key, question, rubric, req.answer.text)
            judge_state = "waiting"
        if screen.is_mounted and screen in self.screen_stack:
            screen.set_judge_state(key, judge_state)
            screen.fill(msg.grade, turn, msg.seconds)
        else:  # the screen fills itself in when it mounts
            screen.judge_key, screen.judge_state = key, judge_state
            screen.grade, screen.turn, screen.seconds = msg.grade, turn, msg.seconds
        if self._settled(req):
            self._quit_with(f"viva: your last answer was graded {msg.grade.display:g}/5 and "
                            f"{'saved' if turn is not None else 'NOT saved'}; "
                            f"`viva resume {iv.session_id}` continues the session.")
        elif not left:
            self._show_result(req)

    def on_grade_failed(self, msg: GradeFailed) -> None:
        req = msg.request
        screen = req.screen
        self.notify(f"Grading failed: {msg.error}", severity="error")
        if screen.is_mounted and screen in self.screen_stack:
            screen.show_failure(msg.error)
        else:
            screen.failed = msg.error
        if self._settled(req):
            self._quit_with(f"viva: your last answer could not be graded ({msg.error}), so it was not saved.")
        elif req.interview is self.interview:
            self._show_result(req)  # it offers to edit the answer and submit it again

    def _settled(self, req: GradeRequest) -> bool:
        """A grade (or its failure) is in: whether the app now quits (ctrl+q came while it was graded)."""
        self._grading.discard(id(req))
        return self._quit_after_grading and not self._grading

    def _quit_with(self, note: str) -> None:
        self.quit_note = note
        self.exit(message=note)

    def resume_hint(self) -> str | None:
        """How to continue the session in hand, printed on quitting (None: no answer was stored, or the
        session is finished: then there is nothing to continue)."""
        iv = self.interview
        if iv is None or iv.finished or not iv.turns:
            return None
        return (f"viva: session {iv.session_id} has {len(iv.turns)} answer(s) saved; "
                f"`viva resume {iv.session_id}` continues it.")

    async def action_quit(self) -> None:
        """Quit; an answer still being graded is graded and saved first (a second ctrl+q quits at once)."""
        if not self._grading or self._quit_after_grading:
            # from any screen (a result, the follow-up choice, home): how to come back is printed at exit
            note = self.resume_hint()
            if note is not None:
                self.quit_note = note
            self.exit(message=note)
            return
        self._quit_after_grading = True
        self.notify("Saving your answer first: the app quits as soon as it is graded "
                    "(ctrl+q again quits now, without it).", timeout=10)

    # ------------------------------------------------------------------ navigation
    def start_session(self, options: SessionConfig) -> None:
        from tui.screens.interview import InterviewScreen

        self.options = options
        try:
            # a copy: the session's config stays as started whatever the home screen (or the settings) change
            self.interview = iv = self.services.new_interview(dataclasses.replace(options))
            iv.start()
        except Exception as e:
            self.notify(f"Could not start the session: {e}", severity="error", timeout=10)
            log.exception("session start failed")
            return
        if options.judge:
            reason = self.services.judge_available()
            if reason:
                self.say_once("judge-off", reason)
        if iv.notice:
            self.say_once(f"interview-{iv.notice}", iv.notice, "information")
        if options.voice and self.model_state.get("whisper", ("", ""))[0] not in ("ready", "loading"):
            self.warm_whisper()
        self.push_screen(InterviewScreen())

    @work(thread=True, exclusive=True, group="whisper")
    def warm_whisper(self) -> None:
        self.post_message(ModelStatus("whisper", "loading", "loading the speech model"))
        try:
            desc = self.services.warm_whisper()
        except Exception as e:  # typed answers still work; the failure is said once
            self.post_message(ModelStatus("whisper", "failed", f"{e}; answer by typing"))
            return
        self.post_message(ModelStatus("whisper", "ready", desc))

    def show_question(self) -> None:
        """Show the interview's current question (after a follow-up choice or a skip) or the summary."""
        from tui.screens.interview import InterviewScreen

        if self.interview is None or self.interview.finished or self.interview.current is None:
            self.session_over()
            return
        self.switch_screen(InterviewScreen())

    def session_over(self) -> None:
        from tui.screens.history import HistoryScreen

        turns = list(self.interview.turns) if self.interview is not None else []
        if turns:
            mean = sum(t.grade.display for t in turns) / len(turns)
            self.notify(f"Session finished: {len(turns)} answers, mean {mean:.1f}/5", timeout=8)
        else:
            self.notify("Session finished.", timeout=5)
        self.interview = None
        self.switch_screen(HistoryScreen(back_home=True))

    def action_history(self) -> None:
        from tui.screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def action_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_toggle_theme(self) -> None:
        self.theme = THEMES["light"] if self.theme == THEMES["dark"] else THEMES["dark"]

    def action_demo(self, name: str) -> None:
        from tui.screens.demo import DemoScreen

        self.push_screen(DemoScreen(name))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("History and progress", "Past sessions, mastery and the cold-answer goal",
                            self.action_history)
        yield SystemCommand("Home", "Back to the start screen", self.action_home)
        yield SystemCommand("Toggle light/dark theme", "Switch between the light and dark theme",
                            self.action_toggle_theme)
        try:
            from agent.demos import demo_names

            names = demo_names()
        except Exception:  # demos are optional to the palette
            names = []
        for name in names:
            yield SystemCommand(f"Demo: {name.replace('_', ' ')}", f"Open the {name} PyTorch demo",
                                lambda n=name: self.action_demo(n), discover=False)


def run_app(options: SessionConfig | None = None, interview: Interview | None = None) -> int:
    """Open the app. With ``options`` (``viva interview --mode ...``) a session with them starts at once;
    with ``interview`` (``viva resume``) that session continues."""
    gc.disable()  # the first screen allocates many long-lived objects; collection resumes after its paint
    app = VivaApp(options=options)
    app._gc_held = True
    if interview is not None:
        app._resume = interview
    elif options is not None:
        app._autostart = True
    app.run()
    return 0
