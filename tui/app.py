"""The Textual application. First paint happens before any heavy import; models load in workers."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class VivaApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "viva"
    SUB_TITLE = "mock interviews for ML roles"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("viva: the interview screens arrive with the TUI work.", id="placeholder")
        yield Footer()


def run_app() -> int:
    VivaApp().run()
    return 0
