"""How the offline grade and the LLM judge's grade combine.

The blend (documented in the README, section "LLM judge"):

* **Score.** ``blended = 0.4 x offline + 0.6 x judge``, where *judge* is the judge's grade capped by its
  verified evidence (``JudgeResult.effective_grade``: at most 5 x the weighted credit of the concepts whose
  quotes were found in the answer, plus 0.5). The judge reads meaning the offline grader misses; the offline
  grade anchors it.
* **Disagreement.** When the offline grade and the judge's grade differ by 2 or more, the grade is
  flagged ``disagreement`` and a note shows both numbers (``Grade.extra`` keeps both as well).
* **Concepts.** Per concept, credit ``0.4 x offline + 0.6 x judge`` (covered 1, partial 0.5, missing 0):
  covered at 0.7 or more, partial at 0.3 or more, else missing. A judge verdict whose quote is not in the
  answer does not count: the offline verdict stands for that concept. Verified judge quotes become the
  evidence.
* **Injection.** When the answer addresses the grader (the offline grader's ``injection`` flag or the
  judge module's own check), nothing can go up: the score is at most the offline score and no concept
  verdict rises above the offline verdict, whatever the judge returned.
* **Failure.** When the judge could not be used the offline grade stands unchanged, with one note that
  says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.models import ConceptVerdict, Grade, MisconceptionHit, half_point

if TYPE_CHECKING:
    from agent.grading.judge import JudgeResult
    from agent.models import Rubric

EMBEDDING_WEIGHT = 0.4
JUDGE_WEIGHT = 0.6
DISAGREEMENT = 2.0
COVERED_AT = 0.7
PARTIAL_AT = 0.3
_CREDIT = {"covered": 1.0, "partial": 0.5, "missing": 0.0}
_RANK = {"missing": 0, "partial": 1, "covered": 2}


def _verdict(credit: float) -> str:
    return "covered" if credit >= COVERED_AT - 1e-9 else "partial" if credit >= PARTIAL_AT - 1e-9 else "missing"


def blend(grade: Grade, result: JudgeResult, rubric: Rubric | None = None) -> Grade:
    """The embedding ``grade`` refined by the judge's ``result`` (a new Grade; the input is not changed)."""
    g = grade.model_copy(deep=True)
    g.extra["judge"] = result.model_dump(mode="json")
    if not result.ok or result.effective_grade is None:
        g.notes.append(f"LLM judge not used, the offline grade stands: {result.failure or 'no result'}")
        return g

    injection = "injection" in grade.flags or bool(result.injection)
    if injection and "injection" not in g.flags:
        g.flags.append("injection")
    e, j = grade.score, float(result.effective_grade)
    score = EMBEDDING_WEIGHT * e + JUDGE_WEIGHT * j
    if injection and score > e:
        score = e
        g.notes.append("the answer addresses the grader: the LLM judge could not raise the grade "
                       f"(judge said {result.grade:g})")
    score = round(min(5.0, max(0.0, score)), 3)

    if abs(e - j) >= DISAGREEMENT:
        if "disagreement" not in g.flags:
            g.flags.append("disagreement")
        g.notes.append(f"offline grader {e:.1f} vs LLM judge {j:.1f} (they differ by 2 or more); "
                       f"blended {score:.1f}")
    if result.grade is not None and j < result.grade:
        g.notes.append(f"the LLM judge's {result.grade:g} was capped at {j:g}: its quoted evidence supports no more")
    if result.unverified:
        g.notes.append("the LLM judge quoted text that is not in the answer for: "
                       f"{', '.join(result.unverified)} (not counted)")

    judged = {c.concept_id: c for c in result.concepts}
    verdicts: list[ConceptVerdict] = []
    for v in g.verdicts:
        jc = judged.get(v.concept_id)
        if jc is None or not jc.counts:
            verdicts.append(v)
            continue
        credit = EMBEDDING_WEIGHT * _CREDIT[v.verdict] + JUDGE_WEIGHT * _CREDIT[jc.verdict]
        new = _verdict(credit)
        if injection and _RANK[new] > _RANK[v.verdict]:
            new = v.verdict
        nv = v.model_copy(update={"verdict": new, "source": "judge" if new == jc.verdict else "blend"})
        nv.score = round(min(v.score, credit) if injection else credit, 3)
        if jc.evidence is not None and new != "missing" and not (injection and v.evidence is not None):
            nv.evidence = jc.evidence
        if jc.reason:
            nv.feedback = jc.reason
        verdicts.append(nv)
    g.verdicts = verdicts

    have = {m.misconception_id for m in g.misconceptions}
    if rubric is not None:
        for m in result.misconceptions:
            if m.verified and m.misconception_id not in have:
                mc = next((x for x in rubric.misconceptions if x.id == m.misconception_id), None)
                if mc is not None:
                    g.misconceptions.append(MisconceptionHit(misconception_id=mc.id, claim=mc.claim,
                                                             correction=mc.correction, similarity=0.0,
                                                             evidence=m.evidence))
                    have.add(mc.id)

    if result.feedback:
        g.feedback.append(f"Judge: {result.feedback}")
    g.score = score
    g.display = half_point(score)
    g.grader = "blend"
    g.grader_version = f"{grade.grader_version}+judge{result.prompt_version}"
    g.model = f"{grade.model} + {result.model}"
    g.extra["blend"] = {"embedding": e, "judge": j, "judge_raw": result.grade,
                        "weights": {"embedding": EMBEDDING_WEIGHT, "judge": JUDGE_WEIGHT},
                        "follow_up": result.follow_up, "injection": injection}
    return g
