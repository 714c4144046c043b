"""History and progress: past sessions, mastery per section and concept, grades over time, cold-answer goal."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from tui.services import Progress
from tui.widgets.meters import BarChart, grade_colour
from tui.widgets.status import TitleBar


def mastery_bar(level: float, width: int = 10) -> Text:
    cells = int(round(max(0.0, min(1.0, level)) * width))
    colour = grade_colour(level * 5)
    t = Text("█" * cells, style=colour)
    t.append("░" * (width - cells), style="grey50")
    t.append(f" {level * 100:3.0f}%")
    return t


class HistoryScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, back_home: bool = False) -> None:
        super().__init__()
        self.back_home = back_home
        self.progress: Progress | None = None

    def compose(self) -> ComposeResult:
        try:
            self.progress = self.app.services.progress()
        except Exception as e:
            self.app.notify(f"The history could not be read: {e}", severity="error")
            self.progress = Progress()
        p = self.progress
        yield TitleBar()
        with VerticalScroll(id="history"):
            goal = Text()
            goal.append("Cold answers: ", style="bold")
            goal.append(f"{p.cold}/{p.cold_goal}", style="bold green" if p.cold >= p.cold_goal else "bold")
            goal.append(f" loss questions answered cold without a hint (of {p.cold_of})")
            yield Static(goal, id="goal-text")
            yield ProgressBar(total=p.cold_goal, show_eta=False, id="goal")
            yield Static(Text("Grades over time", style="bold"), classes="h-title")
            yield BarChart(p.grades, id="chart")
            title = Text(f"Sessions ({len(p.sessions)})", style="bold")
            if p.sessions:
                title.append("  enter opens one for review", style="grey62")
            yield Static(title, classes="h-title")
            yield DataTable(id="sessions", cursor_type="row")
            yield Static(Text("Mastery", style="bold"), classes="h-title")
            yield DataTable(id="mastery", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        p = self.progress or Progress()
        self.query_one("#goal", ProgressBar).update(progress=min(p.cold, p.cold_goal))
        s = self.query_one("#sessions", DataTable)
        s.add_columns("started", "mode", "answers", "mean")
        for row in p.sessions:
            mean: Text | str = Text(f"{row.mean:.1f}", style=grade_colour(row.mean)) if row.mean is not None else "-"
            s.add_row(row.started_at, row.mode, str(row.n_turns), mean, key=row.id)
        if not p.sessions:
            s.add_row("no sessions yet", "", "", "")
        m = self.query_one("#mastery", DataTable)
        m.add_columns("", "name", "mastery", "n")
        for kind, name, level, n in p.mastery:
            short = name if len(name) <= 40 else name[:39] + "…"
            m.add_row(kind, Text(short, style="bold") if kind == "section" else short, mastery_bar(level), str(n))
        if not p.mastery:
            m.add_row("", "answer a few questions to see mastery", "", "")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "sessions" or event.row_key is None or event.row_key.value is None:
            return
        self.open_session(str(event.row_key.value))

    def open_session(self, session_id: str) -> None:
        from tui.screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen(session_id))

    def action_back(self) -> None:
        if self.back_home:
            self.app.action_home()
        else:
            self.app.pop_screen()
