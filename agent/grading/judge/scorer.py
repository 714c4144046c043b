"""The judge as a registered scorer: the configured grader's grade refined by the judge."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from agent.grading.base import Scorer, register
from agent.grading.judge.core import Judge
from agent.grading.judge.schema import JUDGE_VERSION

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric


@register("judge")
class JudgeScorer(Scorer):
    """The offline grade refined by the LLM judge (blended; the offline grade stands on any failure)."""

    name = "judge"
    version = JUDGE_VERSION

    def __init__(self, judge: Judge | None = None, base: Scorer | None = None):
        self._judge = judge
        self._base = base

    @property
    def judge(self) -> Judge:
        if self._judge is None:
            self._judge = Judge()
        return self._judge

    @property
    def base(self) -> Scorer:
        if self._base is None:
            from agent.config import get_settings
            from agent.grading.base import get_scorer

            name = get_settings().grader  # the judge refines the configured grader (never itself)
            self._base = get_scorer("entail" if name == self.name else name)
        return self._base

    def score(self, question: Question, rubric: Rubric, answer: str) -> Grade:
        from agent.grading.blend import blend

        grade = self.base.score(question, rubric, answer)
        return blend(grade, self.judge.judge(question, rubric, answer), rubric)

    async def score_async(self, question: Question, rubric: Rubric, answer: str) -> Grade:
        """The offline grade (in a thread) then the judge, without blocking the event loop."""
        from agent.grading.blend import blend

        grade = await asyncio.to_thread(self.base.score, question, rubric, answer)
        return blend(grade, await self.judge.judge_async(question, rubric, answer), rubric)

    def score_many(self, items: list[tuple[Question, Rubric, str]]) -> list[Grade]:
        from agent.grading.blend import blend

        grades = self.base.score_many(items)
        results = self.judge.judge_many_sync(items)
        return [blend(g, r, it[1]) for g, r, it in zip(grades, results, items, strict=True)]
