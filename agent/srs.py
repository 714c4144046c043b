"""Spaced repetition: a grade becomes an FSRS rating, and the `fsrs` scheduler decides when a question is due.

The mapping is deliberately simple and monotone in the score:

* ``Again`` (1): under 2/5, an empty or "don't know" answer, or an attempt made after the model answer
  was shown (nothing was recalled);
* ``Hard`` (2): 2 to 3.5, or any attempt that was hinted or not the first one, or an answer carrying an
  uncorrected misconception (however fluent);
* ``Good`` (3): 3.5 to 4.5;
* ``Easy`` (4): 4.5 and above.

The scheduler runs without fuzzing so the same history always gives the same due dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsrs import Card, Rating, Scheduler

    from agent.models import Grade

AGAIN, HARD, GOOD, EASY = 1, 2, 3, 4
RATING_NAMES = {AGAIN: "again", HARD: "hard", GOOD: "good", EASY: "easy"}

#: score thresholds (0-5): below HARD_AT is Again, below GOOD_AT is Hard, below EASY_AT is Good.
HARD_AT, GOOD_AT, EASY_AT = 2.0, 3.5, 4.5
FAILING_FLAGS = frozenset({"empty", "dont_know"})


def rating_value(score: float, *, cold: bool = True, hinted: bool = False, model_answer_shown: bool = False,
                 flags: tuple[str, ...] | list[str] = (), misconception: bool = False) -> int:
    """The FSRS rating (1-4) for a graded attempt. Pure; see the module docstring for the rules."""
    if model_answer_shown or FAILING_FLAGS.intersection(flags) or score < HARD_AT:
        return AGAIN
    if score < GOOD_AT:
        value = HARD
    elif score < EASY_AT:
        value = GOOD
    else:
        value = EASY
    if hinted or not cold or misconception:
        value = min(value, HARD)
    return value


def grade_rating_value(grade: Grade, *, cold: bool = True, hinted: bool = False,
                       model_answer_shown: bool = False) -> int:
    uncorrected = any(not m.corrected for m in grade.misconceptions)
    return rating_value(grade.score, cold=cold, hinted=hinted, model_answer_shown=model_answer_shown,
                        flags=grade.flags, misconception=uncorrected)


def to_rating(value: int) -> Rating:
    from fsrs import Rating

    return Rating(value)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


@dataclass
class Review:
    """The outcome of reviewing one question: the new card state and when it is due next."""

    question_id: str
    rating: int
    due: datetime
    card: dict[str, Any]
    reviewed_at: datetime

    @property
    def interval_s(self) -> float:
        return (self.due - self.reviewed_at).total_seconds()


_SCHEDULER: Scheduler | None = None


def scheduler() -> Scheduler:
    """The process-wide FSRS scheduler (default parameters, 90% retention, no fuzzing)."""
    global _SCHEDULER
    if _SCHEDULER is None:
        from fsrs import Scheduler

        _SCHEDULER = Scheduler(enable_fuzzing=False)
    return _SCHEDULER


def new_card(card_id: int, now: datetime | None = None) -> Card:
    from fsrs import Card

    return Card(card_id=card_id, due=_aware(now or utcnow()))


def review(question_id: str, card_state: dict[str, Any] | None, rating: int,
           now: datetime | None = None, card_id: int = 0) -> Review:
    """Review a card (a fresh one when ``card_state`` is None) with a 1-4 rating at ``now``."""
    from fsrs import Card

    now = _aware(now or utcnow())
    card = Card.from_dict(card_state) if card_state else new_card(card_id, now)
    card, _log = scheduler().review_card(card, to_rating(rating), review_datetime=now)
    return Review(question_id=question_id, rating=rating, due=_aware(card.due), card=card.to_dict(),
                  reviewed_at=now)


def retrievability(card_state: dict[str, Any], now: datetime | None = None) -> float:
    """Probability (0-1) that the question would be recalled now, by the FSRS memory model."""
    from fsrs import Card

    return float(scheduler().get_card_retrievability(Card.from_dict(card_state), _aware(now or utcnow())))
