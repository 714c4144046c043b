"""One view of a graded answer, which every front end renders: the plain terminal (`viva interview --text`,
`viva score`, `viva history SESSION`), the Markdown and HTML report, and the app's result and review screens.

:func:`grade_view` builds a frozen :class:`GradeView` from a :class:`~agent.models.Grade` and, when there is
one, the recorded :class:`~agent.models.Turn` (cold, attempt, the answer, the judge, the voice insights) and
the :class:`~agent.models.Rubric` (the coaching's missing ideas, each concept's demo). A front end formats
what is here and computes nothing of its own; :func:`text_lines` and :func:`markdown_lines` are the plain
text and Markdown renderings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agent.coaching import Coaching, coach

if TYPE_CHECKING:
    from agent.models import Grade, Rubric, Turn

#: a one-character mark per verdict, for plain text
MARK = {"covered": "+", "partial": "~", "missing": "-"}

HighlightKind = Literal["covered", "partial", "misconception"]


@dataclass(frozen=True)
class ConceptRow:
    """One rubric concept: its verdict and the answer's words that earned it."""

    index: int  # position in the grade (the app colours each concept's evidence by it)
    concept_id: str
    name: str
    verdict: str  # covered, partial, missing
    evidence: str | None  # the answer's words, whitespace collapsed
    span: tuple[int, int] | None  # where they are in the answer: [start, end)
    similarity: float
    lexical: float
    p_states: float | None  # the entailment model's probability that the evidence states the concept
    p_partly: float | None
    feedback: str | None
    demo: str | None  # the demo that illustrates the concept (from the rubric)

    @property
    def mark(self) -> str:
        return MARK.get(self.verdict, "?")


@dataclass(frozen=True)
class MisconceptionRow:
    claim: str
    corrected: bool  # the answer itself rejects the claim
    evidence: str | None
    span: tuple[int, int] | None
    correction: str
    probability: float | None

    @property
    def state(self) -> str:
        return "corrected" if self.corrected else "misconception"


@dataclass(frozen=True)
class Highlight:
    """A span of the answer to mark: a concept's evidence (covered or partial) or a misconception stated."""

    start: int
    end: int
    kind: HighlightKind
    index: int  # the concept's index (for a misconception: its index among the misconceptions)
    label: str  # the concept's name or the claim


@dataclass(frozen=True)
class Repair:
    """A rubric term read from a near-miss spelling in the transcript."""

    heard: str
    read_as: str

    def __str__(self) -> str:
        return f"heard '{self.heard}', read as '{self.read_as}'"


@dataclass(frozen=True)
class VoiceFacts:
    """What the voice insights of a spoken answer say, read once from the insights' dict."""

    wpm: float | None
    filler_count: int
    filler_words: tuple[str, ...]  # the distinct fillers said, sorted
    long_pauses: int
    hedges: int
    pace_series: tuple[float, ...]  # words per minute per window of the answer
    repairs: tuple[Repair, ...]

    def summary(self) -> list[str]:
        """Pace, fillers and long pauses as short phrases (empty when no pace was measured)."""
        if not self.wpm:
            return []
        return [f"{self.wpm:.0f} wpm", f"{self.filler_count} fillers", f"{self.long_pauses} long pauses"]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def voice_facts(insights: Mapping[str, Any] | None) -> VoiceFacts | None:
    """The facts of a spoken answer's insights (``agent.speech.insights.Insights.to_dict()``, with the
    transcript's ``repairs``); None for a typed answer."""
    if not insights:
        return None
    fillers = [f for f in insights.get("fillers") or [] if isinstance(f, Mapping)]
    count = _num(insights.get("filler_count"))
    words = sorted({str(f.get("text", "")) for f in fillers} - {""})
    series = tuple(float(w[2]) for w in insights.get("wpm_over_time") or []
                   if isinstance(w, (list, tuple)) and len(w) > 2)
    repairs = tuple(Repair(str(r["heard"]), str(r["read_as"])) for r in insights.get("repairs") or []
                    if isinstance(r, Mapping) and r.get("heard") and r.get("read_as"))
    return VoiceFacts(wpm=_num(insights.get("wpm")), filler_count=int(count) if count is not None else len(fillers),
                      filler_words=tuple(words), long_pauses=len(insights.get("pauses") or []),
                      hedges=len(insights.get("hedges") or []), pace_series=series, repairs=repairs)


def judge_line(turn: Turn) -> str | None:
    """One line on the LLM judge's view of a turn, when it ran."""
    j = turn.judge
    if not isinstance(j, dict):
        return None
    if not j.get("ok"):
        return f"judge: not used ({j.get('failure') or 'failed'})"
    parts = [f"judge ({j.get('model', '?')}): {j.get('grade')}/5"]
    if j.get("effective_grade") is not None and j.get("effective_grade") != j.get("grade"):
        parts.append(f"capped to {j['effective_grade']} by its evidence")
    line = ", ".join(parts)
    if j.get("feedback"):
        line += f" — {j['feedback']}"
    return line


@dataclass(frozen=True)
class GradeView:
    display: float  # the grade out of 5, to the half point
    score: float
    cold: bool | None  # None without a recorded turn
    attempt: int | None
    concepts: tuple[ConceptRow, ...]
    misconceptions: tuple[MisconceptionRow, ...]
    flags: tuple[str, ...]
    notes: tuple[str, ...]  # what the grader did: caps, truncation
    feedback: tuple[str, ...]
    judge: str | None  # the LLM judge's line, when it ran on the recorded turn
    coaching: Coaching  # what a strong answer adds; for a spoken answer, the delivery notes ranked
    voice: VoiceFacts | None  # a spoken answer's pace, fillers, pauses and repaired terms
    grader: str  # "<grader> <version> · <model>"
    highlights: tuple[Highlight, ...]  # the spans to mark in the answer: concepts in order, then misconceptions

    @property
    def headline(self) -> str:
        """``Grade: 3.5/5  (score 3.60, cold, attempt 1)`` (cold and attempt with a recorded turn)."""
        extra = "" if self.cold is None else f", {'cold' if self.cold else 'not cold'}, attempt {self.attempt}"
        return f"Grade: {self.display:g}/5  (score {self.score:.2f}{extra})"

    @property
    def repairs(self) -> tuple[Repair, ...]:
        return self.voice.repairs if self.voice is not None else ()

    @property
    def delivery(self) -> list[str]:
        """The delivery notes that matter (empty for a typed answer or a fine delivery)."""
        return [n.text for n in self.coaching.delivery if n.matters]


def _span(start: int, end: int, length: int | None) -> tuple[int, int] | None:
    if length is not None:
        start, end = max(0, start), min(length, end)
    return (start, end) if end > start >= 0 else None


def grade_view(grade: Grade, turn: Turn | None = None, rubric: Rubric | None = None, *,
               answer: str | None = None, insights: Mapping[str, Any] | None = None) -> GradeView:
    """The view of ``grade``; ``turn`` adds cold, attempt, the judge's line and (unless given) the answer
    and the insights; ``rubric`` adds the coaching's missing ideas and each concept's demo."""
    if turn is not None:
        answer = turn.answer if answer is None else answer
        insights = turn.insights if insights is None else insights
    length = len(answer) if answer is not None else None
    demos = {c.id: c.demo for c in rubric.concepts if c.demo} if rubric is not None else {}
    concepts = []
    for i, v in enumerate(grade.verdicts):
        e = v.evidence
        p = v.probabilities or {}
        concepts.append(ConceptRow(
            index=i, concept_id=v.concept_id, name=v.name, verdict=v.verdict,
            evidence=" ".join(e.text.split()) if e is not None else None,
            span=_span(e.start, e.end, length) if e is not None else None,
            similarity=v.similarity, lexical=v.lexical, p_states=p.get("states"), p_partly=p.get("partly"),
            feedback=v.feedback, demo=demos.get(v.concept_id)))
    misconceptions = []
    for m in grade.misconceptions:
        e = m.evidence
        misconceptions.append(MisconceptionRow(
            claim=m.claim, corrected=m.corrected, evidence=" ".join(e.text.split()) if e is not None else None,
            span=_span(e.start, e.end, length) if e is not None else None, correction=m.correction,
            probability=m.probability))
    marks = [Highlight(r.span[0], r.span[1], "covered" if r.verdict == "covered" else "partial", r.index, r.name)
             for r in concepts if r.span is not None and r.verdict in ("covered", "partial")]
    marks += [Highlight(m.span[0], m.span[1], "misconception", k, m.claim)
              for k, m in enumerate(misconceptions) if m.span is not None and not m.corrected]
    ins = dict(insights) if insights else None
    return GradeView(
        display=grade.display, score=grade.score,
        cold=turn.cold if turn is not None else None, attempt=turn.attempt if turn is not None else None,
        concepts=tuple(concepts), misconceptions=tuple(misconceptions), flags=tuple(grade.flags),
        notes=tuple(grade.notes), feedback=tuple(grade.feedback),
        judge=judge_line(turn) if turn is not None else None, coaching=coach(rubric, grade, ins),
        voice=voice_facts(ins), grader=f"{grade.grader} {grade.grader_version} · {grade.model}",
        highlights=tuple(marks))


# --------------------------------------------------------------------------- plain text and Markdown


def clip(text: str, n: int | None) -> str:
    """``text`` with its whitespace collapsed, cut to ``n`` characters (with "…") when ``n`` is given."""
    text = " ".join(text.split())
    return text if n is None or len(text) <= n else text[: n - 1] + "…"


def text_lines(view: GradeView, evidence_chars: int | None = None) -> list[str]:
    """The grade below its headline as plain text lines: one per concept with its evidence, misconceptions,
    flags, feedback, the judge's line, the repaired terms of a spoken answer, and the coaching."""
    out = []
    for r in view.concepts:
        ev = f' — "{clip(r.evidence, evidence_chars)}"' if r.evidence is not None else ""
        out.append(f"{r.mark} {r.verdict:<8} {r.name}{ev}")
    for m in view.misconceptions:
        said = f' ("{clip(m.evidence, evidence_chars)}")' if m.evidence is not None else ""
        out += [f"! {m.state}: {m.claim}{said}", f"  correction: {m.correction}"]
    if view.flags:
        out.append(f"flags: {', '.join(view.flags)}")
    out += [f"* {line}" for line in view.feedback]
    if view.judge:
        out.append(view.judge)
    if view.repairs:
        out.append("transcript: " + "; ".join(str(r) for r in view.repairs))
    return out + view.coaching.lines()


def md_cell(text: str) -> str:
    """``text`` on one line, safe in a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown_lines(view: GradeView) -> list[str]:
    """The grade as Markdown list items (a report's answer section)."""
    out = []
    for r in view.concepts:
        ev = f' — "{md_cell(r.evidence)}"' if r.evidence is not None else ""
        out.append(f"- **{r.verdict}** {r.name}{ev}")
    for m in view.misconceptions:
        out.append(f"- **{m.state}**: {m.claim} — correction: {m.correction}")
    if view.flags:
        out.append(f"- flags: {', '.join(view.flags)}")
    out += [f"- feedback: {fb}" for fb in view.feedback]
    if view.voice is not None and view.voice.summary():
        out.append(f"- voice: {', '.join(view.voice.summary())}")
    if view.repairs:
        out.append("- transcript: " + "; ".join(str(r) for r in view.repairs))
    out += [f"- a strong answer adds: {i.sentence}" for i in view.coaching.adds]
    out += [f"- delivery: {text}" for text in view.delivery]
    if view.judge:
        out.append(f"- {view.judge}")
    return out
