"""The model-status line: what is loading in the background, what is ready, what fell back."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from tui.app import VivaApp

ICONS = {"waiting": ("…", "grey50"), "loading": ("⟳", "yellow"), "ready": ("●", "green"),
         "failed": ("✘", "red"), "off": ("○", "grey50"), "busy": ("⟳", "cyan")}


class StatusLine(Static):
    """One line: ``grader ● ready · voice ○ off · judge ○ off``, read from ``app.model_state``."""

    DEFAULT_CSS = "StatusLine { height: 1; color: $text-muted; }"

    def on_mount(self) -> None:
        self.refresh_state()

    def refresh_state(self) -> None:
        state = cast("VivaApp", self.app).model_state
        t = Text()
        for i, (name, (st, _detail)) in enumerate(sorted(state.items())):
            icon, colour = ICONS.get(st, ("?", "grey50"))
            if i:
                t.append(" · ", style="grey50")
            t.append(f"{name} ")
            t.append(f"{icon} {st}", style=colour)
        self.update(t)


class TitleBar(Static):
    """A one-line title docked at the top (static: safe when screens switch quickly)."""

    DEFAULT_CSS = """
    TitleBar { dock: top; height: 1; background: $panel; color: $text; text-style: bold; content-align: center middle; }
    """

    def __init__(self, subtitle: str = "", **kw) -> None:
        super().__init__(**kw)
        self.subtitle = subtitle

    def on_mount(self) -> None:
        title = f"{self.app.title} — {self.subtitle or self.app.sub_title}"
        self.update(title)
