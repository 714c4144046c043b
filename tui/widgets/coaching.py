"""The coaching panel's text: what a strong answer adds, then the delivery notes of a spoken answer."""

from __future__ import annotations

from rich.text import Text

from agent.coaching import Coaching


def coaching_text(coaching: Coaching) -> Text:
    """``coaching`` as rich text (empty when there is nothing to say: a full answer, typed)."""
    t = Text()
    if coaching.adds:
        t.append("What a strong answer adds", style="bold")
        for idea in coaching.adds:
            t.append("\n• ")
            t.append(idea.sentence)
    if coaching.delivery:
        if t.plain:
            t.append("\n")
        t.append("Delivery", style="bold")
        t.append(" (what matters most first)", style="grey62")
        for k, note in enumerate(coaching.delivery, 1):
            t.append(f"\n{k}. ", style="bold")
            t.append(note.text, style="yellow" if note.matters else "green")
    return t
