"""Home: pick the mode, section, number of questions, voice and judge; start."""

from __future__ import annotations

import dataclasses

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, RadioButton, RadioSet, Select, Static, Switch

from agent.session_config import SessionConfig, as_mode
from tui.widgets.status import StatusLine, TitleBar

MODES = [("mock", "Mock interview"), ("practice", "Practice a topic"), ("drill", "Drill what is due")]
COUNTS = [1, 3, 5, 8, 10, 15]
LIMITS = [10, 15, 20, 30, 45, 60]  # optional mock-interview time limit, minutes


class HomeScreen(Screen):
    AUTO_FOCUS = None  # the first field gets focus just after the first paint (a focus change restyles the screen)
    BINDINGS = [
        Binding("ctrl+s", "start", "Start"),
        Binding("h", "app.history", "History", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._about: dict[str, str] = {}  # section tag -> what it covers, once the bank has loaded

    def compose(self) -> ComposeResult:
        opts = self.app.options
        yield TitleBar()
        with VerticalScroll(id="home"):
            yield Static("[b]viva[/b]  mock interviews for machine-learning roles, graded offline against "
                         "key-concept rubrics.", id="intro")
            with Horizontal(id="home-form"):
                with Vertical(classes="field"):
                    yield Label("Mode")
                    with RadioSet(id="mode"):
                        for key, label in MODES:
                            yield RadioButton(label, value=key == opts.mode, name=key)
                with Vertical(classes="field"):
                    yield Label("Section")
                    yield Select([], prompt="All sections", id="section", allow_blank=True)
                    yield Static("", id="section-about")
                    yield Label("Topics (+ follow-ups)", id="count-label")
                    yield Select([(str(n), n) for n in COUNTS], value=opts.n_questions if opts.n_questions
                                 in COUNTS else 5, id="count", allow_blank=False)
                    yield Label("Time limit")
                    limit = int(opts.time_limit_min) if opts.time_limit_min else None
                    kw = {"value": limit} if limit in LIMITS else {}
                    yield Select([(f"{n} min", n) for n in LIMITS], prompt="No limit", id="limit",
                                 allow_blank=True, **kw)
                with Vertical(classes="field"):
                    yield Label("Voice")
                    yield Switch(value=opts.voice, id="voice")
                    yield Label("LLM judge")
                    yield Switch(value=opts.judge, id="judge")
            yield Button("Start  (ctrl+s)", id="start", variant="primary")
        yield StatusLine(id="model-status")
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        if self.focused is None:
            self.query_one("#mode", RadioSet).focus()
        # the bank (YAML for every question) loads after the first paint: parsing it in a thread while the
        # screen is being drawn would slow the first paint down (the two share the interpreter)
        self.load_sections()

    @work(thread=True, exclusive=True, group="bank")
    def load_sections(self) -> None:
        try:
            sections = self.app.services.section_options()
            notice = self.app.services.bank_notice()
        except Exception as e:
            self.app.call_from_thread(self.app.notify, f"The question bank did not load: {e}", severity="error")
            return
        if notice is not None:
            from rich.markup import escape

            from tui.messages import Notice

            # file paths and YAML snippets may hold [brackets]: shown as written, not as markup
            self.app.post_message(Notice("bank-skipped", escape(notice.replace("`", ""))))
        self.app.call_from_thread(self._set_sections, sections)

    def _set_sections(self, sections: list[tuple[str, str, str]]) -> None:
        self._about = {tag: about for tag, _, about in sections}
        sel = self.query_one("#section", Select)
        sel.set_options([(label, tag) for tag, label, _ in sections])
        if self.app.options.section in self._about:
            sel.value = self.app.options.section
        self._show_about(sel.value)

    def _show_about(self, value: object) -> None:
        about = self._about.get(value, "") if isinstance(value, str) else ""
        box = self.query_one("#section-about", Static)
        box.update(about)
        box.display = bool(about)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "section":
            self._show_about(event.value)

    def refresh_options(self) -> None:
        opts = self.app.options
        if opts.n_questions in COUNTS:
            self.query_one("#count", Select).value = opts.n_questions
        self.query_one("#judge", Switch).value = opts.judge
        self.query_one("#voice", Switch).value = opts.voice

    def current_options(self) -> SessionConfig:
        """The app's options as the form sets them; what the form does not show (seed, topic, follow-up depth,
        all given on the command line) is kept."""
        radio = self.query_one("#mode", RadioSet)
        btn = radio.pressed_button
        mode = as_mode(btn.name) if btn is not None and btn.name else "mock"
        section = self.query_one("#section", Select).value
        count = self.query_one("#count", Select).value
        limit = self.query_one("#limit", Select).value
        return dataclasses.replace(self.app.options, mode=mode, section=section if isinstance(section, str) else None,
                                   time_limit_s=SessionConfig.seconds(limit) if isinstance(limit, int) else None,
                                   n_questions=int(count) if isinstance(count, int) else 5,
                                   voice=self.query_one("#voice", Switch).value,
                                   judge=self.query_one("#judge", Switch).value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def action_start(self) -> None:
        self.app.start_session(self.current_options())
