"""A past session, for review: every question as it was asked, the answer as given, the grade, the evidence
and the coaching. The history screen's review and `viva history SESSION` show the same
:class:`SessionReview`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.coaching import Coaching
from agent.grade_view import GradeView, grade_view, text_lines
from agent.models import Rubric, SessionInfo, Turn

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.store import Store


@dataclass
class ReviewItem:
    turn: Turn
    view: GradeView  # the grade as every front end shows it (with the coaching)
    section: str  # "A: Causal language modelling" (or the bare tag)
    follow_up: tuple[str, str] | None = None  # (kind, reason) when a follow-up asked this question

    @property
    def coaching(self) -> Coaching:
        return self.view.coaching

    @property
    def spoken(self) -> bool:
        return self.turn.source == "voice"

    @property
    def how(self) -> str:
        """How the answer was given: typed or spoken, cold or not, hinted, model answer shown, attempt."""
        t = self.turn
        parts = ["spoken" if self.spoken else "typed", "cold" if t.cold else "not cold"]
        if t.hinted:
            parts.append("hinted")
        if t.model_answer_shown:
            parts.append("model answer shown")
        if t.attempt > 1:
            parts.append(f"attempt {t.attempt}")
        return ", ".join(parts)


@dataclass
class SessionReview:
    session: SessionInfo
    items: list[ReviewItem] = field(default_factory=list)

    @property
    def mean_grade(self) -> float | None:
        return sum(i.turn.grade.score for i in self.items) / len(self.items) if self.items else None

    def lines(self) -> list[str]:
        """The review as plain text lines (the terminal's `viva history SESSION`)."""
        s = self.session
        mean = f", mean grade {self.mean_grade:.2f}/5" if self.mean_grade is not None else ""
        status = "finished" if s.finished else ("open (`viva resume` continues)" if self.items else "no answers")
        out = [f"session {s.id} · {s.mode} · {s.started_at:%Y-%m-%d %H:%M} · {len(self.items)} answers{mean} · "
               f"{status}"]
        for item in self.items:
            t = item.turn
            out += ["", f"{t.index + 1}. {t.question_id} · section {item.section} · {item.view.display:g}/5 · {item.how}"]
            if item.follow_up:
                out.append(f"   follow-up ({item.follow_up[0]}): {item.follow_up[1]}")
            out.append(f"   Q: {t.prompt}")
            answer = " ".join(t.answer.split()) or "(empty)"
            out.append(f"   A: {answer}")
            if t.audio_path:
                out.append(f"   audio: {t.audio_path}")
            out += [f"   {line}" for line in text_lines(item.view)]
        return out


def rubric_of(bank: Bank | None, qid: str) -> Rubric | None:
    """The rubric a recorded answer was graded against: the bank's, or a follow-up's rebuilt from its id."""
    if bank is None:
        return None
    if qid in bank.rubrics:
        return bank.rubrics[qid]
    from agent.policy import derive

    got = derive(bank, qid)
    return got[1] if got is not None else None


def _follow_up(t: Turn) -> tuple[str, str] | None:
    if t.choice and t.choice.get("kind") not in (None, "new-topic", "review"):
        return str(t.choice["kind"]), str(t.choice.get("reason", ""))
    return None


def review_session(store: Store, session_id: str, bank: Bank | None = None) -> SessionReview:
    """The session ``session_id`` (id, unique prefix or "last") with every answer and its coaching."""
    sid = store.resolve(session_id)
    info = store.session(sid)
    items = []
    for t in store.turns(sid):
        label = bank.section_label(t.section) if bank is not None and t.section else (t.section or "-")
        items.append(ReviewItem(turn=t, view=grade_view(t.grade, t, rubric_of(bank, t.question_id)),
                                section=label, follow_up=_follow_up(t)))
    return SessionReview(session=info, items=items)
