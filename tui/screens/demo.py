"""Demo: the highlighted source of a PyTorch demo; run it, output streaming in, each check pass/fail."""

from __future__ import annotations

import json
from typing import Any

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

from tui.messages import DemoFinished, DemoLine
from tui.widgets.status import TitleBar


class DemoScreen(Screen):
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.demo_name = name
        self.info: Any = None
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
            for line in self.app.services.run_demo(self.demo_name):
                if line.startswith("\x00exit "):
                    self.post_message(DemoFinished(int(line.split()[1])))
                    return
                self.post_message(DemoLine(line))
        except Exception as e:
            self.post_message(DemoLine(json.dumps({"event": "error", "error": str(e)})))
            self.post_message(DemoFinished(1))

    def on_demo_line(self, msg: DemoLine) -> None:
        out = self.query_one("#output", RichLog)
        state = self.query_one("#d-state", Static)
        try:
            ev = json.loads(msg.line)
        except ValueError:
            ev = None
        if not isinstance(ev, dict) or "event" not in ev:
            out.write(msg.line)
            return
        kind = ev["event"]
        if kind == "ready":
            state.update(Text(f"running on {ev.get('device', '?')}…", style="cyan"))
        elif kind == "result":
            res = ev.get("result") or {}
            out.write(Text(res.get("narration", ""), style="italic"))
            nums = res.get("numbers") or {}
            for k, v in nums.items():
                out.write(Text(f"{k}: {v}"))
            for tab in res.get("tables") or []:
                t = Table(title=tab.get("title"), expand=False)
                for c in tab.get("columns", []):
                    t.add_column(str(c))
                for row in tab.get("rows", []):
                    t.add_row(*[str(x) for x in row])
                out.write(t)
            state.update(Text(f"ran in {ev.get('run_s', 0):.2f}s; verifying…", style="cyan"))
        elif kind == "check":
            self.checks.append((ev["name"], bool(ev["passed"]), ev.get("detail", "")))
            self._show_checks()
        elif kind == "done":
            n_ok = sum(1 for c in self.checks if c[1])
            style = "bold green" if ev.get("passed") else "bold red"
            state.update(Text(f"{n_ok}/{len(self.checks)} checks passed (seed {ev.get('seed')})", style=style))
        elif kind == "error":
            out.write(Text(f"error: {ev.get('error')}", style="red"))
            state.update(Text("the demo failed", style="bold red"))

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

    def on_demo_finished(self, msg: DemoFinished) -> None:
        self.running = False
        self.finished = msg.returncode
        if msg.returncode != 0 and not self.checks:
            self.query_one("#d-state", Static).update(Text(f"the demo process exited with code "
                                                            f"{msg.returncode}", style="bold red"))
