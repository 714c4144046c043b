"""Review: a past session, opened from the history screen. Every question as it was asked, the answer as
given (evidence in each concept's colour), the grade, the verdicts and the coaching; p plays a kept
recording."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from agent.review import ReviewItem, SessionReview
from tui.services import Unavailable
from tui.widgets.coaching import coaching_text
from tui.widgets.evidence import VERDICT_STYLE, concept_colour, highlighted_answer
from tui.widgets.meters import grade_colour
from tui.widgets.status import TitleBar


def _header(item: ReviewItem) -> Text:
    t, view = item.turn, item.view
    head = Text()
    head.append(f"{t.index + 1}. ", style="bold")
    head.append(f"{view.display:g}/5", style=f"bold {grade_colour(view.display)}")
    head.append(f"  {t.question_id}", style="bold")
    head.append(f"  · {item.section} · {item.how}", style="grey62")
    if t.audio_path:
        head.append("  · p plays the recording", style="cyan")
    if item.follow_up:
        head.append(f"\nfollow-up ({item.follow_up[0]}): {item.follow_up[1]}", style="italic grey62")
    head.append("\n")
    head.append(t.prompt, style="bold")
    return head


def _verdicts(item: ReviewItem) -> Text:
    view = item.view
    out = Text()
    for r in view.concepts:
        mark, colour = VERDICT_STYLE.get(r.verdict, ("?", "white"))
        if out.plain:
            out.append("\n")
        out.append("██ ", style=concept_colour(r.index))
        out.append(f"{mark} {r.verdict:<8}", style=colour)
        out.append(f" {r.name}")
    for m in view.misconceptions:
        out.append(f"\n✘ {m.state}: ", style="red")
        out.append(m.claim)
        out.append(f"\n  correction: {m.correction}", style="green")
    if view.flags:
        out.append(f"\nflags: {', '.join(view.flags)}", style="yellow")
    if view.judge:
        out.append(f"\n{view.judge}", style="cyan")
    if view.repairs:
        out.append("\ntranscript: " + "; ".join(str(r) for r in view.repairs), style="grey62")
    return out


class ReviewScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("p", "play", "Play recording"),
        Binding("j,down", "scroll_down", "Down", show=False),
        Binding("k,up", "scroll_up", "Up", show=False),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.review: SessionReview | None = None

    def compose(self) -> ComposeResult:
        try:
            self.review = self.app.services.review(self.session_id)
        except Exception as e:
            self.app.notify(f"The session could not be read: {e}", severity="error")
        yield TitleBar()
        with VerticalScroll(id="review"):
            rev = self.review
            if rev is None:
                yield Static("Nothing to show.", id="review-head")
            else:
                s = rev.session
                head = Text(f"Session {s.started_at:%Y-%m-%d %H:%M} · {s.mode} · {len(rev.items)} answers",
                            style="bold")
                if rev.mean_grade is not None:
                    head.append(f" · mean {rev.mean_grade:.1f}/5", style=grade_colour(rev.mean_grade))
                head.append(" · finished" if s.finished else " · not finished", style="grey62")
                yield Static(head, id="review-head")
                for item in rev.items:
                    with Vertical(classes="review-item", id=f"item-{item.turn.index}"):
                        yield Static(_header(item), classes="review-q")
                        answer = highlighted_answer(item.turn.answer, item.view)
                        yield Static(answer if answer.plain.strip() else Text("(empty)", style="italic"),
                                     classes="review-answer")
                        yield Static(_verdicts(item), classes="review-verdicts")
                        coaching = coaching_text(item.view.coaching)
                        if coaching.plain:
                            yield Static(coaching, classes="review-coaching")
        yield Footer()

    def on_mount(self) -> None:
        for box in self.query(".review-answer"):
            box.border_title = "answer as given"
        for box in self.query(".review-coaching"):
            box.border_title = "coaching"
        self.query_one("#review", VerticalScroll).focus()

    def action_scroll_down(self) -> None:
        self.query_one("#review", VerticalScroll).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self.query_one("#review", VerticalScroll).scroll_up(animate=False)

    def _item_in_view(self) -> ReviewItem | None:
        """The answer at the top of the view (the first with a recording at or below it)."""
        if self.review is None:
            return None
        scroller = self.query_one("#review", VerticalScroll)
        top = scroller.scroll_offset.y
        kept = [i for i in self.review.items if i.turn.audio_path]
        for item in kept:
            box = self.query_one(f"#item-{item.turn.index}")
            if box.virtual_region.bottom > top:
                return item
        return kept[-1] if kept else None

    def action_play(self) -> None:
        item = self._item_in_view()
        if item is None or not item.turn.audio_path:
            self.app.notify("No recording was kept for this session (keep_audio = true keeps them).")
            return
        self.app.notify(f"Playing answer {item.turn.index + 1}…")
        self.play(item.turn.audio_path)

    @work(thread=True, exclusive=True, group="review-audio")
    def play(self, path: str) -> None:
        try:
            self.app.services.play_audio(path)
        except Unavailable as e:
            self.app.call_from_thread(self.app.notify, str(e), severity="warning")

    def action_back(self) -> None:
        self.app.pop_screen()
