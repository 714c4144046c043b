"""Demo: the highlighted source of a PyTorch demo; run it, output streaming in, each check pass/fail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

from agent.demos._runner import Finished, Output, Ran, Started
from tui.messages import DemoFailed, DemoProgress
from tui.widgets.status import TitleBar

if TYPE_CHECKING:
    from agent.demos import DemoInfo


class DemoScreen(Screen):
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.demo_name = name
        self.info: DemoInfo | None = None
        self.running = False
        self.checks: list[tuple[str, bool, str]] = []
        self.finished: int | None = None

    def compose(self) -> ComposeResult:
        try:
            self.info = self.app.services.demo_info(self.demo_name)
        except Exception as e:
            self.info = None
            self.app.notify(str(e), severity="error")
        yield TitleBar()
        title = self.info.title if self.info else self.demo_name
        yield Static(Text(title, style="bold"), id="d-title")
        with Horizontal(id="demo"):
            with VerticalScroll(id="d-source"):
                src = self.info.source if self.info else "(no source)"
                yield Static(Syntax(src, "python", theme="ansi_dark", line_numbers=True, word_wrap=False),
                             id="source")
            with VerticalScroll(id="d-side"):
                yield Static(Text("press r to run the demo and verify it", style="grey62"), id="d-state")
                yield RichLog(id="output", wrap=True, markup=False, auto_scroll=True)
                yield Static("", id="checks")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#d-source").border_title = f"agent/demos/{self.demo_name}.py"
        self.query_one("#output").border_title = "output"

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_run(self) -> None:
        if self.running or self.info is None:
            return
        self.running = True
        self.checks = []
        self.finished = None
        self.query_one("#output", RichLog).clear()
        self.query_one("#checks", Static).update("")
        self.query_one("#d-state", Static).update(Text("starting the demo process (importing torch)…",
                                                        style="cyan"))
        self.run_demo()

    @work(thread=True, exclusive=True, group="demo")
    def run_demo(self) -> None:
        try:
            for event in self.app.services.run_demo(self.demo_name):
                self.post_message(DemoProgress(event))
        except Exception as e:  # noqa: BLE001 - bad input or no child process: said on screen
            self.post_message(DemoFailed(str(e)))

    def on_demo_progress(self, msg: DemoProgress) -> None:
        out = self.query_one("#output", RichLog)
        state = self.query_one("#d-state", Static)
        ev = msg.event
        if isinstance(ev, Output):
            out.write(ev.line)
        elif isinstance(ev, Started):
            state.update(Text(f"running on {ev.device}…", style="cyan"))
        elif isinstance(ev, Ran):
            res = ev.result
            out.write(Text(res.narration, style="italic"))
            for k, v in res.numbers.items():
                out.write(Text(f"{k}: {v}"))
            for tab in res.tables:
                t = Table(title=tab.title, expand=False)
                for c in tab.columns:
                    t.add_column(str(c))
                for row in tab.rows:
                    t.add_row(*[str(x) for x in row])
                out.write(t)
            state.update(Text(f"ran in {ev.run_s:.2f}s; verifying…", style="cyan"))
        elif isinstance(ev, Finished):
            rep = ev.report
            self.checks = [(c.name, bool(c.passed), c.detail) for c in rep.checks]
            self._show_checks()
            if rep.error is not None:  # its first line: what went wrong (the child's own output is above)
                self._failed(rep.error.splitlines()[0].rstrip(":"))
            else:
                n_ok = sum(1 for c in self.checks if c[1])
                style = "bold green" if rep.passed else "bold red"
                state.update(Text(f"{n_ok}/{len(self.checks)} checks passed (seed {rep.seed})", style=style))
            self._finish(0 if rep.error is None else 1)

    def on_demo_failed(self, msg: DemoFailed) -> None:
        self._failed(msg.error)
        self._finish(1)

    def _failed(self, error: str) -> None:
        self.query_one("#output", RichLog).write(Text(f"error: {error}", style="red"))
        self.query_one("#d-state", Static).update(Text("the demo failed", style="bold red"))

    def _finish(self, status: int) -> None:
        """``status`` 0: the demo ran to the end (its checks may still fail); 1: it could not."""
        self.running = False
        self.finished = status

    def _show_checks(self) -> None:
        t = Text()
        for i, (name, ok, detail) in enumerate(self.checks):
            if i:
                t.append("\n")
            t.append("✔ pass " if ok else "✘ FAIL ", style="bold green" if ok else "bold red")
            t.append(name)
            if detail:
                t.append(f"  {detail}", style="grey62")
        self.query_one("#checks", Static).update(t)
