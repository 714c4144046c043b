"""The answer with each concept's evidence highlighted in that concept's colour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from agent.grade_view import GradeView

CONCEPT_COLOURS = ["dodger_blue1", "orchid", "dark_orange", "spring_green2", "gold1", "deep_pink2",
                   "cyan2", "medium_purple1", "chartreuse2", "salmon1"]
VERDICT_STYLE = {"covered": ("✔", "green"), "partial": ("◐", "yellow"), "missing": ("✘", "red")}


def concept_colour(i: int) -> str:
    return CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)]


def highlighted_answer(answer: str, view: GradeView) -> Text:
    """``answer`` with the view's evidence spans coloured per concept (solid when covered, underlined when
    partly) and misconception spans struck through."""
    text = Text(answer)
    for h in view.highlights:
        if h.kind == "covered":
            style = f"bold black on {concept_colour(h.index)}"
        elif h.kind == "partial":
            style = f"underline {concept_colour(h.index)}"
        else:
            style = "strike red"
        text.stylize(style, h.start, h.end)
    return text
