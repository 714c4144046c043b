"""Result: the grade, one row per concept with its evidence highlighted in the answer, misconceptions, the
judge's verdict (updated in place), voice insights, the model answer, and a demo per concept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Sparkline, Static

from agent.grade_view import VoiceFacts, grade_view, voice_facts
from tui.widgets.coaching import coaching_text
from tui.widgets.evidence import VERDICT_STYLE, concept_colour, highlighted_answer
from tui.widgets.meters import GradeGauge, grade_colour
from tui.widgets.status import TitleBar

if TYPE_CHECKING:
    from agent.grade_view import GradeView
    from agent.grading.judge import JudgeResult
    from agent.models import Grade, Question, Rubric, Turn
    from agent.speech.insights import InsightsDict


def insight_lines(voice: VoiceFacts) -> tuple[Text, list[float]]:
    """A one-line summary of a spoken answer's delivery (pace, fillers, pauses, hedges) and the pace series
    (words per minute per window) for the sparkline."""
    t = Text()
    if voice.wpm is not None:
        t.append("pace ", style="bold")
        t.append(f"{voice.wpm:.0f} wpm", style="green" if 110 <= voice.wpm <= 170 else "yellow")
    t.append("  fillers ", style="bold")
    t.append(str(voice.filler_count))
    if voice.filler_words:
        t.append(f" ({', '.join(voice.filler_words[:3])})", style="grey62")
    t.append("  long pauses ", style="bold")
    t.append(str(voice.long_pauses))
    if voice.hedges:
        t.append("  hedges ", style="bold")
        t.append(str(voice.hedges))
    return t, list(voice.pace_series)


def repair_line(voice: VoiceFacts) -> Text | None:
    """The rubric terms read from near-miss spellings: "heard 'proplexed it', read as 'perplexity'"."""
    if not voice.repairs:
        return None
    t = Text()
    for i, r in enumerate(voice.repairs):
        t.append("; " if i else "")
        t.append("heard ", style="grey62")
        t.append(f"'{r.heard}'", style="yellow")
        t.append(", read as ", style="grey62")
        t.append(f"'{r.read_as}'", style="bold")
    return t


class ResultScreen(Screen):
    AUTO_FOCUS = "#concepts"  # focused while grading, so that showing the grade changes no focus (no restyle)
    BINDINGS = [
        Binding("n", "next", "Next"),
        Binding("e", "edit", "Edit", show=False),
        Binding("m", "model_answer", "Model answer"),
        Binding("d", "demo", "Run demo"),
        Binding("escape", "leave", "Home"),
    ]

    def __init__(self, *, question: Question, rubric: Rubric | None, answer: str, grade: Grade | None = None,
                 turn: Turn | None = None, judge_key: int = 0, judge_state: str = "off",
                 insights: InsightsDict | None = None, seconds: float | None = None) -> None:
        """``grade=None`` shows the screen at once with "grading…"; :meth:`fill` adds the grade when it comes
        (the screen is built while the grader works)."""
        super().__init__()
        self.question = question
        self.rubric = rubric
        self.answer = answer
        self.grade = grade
        self.turn = turn
        self.judge_key = judge_key
        self.judge_state = judge_state
        self.judge_result: JudgeResult | None = None  # the LLM judge's result, once it is in
        self.insights = insights
        self.voice = voice_facts(insights)  # None for a typed answer
        self.view: GradeView | None = None  # the grade as shown, once it is in
        self.seconds = seconds
        self.failed: str | None = None
        self.highlight = Text(answer)
        self.demos: dict[str, str] = {}
        if rubric is not None:
            self.demos = {c.id: c.demo for c in rubric.concepts if c.demo}

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with VerticalScroll(id="result"):
            yield Static(Text(self.question.prompt, style="bold"), id="r-question")
            with Horizontal(id="r-grade-bar"):
                yield GradeGauge(0.0, "grade", id="grade")
                yield Static(self._judge_text(), id="judge")
            yield Static("", id="flags")
            yield DataTable(id="concepts", cursor_type="row", zebra_stripes=False)
            yield Static("", id="coaching")
            if self.voice is not None:
                summary, series = insight_lines(self.voice)
                with Vertical(id="insights"):
                    yield Static(summary, id="insight-line")
                    repairs = repair_line(self.voice)
                    if repairs is not None:
                        yield Static(repairs, id="repairs")
                    if len(series) >= 2:
                        yield Sparkline(series, id="pace", summary_function=max)
            yield Static(self.highlight, id="answer-hl")
            yield Static("", id="misconceptions")
            yield Static("", id="feedback")
            yield Static(Text(self.question.model_answer), id="model-answer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#model-answer").display = False
        self.query_one("#model-answer", Static).border_title = "model answer"
        if self.voice is not None:
            self.query_one("#insights").border_title = "voice: pace over time"
        self.query_one("#answer-hl", Static).border_title = "your answer (evidence in each concept's colour)"
        self.query_one("#misconceptions").display = False
        self.query_one("#feedback").display = False
        self.query_one("#coaching").display = False
        self.query_one("#coaching", Static).border_title = "coaching"
        self.query_one("#concepts", DataTable).add_columns(" ", "verdict", "concept", "demo")
        if self.grade is not None:
            self.fill(self.grade, self.turn, self.seconds)
        elif self.failed is not None:
            self.show_failure(self.failed)
        else:
            gauge = self.query_one("#grade", GradeGauge)
            gauge.display = False
            self.query_one("#flags", Static).update(Text("grading…", style="cyan"))

    def fill(self, grade: Grade, turn: Turn | None = None, seconds: float | None = None, *,
             opening: bool = True) -> None:
        """Show ``grade``: gauge, flags and notes, one row per concept, evidence, misconceptions, feedback.
        ``opening`` False (the judge's refined grade replacing the first one) keeps the scroll position."""
        self.grade, self.turn, self.seconds = grade, turn, seconds
        view = self.view = grade_view(grade, turn, self.rubric, answer=self.answer, insights=self.insights)
        gauge = self.query_one("#grade", GradeGauge)
        gauge.label = "blended" if turn is not None and turn.judged else "grade"
        gauge.score = view.display
        gauge.display = True
        t = Text()
        if view.flags:
            t.append("flags: " + ", ".join(view.flags), style="yellow")
        for note in view.notes:
            t.append(("\n" if t.plain else "") + f"note: {note}", style="grey62")
        self._show_part("#flags", t)
        table = self.query_one("#concepts", DataTable)
        table.clear()
        for r in view.concepts:
            mark, colour = VERDICT_STYLE.get(r.verdict, ("?", "white"))
            # the entailment model's probability that the evidence states the concept, when it decided
            p = f" {r.p_states:.2f}" if r.p_states is not None else ""
            table.add_row(Text("██", style=concept_colour(r.index)), Text(f"{mark} {r.verdict}{p}", style=colour),
                          Text(r.name, overflow="ellipsis"), Text(f"▶ {r.demo}" if r.demo else "", style="cyan"),
                          key=r.concept_id)
        self.highlight = highlighted_answer(self.answer, view)
        self.query_one("#answer-hl", Static).update(self.highlight)
        self._show_part("#misconceptions", self._misconceptions(view))
        self._show_part("#feedback", Text("\n".join(f"• {line}" for line in view.feedback)))
        self._show_part("#coaching", coaching_text(view.coaching))
        self.query_one("#judge", Static).update(self._judge_text())
        if not opening:
            return
        table.focus(scroll_visible=False)
        # the grade opens the screen: a long result (voice insights, many concepts) must not open scrolled down
        scroller = self.query_one("#result", VerticalScroll)
        scroller.scroll_home(animate=False)
        self.call_after_refresh(scroller.scroll_home, animate=False)

    def _show_part(self, selector: str, content: Text) -> None:
        """Put ``content`` in one of the result's text parts; a part with nothing to say is hidden."""
        part = self.query_one(selector, Static)
        part.update(content)
        part.display = bool(content)

    def show_failure(self, error: str) -> None:
        self.failed = error
        self.query_one("#flags", Static).update(
            Text(f"grading failed: {error}\nyour answer is kept: press e to edit and submit it again", style="red"))

    def set_judge_state(self, key: int, state: str) -> None:
        self.judge_key, self.judge_state = key, state
        self.query_one("#judge", Static).update(self._judge_text())

    @staticmethod
    def _misconceptions(view: GradeView) -> Text:
        t = Text()
        for i, m in enumerate(view.misconceptions):
            if i:
                t.append("\n")
            if m.corrected:
                t.append("✔ you rejected: ", style="green")
                t.append(m.claim)
                continue
            t.append("✘ misconception: ", style="bold red")
            t.append(m.claim)
            t.append("\n  correction: ", style="bold green")
            t.append(m.correction)
        return t

    # ------------------------------------------------------------------ judge
    def _judge_text(self) -> Text:
        t = Text("  ")
        if self.judge_state == "off":
            t.append("judge off", style="grey50")
            return t
        res = self.judge_result
        if res is None:
            t.append("judge: waiting for the LLM judge…", style="cyan")
            return t
        if not res.ok:
            t.append(f"judge failed: {res.failure or 'no result'}", style="red")
            return t
        score = res.effective_grade if res.effective_grade is not None else res.grade
        t.append("judge: ", style="bold")
        if score is not None:
            t.append(f"{score:.1f}/5", style=f"bold {grade_colour(score)}")
        if res.feedback:
            t.append(f"  {res.feedback}")
        return t

    def show_judge(self, result: JudgeResult, turn: Turn | None) -> None:
        """The LLM judge's result came in: its line, and the refined turn (the stored grade is now the blend;
        ``turn`` None when it could not be saved). Before the screen is mounted it is kept for ``fill``."""
        self.judge_result = result
        if turn is not None:
            self.grade, self.turn = turn.grade, turn
        if not self.is_mounted or self not in self.app.screen_stack:  # not shown yet, or already left
            return
        if self.grade is not None and turn is not None:
            self.fill(turn.grade, turn, self.seconds, opening=False)
        else:
            self.query_one("#judge", Static).update(self._judge_text())

    # ------------------------------------------------------------------ actions
    def action_model_answer(self) -> None:
        if self.grade is None:
            return  # revealing it before the answer is recorded would mark the attempt not cold
        box = self.query_one("#model-answer", Static)
        iv = self.app.interview
        if not box.display and iv is not None:
            try:
                text = iv.reveal_model_answer()
                if text:
                    box.update(Text(text))
            except Exception:  # the session may be over; the bank text is shown anyway
                pass
        box.display = not box.display
        if box.display:
            self.query_one("#result", VerticalScroll).scroll_to_widget(box)

    def action_demo(self) -> None:
        if self.grade is None:
            return
        table = self.query_one("#concepts", DataTable)
        cid = None
        if table.row_count:
            cid = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        name = self.demos.get(cid) if cid else None
        if name is None and self.demos:
            name = next(iter(self.demos.values()))
            self.app.notify(f"That concept has no demo; opening {name}.", timeout=4)
        if name is None:
            self.app.notify("No concept of this question has a demo.", severity="warning")
            return
        self.app.action_demo(name)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        name = self.demos.get(event.row_key.value) if event.row_key.value else None
        if name:
            self.app.action_demo(name)

    def action_edit(self) -> None:
        """After a failed grade: back to the question with the answer kept."""
        if self.failed is None:
            return
        from tui.screens.interview import InterviewScreen

        self.app.switch_screen(InterviewScreen(prefill=self.answer))

    def action_next(self) -> None:
        from tui.screens.followup import FollowUpScreen

        if self.grade is None:
            return  # still grading
        iv = self.app.interview
        if iv is None or iv.finished:
            self.app.session_over()
            return
        if iv.time_up:  # the time limit ran out: this answer was the last
            iv.finish()
            self.app.notify("Time is up: the session is over.", timeout=6)
            self.app.session_over()
            return
        try:
            choices = list(iv.next_choices(3))
        except Exception as e:  # no follow-up policy answer: the session moves on without one
            self.app.notify(f"No follow-up could be picked ({e}); moving on.", severity="warning")
            choices = []
        if not choices:
            iv.advance(None)
            self.app.show_question()
            return
        self.app.switch_screen(FollowUpScreen(choices))

    def action_leave(self) -> None:
        self.app.interview = None
        self.app.pop_screen()
