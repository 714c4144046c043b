"""A small dialog: answer from an audio file instead of the microphone."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class AudioFileScreen(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, initial: str = "") -> None:
        super().__init__()
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="audio-dialog"):
            yield Label("Answer from an audio file (WAV, FLAC, OGG or MP3): type its path and press enter.")
            yield Input(value=self.initial, placeholder="path/to/answer.wav", id="audio-path")
            yield Label("", id="audio-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if not event.value.strip() or not path.is_file():
            self.query_one("#audio-error", Label).update(
                f"[red]No file at {event.value.strip() or '(empty)'}[/red]: check the path, or escape to cancel.")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
