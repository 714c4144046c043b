"""Interview: the question (spoken when voice is on), a typed or spoken answer, elapsed time, model status."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea
from textual.worker import get_current_worker

from agent.answer import Answer
from tui.messages import (
    AudioLevel,
    Notice,
    TranscriptDone,
    TranscriptSegment,
    VoiceFailed,
)
from tui.services import Unavailable
from tui.widgets.meters import LevelMeter
from tui.widgets.status import StatusLine, TitleBar

if TYPE_CHECKING:
    from agent.interview import Interview
    from agent.models import Question


def fmt_elapsed(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60:02d}:{s % 60:02d}"


DRAFT_IDLE_S = 0.6  # a draft is graded once it has stood this long unchanged


class InterviewScreen(Screen):
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", priority=True),
        Binding("ctrl+r", "talk", "Talk", priority=True),
        Binding("ctrl+o", "from_file", "Audio file", priority=True),
        Binding("ctrl+l", "replay", "Replay", priority=True),
        Binding("ctrl+t", "hint", "Hint", priority=True),
        Binding("ctrl+n", "skip", "Skip", priority=True),
        Binding("escape", "leave", "Leave"),
    ]

    def __init__(self, prefill: str = "") -> None:
        super().__init__()
        self.prefill = prefill
        self.started = 0.0
        self.busy = False
        self.recording: threading.Event | None = None
        self.prepared = False
        self.submitted = False
        self.drafts_graded = 0  # drafts graded ahead of the answer (tests and benchmarks read this)
        self._draft_timer = None
        self.result_waiting: Screen | None = None  # a result that came while another screen was on top

    @property
    def interview(self) -> Interview | None:
        """The app's session (None once the user has left it)."""
        return self.app.interview

    def compose(self) -> ComposeResult:
        q = self.interview.current
        yield TitleBar()
        with VerticalScroll(id="interview"):
            with Horizontal(id="q-bar"):
                yield Static(self._meta(q), id="q-meta")
                yield Static("00:00", id="elapsed")
            yield Static(Text(q.prompt), id="prompt")
            yield Static("", id="hint")
            yield TextArea(id="answer", placeholder="Type your answer here, then ctrl+s to submit "
                           "(ctrl+r to answer aloud).", soft_wrap=True)
            yield LevelMeter(id="level")
            yield Static("", id="voice-line")
        yield StatusLine(id="model-status")
        yield Footer()

    def _meta(self, q: Question) -> Text:
        t = Text()
        t.append(self.interview.progress, style="bold")  # counts what the home screen's Topics counts
        t.append(f"  ·  {q.section} · {q.topic} · {q.difficulty}", style="grey62")
        return t

    def on_mount(self) -> None:
        self.started = self.app.clock()
        self.set_interval(1.0, self._tick)
        self.query_one("#hint").display = False
        voice = self.interview.config.voice  # the session's own choice (a resumed one keeps what it had)
        self.query_one("#level").display = voice
        ta = self.query_one("#answer", TextArea)
        if self.prefill:
            ta.text = self.prefill
        ta.focus()
        if voice:
            self.speak(self.interview.current.prompt)
        self.prepare_grader()

    @work(thread=True, exclusive=True, group="prepare")
    def prepare_grader(self) -> None:
        """Grade a throwaway answer while the candidate reads and types, so the rubric's exemplars are embedded
        before the real answer arrives (pure: nothing is recorded)."""
        with self.app.grade_lock:
            if self.interview is None or self.interview.current is None or self.busy:
                return
            try:
                self.interview.grade("warming up")
            except Exception as e:  # the real grade will say what is wrong
                self.log.warning(f"grader warm-up failed: {e}")
        self.prepared = True

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        """A typed draft that stands for ``DRAFT_IDLE_S`` is graded in the background, so that when the answer is
        submitted the models have read most of its sentences and only what changed since is read again (the grade
        is the same either way). The transcript shown while the candidate speaks is not: there Whisper needs the
        CPU, and grading drafts beside it made the spoken answer's grade arrive later, not sooner (bench_tui)."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        text = event.text_area.text
        if (self.submitted or self.recording is not None or len(text.split()) < 3
                or not self._grade_drafts()):
            return
        self._draft_timer = self.set_timer(DRAFT_IDLE_S, lambda: self.grade_draft(text))

    @staticmethod
    def _grade_drafts() -> bool:
        from agent.config import get_settings

        try:
            return get_settings().grade_drafts
        except Exception:  # noqa: BLE001 - a bad settings file is reported where the settings are read
            return False

    @work(thread=True, exclusive=True, group="prepare")
    def grade_draft(self, text: str) -> None:
        """Grade a draft of the answer (pure: nothing is recorded, the result is dropped). A newer draft or the
        answer itself makes this one moot: it is skipped if either came while it waited for the grader."""
        worker = get_current_worker()
        with self.app.grade_lock:
            if worker.is_cancelled or self.submitted or self.interview is None or self.interview.current is None:
                return
            try:
                self.interview.grade(text)
            except Exception as e:  # the real grade will say what is wrong
                self.log.warning(f"draft grading failed: {e}")
                return
        self.drafts_graded += 1

    def on_screen_resume(self) -> None:
        if self.result_waiting is not None:
            screen, self.result_waiting = self.result_waiting, None
            self.app.call_later(self.app.switch_screen, screen)  # by the app: this screen is the one replaced

    def _tick(self) -> None:
        iv = self.interview
        limit = iv.config.time_limit_s if iv is not None else None
        if iv is None or not limit:
            self.query_one("#elapsed", Static).update(fmt_elapsed(self.app.clock() - self.started))
            return
        left = limit - iv.elapsed_s
        self.query_one("#elapsed", Static).update(Text(f"{fmt_elapsed(left)} left", style="red" if left <= 60
                                                       else ""))
        if left <= 0:
            self.app.say_once(f"time-up-{iv.session_id}", "Time is up: submit this answer (ctrl+s) and the "
                              "session ends with a summary.", "warning")

    def _voice_line(self, text: str | Text) -> None:
        self.query_one("#voice-line", Static).update(text)

    # ------------------------------------------------------------------ speech out
    @work(thread=True, exclusive=True, group="tts")
    def speak(self, text: str) -> None:
        try:
            self.app.services.speak(text, on_status=lambda m: self.app.post_message(Notice("tts", m)))
        except Exception as e:  # no voice extra or no speaker: the question is on screen anyway
            self.app.post_message(Notice("tts", f"{e}. Questions are shown in text."))

    def action_replay(self) -> None:
        self.speak(self.interview.current.prompt)

    # ------------------------------------------------------------------ typed answer
    def action_submit(self) -> None:
        answer = self.query_one("#answer", TextArea).text
        if self.busy:
            return
        if not answer.strip():
            self.app.notify("Type an answer first (or ctrl+n to skip the question).", severity="warning")
            return
        self._submit(Answer.typed(answer))

    def _submit(self, answer: Answer) -> None:
        self.busy = True
        self.submitted = True
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        self.query_one("#answer", TextArea).read_only = True
        self.app.submit_answer(answer)

    # ------------------------------------------------------------------ spoken answer
    def action_talk(self) -> None:
        """Push-to-talk: the first press starts recording, a pause (or a second press) ends it."""
        if self.recording is not None:
            self.recording.set()
            self._voice_line(Text("stopping…", style="yellow"))
            return
        if self.busy:
            return
        self._start_listening(None)

    def action_from_file(self) -> None:
        from tui.screens.audio_file import AudioFileScreen

        if self.busy or self.recording is not None:
            return

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._start_listening(path)

        self.app.push_screen(AudioFileScreen(), chosen)

    def _start_listening(self, audio_file: Path | None) -> None:
        self.busy = True
        self.recording = threading.Event()
        lm = self.query_one("#level", LevelMeter)
        lm.display = True
        lm.active = True
        if audio_file is None:
            self._voice_line(Text("● recording — speak now; a pause ends the answer (ctrl+r stops)", style="red"))
        else:
            self._voice_line(Text(f"● playing {audio_file.name} into the recorder…", style="red"))
        self.listen(self.recording, audio_file)

    @work(thread=True, exclusive=True, group="voice")
    def listen(self, stop: threading.Event, audio_file: Path | None) -> None:
        """Record (or feed the file), endpoint, and transcribe while speaking; then submit the transcript."""
        from agent.speech.capture import NothingHeard
        from tui.messages import ModelStatus

        iv = self.interview
        qid = iv.current.id if iv is not None and iv.current is not None else None
        self.app.post_message(ModelStatus("whisper", "busy", "listening"))
        try:
            ans = self.app.services.listen(qid, lambda level: self.post_message(AudioLevel(level)),
                                           lambda text: self.post_message(TranscriptSegment(text)), stop,
                                           audio_file=audio_file)
        except NothingHeard as e:
            self.app.post_message(ModelStatus("whisper", "ready", ""))
            self.post_message(VoiceFailed(str(e), nothing_heard=True))
            return
        except Exception as e:
            self.app.post_message(ModelStatus("whisper", "ready" if isinstance(e, Unavailable) else "failed",
                                              str(e)))
            self.post_message(VoiceFailed(str(e)))
            return
        self.app.post_message(ModelStatus("whisper", "ready", ""))
        self.post_message(TranscriptDone(ans))

    def on_audio_level(self, msg: AudioLevel) -> None:
        self.query_one("#level", LevelMeter).level = msg.level

    def on_transcript_segment(self, msg: TranscriptSegment) -> None:
        if not msg.text:
            return
        ta = self.query_one("#answer", TextArea)
        ta.read_only = True
        ta.text = msg.text  # the whole transcript so far, read again as the answer grows
        self._voice_line(Text("transcribing…", style="cyan"))

    def on_transcript_done(self, msg: TranscriptDone) -> None:
        self.recording = None
        self.query_one("#level", LevelMeter).active = False
        self.busy = False
        self.query_one("#answer", TextArea).text = msg.answer.text
        self._submit(msg.answer)

    def on_voice_failed(self, msg: VoiceFailed) -> None:
        self.recording = None
        self.busy = False
        self.query_one("#level", LevelMeter).active = False
        self.query_one("#answer", TextArea).read_only = False
        if msg.nothing_heard:  # voice stays on: another try may work
            self._voice_line(Text(f"{msg.error} (ctrl+r)", style="yellow"))
            return
        self._voice_line(Text("voice unavailable — type your answer", style="yellow"))
        self.app.say_once("voice-failed", f"{msg.error}. The interview goes on in text.")

    # ------------------------------------------------------------------ other actions
    def action_hint(self) -> None:
        if self.busy:  # the answer is in: a hint now would change how it is recorded
            return
        try:
            hint = self.interview.hint()
        except Exception as e:
            self.app.notify(f"No hint: {e}", severity="warning")
            return
        h = self.query_one("#hint", Static)
        h.update(Text(f"hint: {hint}", style="italic yellow"))
        h.display = True

    def action_skip(self) -> None:
        if self.busy:
            return
        self.interview.skip()
        self.app.show_question()

    def action_leave(self) -> None:
        if self.recording is not None:
            self.recording.set()
        self.app.interview = None
        self.app.pop_screen()
