"""Coaching after an answer: what a strong answer adds, and for a spoken answer how it was delivered.

Pure functions over a rubric, a grade and the voice insights (``agent.speech.insights.Insights.to_dict()``);
the result screen, the plain-terminal interview and the session review all render the same
:class:`Coaching`.

* **What a strong answer adds**: the one or two ideas the answer missed (missing first, then partial,
  heaviest first), each in one sentence taken from the rubric's description of the concept.
* **Delivery** (spoken answers only): pace, fillers and long pauses, each with how much it matters
  (0 = fine), ranked so the note that matters most comes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent.models import Grade, Rubric

#: a comfortable pace for explaining something technical, in words per minute
PACE_LOW, PACE_HIGH = 110.0, 170.0
#: fillers per minute of talk above which they start to distract
FILLERS_PER_MIN = 4.0
#: share of the answer spent in long pauses above which they matter
PAUSE_SHARE = 0.15
MAX_IDEAS = 2

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


@dataclass
class Idea:
    concept_id: str
    name: str
    verdict: str  # missing or partial
    sentence: str  # the idea in one sentence, from the rubric


@dataclass
class DeliveryNote:
    kind: str  # pace, fillers, pauses
    text: str  # what to keep or change, in one sentence
    severity: float  # 0 = fine; higher matters more

    @property
    def matters(self) -> bool:
        return self.severity > 0


@dataclass
class Coaching:
    adds: list[Idea] = field(default_factory=list)
    delivery: list[DeliveryNote] = field(default_factory=list)  # ranked, the one that matters most first

    @property
    def empty(self) -> bool:
        return not self.adds and not self.delivery

    def lines(self) -> list[str]:
        """The coaching as plain lines (for the terminal and reports)."""
        out = []
        if self.adds:
            out.append("What a strong answer adds:")
            out += [f"  - {i.sentence}" for i in self.adds]
        if self.delivery:
            out.append("Delivery (what matters most first):")
            out += [f"  {k}. {n.text}" for k, n in enumerate(self.delivery, 1)]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"adds": [i.__dict__ for i in self.adds],
                "delivery": [{**n.__dict__, "matters": n.matters} for n in self.delivery]}


def one_sentence(text: str) -> str:
    """The first sentence of ``text``, ending with a full stop."""
    text = " ".join(text.split())
    if not text:
        return ""
    first = _SENTENCE.split(text, maxsplit=1)[0].strip()
    first = first[:1].upper() + first[1:]
    return first if first[-1] in ".!?" else first + "."


def strong_answer_adds(rubric: Rubric, grade: Grade, n: int = MAX_IDEAS) -> list[Idea]:
    """The ``n`` ideas the answer missed, missing before partial, heaviest first, one sentence each."""
    by_id = {c.id: c for c in rubric.concepts}
    gaps = [v for v in grade.verdicts if v.verdict in ("missing", "partial") and v.concept_id in by_id]
    gaps.sort(key=lambda v: (v.verdict != "missing", -by_id[v.concept_id].weight))
    out = []
    for v in gaps[:n]:
        c = by_id[v.concept_id]
        out.append(Idea(concept_id=c.id, name=c.name, verdict=v.verdict, sentence=one_sentence(c.description)))
    return out


def _num(d: dict[str, Any], key: str) -> float:
    try:
        return float(d.get(key) or 0.0)
    except (TypeError, ValueError):
        return 0.0


def delivery_notes(insights: dict[str, Any] | None) -> list[DeliveryNote]:
    """Pace, fillers and long pauses of a spoken answer, ranked by how much each matters (empty when the
    answer was typed)."""
    ins = insights or {}
    wpm = _num(ins, "wpm")
    if wpm <= 0:
        return []
    talk = _num(ins, "talk_time_s") or _num(ins, "duration_s")
    duration = _num(ins, "duration_s") or talk
    minutes = max(talk / 60.0, 0.25)
    fillers = int(_num(ins, "filler_count") or len(ins.get("fillers") or []))
    pauses = [p for p in ins.get("pauses") or [] if isinstance(p, dict)]
    paused = sum(_num(p, "duration") for p in pauses)
    longest = max((_num(p, "duration") for p in pauses), default=0.0)

    notes = []
    if wpm > PACE_HIGH:
        notes.append(DeliveryNote("pace", f"Slow down: {wpm:.0f} words a minute is fast for an explanation; "
                                  f"aim for {PACE_LOW:.0f}-{PACE_HIGH:.0f}.", (wpm - PACE_HIGH) / 30.0))
    elif wpm < PACE_LOW:
        notes.append(DeliveryNote("pace", f"Pick up the pace a little: {wpm:.0f} words a minute; "
                                  f"aim for {PACE_LOW:.0f}-{PACE_HIGH:.0f}.", (PACE_LOW - wpm) / 30.0))
    else:
        notes.append(DeliveryNote("pace", f"Good pace: {wpm:.0f} words a minute.", 0.0))
    rate = fillers / minutes
    if fillers and rate >= FILLERS_PER_MIN:
        notes.append(DeliveryNote("fillers", f"Cut the fillers: {fillers} ({rate:.0f} a minute); a short silence "
                                  "reads better than 'um'.", rate / FILLERS_PER_MIN))
    else:
        what = "No fillers." if not fillers else f"Few fillers ({fillers})."
        notes.append(DeliveryNote("fillers", what, 0.0))
    share = paused / duration if duration > 0 else 0.0
    if pauses and share >= PAUSE_SHARE:
        notes.append(DeliveryNote("pauses", f"{len(pauses)} long pause{'s' if len(pauses) > 1 else ''} "
                                  f"(longest {longest:.1f} s): outline the answer first, then speak.",
                                  share / PAUSE_SHARE))
    elif pauses:
        notes.append(DeliveryNote("pauses", f"{len(pauses)} long pause{'s' if len(pauses) > 1 else ''}, "
                                  "short enough not to break the answer.", 0.0))
    else:
        notes.append(DeliveryNote("pauses", "No long pauses.", 0.0))
    notes.sort(key=lambda n: -n.severity)  # stable: pace, fillers, pauses among equals
    return notes


def coach(rubric: Rubric | None, grade: Grade, insights: dict[str, Any] | None = None,
          n: int = MAX_IDEAS) -> Coaching:
    """The coaching for one graded answer."""
    adds = strong_answer_adds(rubric, grade, n) if rubric is not None else []
    return Coaching(adds=adds, delivery=delivery_notes(insights))
