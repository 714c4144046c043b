"""Gauges: the grade out of 5, the microphone level meter, and a bar chart of grades over time."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


def grade_colour(score: float) -> str:
    if score >= 4:
        return "green"
    if score >= 2.5:
        return "yellow"
    return "red"


class GradeGauge(Widget):
    """``3.5 / 5`` with a bar of half-point cells, coloured by band."""

    DEFAULT_CSS = "GradeGauge { height: 1; width: 1fr; }"
    score: reactive[float] = reactive(0.0)
    label: reactive[str] = reactive("")

    def __init__(self, score: float = 0.0, label: str = "", **kw) -> None:
        super().__init__(**kw)
        self.set_reactive(GradeGauge.score, score)
        self.set_reactive(GradeGauge.label, label)

    def render(self) -> Text:
        colour = grade_colour(self.score)
        cells = int(round(self.score * 2))
        t = Text()
        if self.label:
            t.append(f"{self.label} ", style="bold")
        t.append(f"{self.score:.1f}/5 ", style=f"bold {colour}")
        t.append("█" * cells, style=colour)
        t.append("░" * (10 - cells), style="grey50")
        return t


class LevelMeter(Widget):
    """The live input level while recording (0-1), with a peak marker."""

    DEFAULT_CSS = "LevelMeter { height: 1; width: 1fr; }"
    level: reactive[float] = reactive(0.0)
    active: reactive[bool] = reactive(False)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._peak = 0.0

    def watch_level(self, level: float) -> None:
        self._peak = max(level, self._peak * 0.9)

    def render(self) -> Text:
        width = max(10, self.size.width - 8)
        filled = int(min(1.0, self.level) * width)
        peak = min(width - 1, int(min(1.0, self._peak) * width))
        t = Text("mic " if self.active else "mic ", style="bold" if self.active else "grey50")
        bar = ["█" if i < filled else "·" for i in range(width)]
        if self.active and peak >= filled:
            bar[peak] = "▌"
        colour = "green" if self.level < 0.7 else ("yellow" if self.level < 0.9 else "red")
        t.append("".join(bar), style=colour if self.active else "grey50")
        return t


class BarChart(Widget):
    """Vertical bars (one per value, 0-5) with a 0/5 axis: grades over time."""

    DEFAULT_CSS = "BarChart { height: 6; width: 1fr; }"

    def __init__(self, values: Sequence[float] = (), top: float = 5.0, **kw) -> None:
        super().__init__(**kw)
        self.values = list(values)
        self.top = top

    def set_values(self, values: Sequence[float]) -> None:
        self.values = list(values)
        self.refresh()

    def render(self) -> Text:
        rows = max(1, self.size.height)
        width = max(1, self.size.width - 4)
        vals = self.values[-width:]
        t = Text()
        if not vals:
            t.append("no answers yet", style="grey50")
            return t
        for r in range(rows):
            level_hi = (rows - r) / rows * self.top
            level_lo = (rows - r - 1) / rows * self.top
            axis = f"{self.top:>2.0f} " if r == 0 else (" 0 " if r == rows - 1 else "   ")
            t.append(axis + "│", style="grey50")
            for v in vals:
                if v >= level_hi:
                    ch = "█"
                elif v <= level_lo:
                    ch = " " if r < rows - 1 else "▁"
                else:
                    frac = (v - level_lo) / (level_hi - level_lo)
                    ch = BLOCKS[max(1, int(frac * 8))]
                t.append(ch, style=grade_colour(v))
            if r < rows - 1:
                t.append("\n")
        return t
