"""Typed data for the whole core: the bank (questions, rubrics, sample answers) and grading results.

Everything here is plain pydantic. Nothing heavy is imported, so the bank can be loaded and checked
without torch.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

Verdict = Literal["covered", "partial", "missing"]
Difficulty = Literal["easy", "medium", "hard"]
FollowUpKind = Literal["prerequisite", "deeper", "contrast", "probe"]
SampleKind = Literal["strong", "good", "vague", "misconception", "adversarial", "spoken", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def _slug(value: str, what: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError(f"{what} {value!r} must be a lowercase slug like 'clm-loss'")
    return value


# --------------------------------------------------------------------------- bank: questions


class Source(_Strict):
    """Where a question's facts come from: a seed file and the item in it ("3", "3.f2", "scaling-laws")."""

    seed: str
    item: str

    @field_validator("item", mode="before")
    @classmethod
    def _item_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) else v


class FollowUp(_Strict):
    """A follow-up: either another bank question (``question``) or an inline ``prompt``."""

    question: str | None = None
    prompt: str | None = None
    concept: str = Field(description="the concept id (of this question's rubric) that the follow-up probes")
    kind: FollowUpKind = "deeper"

    @model_validator(mode="after")
    def _one_target(self) -> FollowUp:
        if (self.question is None) == (self.prompt is None):
            raise ValueError("a follow-up needs exactly one of 'question' (a bank id) or 'prompt' (inline text)")
        return self


class Question(_Strict):
    id: str
    section: str = Field(description="section tag, e.g. 'A' .. 'H' for the loss questions, or a topic slug")
    topic: str
    prompt: str
    model_answer: str
    key_concepts: list[str] = Field(min_length=1)
    follow_ups: list[FollowUp] = Field(default_factory=list)
    difficulty: Difficulty = "medium"
    source: Source
    tags: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id_slug(cls, v: str) -> str:
        return _slug(v, "question id")

    @field_validator("prompt", "model_answer")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class Section(_Strict):
    """A section of the bank (questions/sections.yaml): its title and what it covers, in one line."""

    title: str
    description: str

    @field_validator("title", "description")
    @classmethod
    def _one_line(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("must not be blank")
        return v


# --------------------------------------------------------------------------- bank: rubrics


class Misconception(_Strict):
    id: str
    claim: str = Field(description="the wrong claim, stated as a candidate would believe it")
    exemplars: list[str] = Field(min_length=1, description="ways a candidate would voice the wrong claim")
    correction: str

    @field_validator("id")
    @classmethod
    def _id_slug(cls, v: str) -> str:
        return _slug(v, "misconception id")


class Concept(_Strict):
    id: str
    name: str
    weight: float = Field(gt=0)
    description: str
    exemplars: list[str] = Field(min_length=1, description="ways a candidate would say it (>= 3 by lint)")
    terms: list[str] = Field(default_factory=list, description="terms and aliases that are lexical evidence")
    demo: str | None = Field(default=None, description="name of the agent/demos module illustrating it")
    computational: bool = Field(
        default=False, description="a concept that can be shown in code; lint wants a demo for it"
    )
    probe: str | None = Field(
        default=None, description="the interviewer's question asking for the idea without naming it"
    )
    hints: list[str] = Field(default_factory=list, description="2-3 hints, vague to specific")

    @field_validator("id")
    @classmethod
    def _id_slug(cls, v: str) -> str:
        return _slug(v, "concept id")


class SampleAnswer(_Strict):
    """A sample answer with the band a careful human interviewer would give (0-5, at most 2 wide)."""

    id: str
    kind: SampleKind
    answer: str
    band: tuple[float, float]
    covered: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    note: str | None = None
    xfail: str | None = Field(
        default=None,
        description="a known grader miss, with the reason; `viva grade` reports it without failing the run",
    )

    @field_validator("band")
    @classmethod
    def _band(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (0 <= lo <= hi <= 5):
            raise ValueError(f"band {list(v)} must satisfy 0 <= low <= high <= 5")
        if hi - lo > 2:
            raise ValueError(f"band {list(v)} is wider than 2 points")
        return v


class Rubric(_Strict):
    question_id: str
    version: int = Field(ge=1)
    concepts: list[Concept] = Field(min_length=1)
    misconceptions: list[Misconception] = Field(default_factory=list)
    samples: list[SampleAnswer] = Field(default_factory=list)

    def concept(self, concept_id: str) -> Concept:
        for c in self.concepts:
            if c.id == concept_id:
                return c
        raise KeyError(concept_id)

    @property
    def total_weight(self) -> float:
        return sum(c.weight for c in self.concepts)


# --------------------------------------------------------------------------- grading results


class Evidence(_Strict):
    """A span of the answer: ``answer[start:end] == text``."""

    start: int
    end: int
    text: str


class ConceptVerdict(_Strict):
    concept_id: str
    name: str
    weight: float
    verdict: Verdict
    similarity: float = Field(description="best semantic similarity of an answer sentence to the concept")
    lexical: float = Field(default=0.0, description="share of the concept's terms found (0-1)")
    score: float = Field(default=0.0, description="credit earned for this concept, 0-1")
    evidence: Evidence | None = None
    feedback: str | None = None
    source: str = Field(default="embedding", description="which scorer decided it: embedding, judge, blend")
    probabilities: dict[str, float] | None = Field(
        default=None, description="the entailment model's class probabilities for the evidence unit "
        "(unrelated, partly, states, contradicts)")


class MisconceptionHit(_Strict):
    misconception_id: str
    claim: str
    correction: str
    similarity: float
    evidence: Evidence | None = None
    corrected: bool = Field(default=False, description="the answer itself rejects the claim")
    probability: float | None = Field(default=None, description="the entailment model's probability that the "
                                      "evidence states the claim")

    @property
    def feedback(self) -> str:
        """The feedback line a grader gives for a stated misconception."""
        return f"Misconception: {self.claim} Correction: {self.correction}"


class Grade(_Strict):
    question_id: str | None
    score: float = Field(ge=0, le=5, description="0-5 as a float")
    display: float = Field(ge=0, le=5, description="score rounded to the nearest half point")
    verdicts: list[ConceptVerdict] = Field(default_factory=list)
    misconceptions: list[MisconceptionHit] = Field(default_factory=list)
    flags: list[str] = Field(
        default_factory=list,
        description="empty, dont_know, buzzwords, off_topic, restatement, injection, truncated ...",
    )
    feedback: list[str] = Field(default_factory=list, description="one line per missing concept, then notes")
    notes: list[str] = Field(default_factory=list, description="what the grader did: caps, truncation ...")
    grader: str = "embedding"
    grader_version: str
    model: str
    rubric_version: int | None = None
    answer_chars: int = 0
    extra: dict[str, Any] = Field(default_factory=dict, description="scorer-specific data (judge, timings)")

    def verdict(self, concept_id: str) -> ConceptVerdict:
        for v in self.verdicts:
            if v.concept_id == concept_id:
                return v
        raise KeyError(concept_id)

    @property
    def covered(self) -> list[str]:
        return [v.concept_id for v in self.verdicts if v.verdict == "covered"]

    @property
    def missing(self) -> list[str]:
        return [v.concept_id for v in self.verdicts if v.verdict == "missing"]


def half_point(score: float) -> float:
    """Round a 0-5 score to the nearest half point (ties go up)."""
    return min(5.0, max(0.0, int(score * 2 + 0.5) / 2))


# --------------------------------------------------------------------------- interview history

TurnSource = Literal["typed", "voice"]
SessionMode = Literal["mock", "practice", "drill"]


class Turn(_Strict):
    """One graded answer in a session, exactly as it is committed to the history database."""

    session_id: str
    index: int = Field(ge=0, description="0-based position in the session")
    question_id: str = Field(description="a bank id, or '<parent>-fuN' / '<parent>-fix-ID' for inline follow-ups")
    parent_id: str | None = Field(default=None, description="the bank question an inline follow-up belongs to")
    prompt: str = Field(default="", description="the question as it was asked")
    section: str = ""
    topic: str = ""
    seed: str | None = Field(default=None, description="the source seed file of the bank question")
    answer: str
    source: TurnSource = "typed"
    transcript: str | None = None
    words: list[dict[str, Any]] | None = None
    audio_path: str | None = None
    grade: Grade = Field(description="the stored grade: the scorer's until the LLM judge's result is applied, "
                         "then the blend of the two (see offline_grade)")
    offline_grade: Grade | None = Field(default=None, description="the scorer's own grade once a judge result "
                                        "replaced ``grade`` with the blend; None while ``grade`` is the scorer's")
    insights: dict[str, Any] | None = None
    judge: dict[str, Any] | None = Field(default=None, description="the LLM judge's result as JSON "
                                         "(JudgeResult.model_dump), or {'ok': False, 'failure': ...}")
    cold: bool = True
    hinted: bool = False
    model_answer_shown: bool = False
    attempt: int = Field(default=1, ge=1)
    choice: dict[str, Any] | None = Field(default=None, description="the follow-up choice that led here, with its reason")
    created_at: datetime

    @property
    def score(self) -> float:
        return self.grade.score

    @property
    def judged(self) -> bool:
        """Whether the stored grade is the blend of the scorer's grade and an LLM judge result."""
        return self.offline_grade is not None


class SessionInfo(_Strict):
    id: str
    mode: SessionMode
    started_at: datetime
    finished_at: datetime | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    n_turns: int = 0
    mean_grade: float | None = None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None
