"""The answer with each concept's evidence highlighted in that concept's colour."""

from __future__ import annotations

from typing import Any

from rich.text import Text

CONCEPT_COLOURS = ["dodger_blue1", "orchid", "dark_orange", "spring_green2", "gold1", "deep_pink2",
                   "cyan2", "medium_purple1", "chartreuse2", "salmon1"]
VERDICT_STYLE = {"covered": ("✔", "green"), "partial": ("◐", "yellow"), "missing": ("✘", "red")}


def concept_colour(i: int) -> str:
    return CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)]


def highlighted_answer(answer: str, verdicts: list[Any], misconceptions: list[Any] = ()) -> Text:
    """``answer`` with evidence spans coloured per concept and misconception spans struck through."""
    text = Text(answer)
    for i, v in enumerate(verdicts):
        ev = getattr(v, "evidence", None)
        if ev is None or v.verdict == "missing":
            continue
        start, end = max(0, ev.start), min(len(answer), ev.end)
        if end > start:
            style = f"bold black on {concept_colour(i)}" if v.verdict == "covered" else \
                f"underline {concept_colour(i)}"
            text.stylize(style, start, end)
    for m in misconceptions:
        ev = getattr(m, "evidence", None)
        if ev is not None and not getattr(m, "corrected", False):
            text.stylize("strike red", max(0, ev.start), min(len(answer), ev.end))
    return text
