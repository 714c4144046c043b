"""Follow-up: the agent's next question with its reason; accept it, skip it, or pick another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tui.widgets.status import TitleBar

if TYPE_CHECKING:
    from agent.interview import FollowUpChoice

KIND_STYLE = {"prerequisite": "yellow", "deeper": "cyan", "contrast": "magenta", "probe": "green",
              "due": "orange1", "next": "white", "fix": "red"}


def choice_text(c: FollowUpChoice, first: bool) -> Text:
    t = Text()
    label = "suggested" if first else "or"
    t.append(f"{label} ", style="bold" if first else "grey62")
    t.append(f"[{c.kind}] ", style=KIND_STYLE.get(c.kind, "white"))
    t.append(c.prompt or (c.question.prompt if c.question is not None else None) or "?")
    if c.reason:
        t.append(f"\n    why: {c.reason}", style="italic grey62")
    return t


def _key(c: FollowUpChoice) -> tuple[str, str]:
    return c.kind, c.prompt or c.question_id or ""


class FollowUpScreen(Screen):
    BINDINGS = [
        Binding("enter", "accept", "Accept", show=True),
        Binding("s", "skip", "Skip"),
        Binding("x", "finish", "End session"),
        Binding("escape", "leave", "Home"),
    ]

    def __init__(self, choices: list[FollowUpChoice]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        iv = self.app.interview
        yield TitleBar()
        with VerticalScroll(id="followup"):
            head = Text("Next question", style="bold")
            if iv is not None:
                done, total = iv.topic_number, iv.config.n_questions
                unit = "questions" if iv.config.mode == "drill" else "topics"
                head.append(f"   ({len(iv.turns)} answered · {done} of {total} {unit} opened)", style="grey62")
            yield Static(head, id="f-head")
            if self.choices:
                yield OptionList(*[Option(choice_text(c, i == 0), id=str(i)) for i, c in enumerate(self.choices)],
                                 id="choices")
            else:
                yield Static("No more questions in this session: press x to finish.", id="no-choices")
            yield Static(Text("enter: ask the highlighted one · up/down: pick another · s: skip it (the "
                              "agent moves on) · x: end the session", style="grey50"), id="f-help")
        yield Footer()

    def on_mount(self) -> None:
        if self.choices:
            ol = self.query_one("#choices", OptionList)
            ol.highlighted = 0
            ol.focus()

    def show_judge(self) -> None:
        """The LLM judge's verdict on the answer arrived while the choices were showing: when it changes them
        (the judge wrote a follow-up for this answer), they are updated in place, and the user is told."""
        iv = self.app.interview
        if iv is None or iv.finished or iv.current is None:
            return
        try:
            fresh = list(iv.next_choices(3))
        except Exception as e:  # the choices already shown stay usable
            self.log.warning(f"choices not refreshed after the judge's verdict: {e}")
            return
        old = [_key(c) for c in self.choices]
        if [_key(c) for c in fresh] == old:
            return
        added = [c for c in fresh if _key(c) not in old]
        if self.choices and fresh:
            ol = self.query_one("#choices", OptionList)
            was = ol.highlighted
            keep = _key(self.choices[was]) if was is not None and was < len(self.choices) else None
            self.choices = fresh
            ol.clear_options()
            ol.add_options([Option(choice_text(c, i == 0), id=str(i)) for i, c in enumerate(fresh)])
            ol.highlighted = next((i for i, c in enumerate(fresh) if _key(c) == keep), 0)
        else:
            self.choices = fresh
            self.refresh(recompose=True)
            self.call_after_refresh(self.on_mount)
        what = added[0].prompt if added else None
        self.app.notify("The judge's verdict came in" + (f"; its follow-up is now a choice: {what}" if what else
                                                         "; the choices were updated") + ".", timeout=8)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._go(self.choices[int(event.option.id or 0)])

    def action_accept(self) -> None:
        if not self.choices:
            self.action_finish()
            return
        idx = self.query_one("#choices", OptionList).highlighted or 0
        self._go(self.choices[idx])

    def _go(self, choice: FollowUpChoice) -> None:
        self.app.interview.advance(choice)
        self.app.show_question()

    def action_skip(self) -> None:
        """Skip the suggested follow-up: the session moves on to the next planned question."""
        iv = self.app.interview
        if iv is not None:
            iv.skip_followup()
        self.app.show_question()

    def action_finish(self) -> None:
        iv = self.app.interview
        if iv is not None:
            iv.finish()
        self.app.session_over()

    def action_leave(self) -> None:
        self.app.interview = None
        self.app.pop_screen()
