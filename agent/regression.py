"""The rubric regression suite: run the bank's sample answers through a scorer and compare with their bands.

A sample passes when its grade lies inside its expected band. For every failure the result names what
decided it (a concept credited that the sample should miss, a key concept not found, a misconception that
was or was not detected, a cap from a flag), so a rubric author can fix the rubric rather than the band.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.grading.base import Scorer
    from agent.models import Grade, Rubric, SampleAnswer


CAP_FLAGS = {"empty", "dont_know", "buzzwords", "off_topic", "restatement", "injection"}


@dataclass
class SampleResult:
    question_id: str
    sample: SampleAnswer
    grade: Grade
    passed: bool
    differs: list[str] = field(default_factory=list)  # expected vs found concepts, e.g. "+electra-all-tokens"
    decided_by: list[str] = field(default_factory=list)  # why a failing grade landed where it did

    @property
    def status(self) -> str:
        if self.sample.xfail:
            return "xpass" if self.passed else "xfail"
        return "pass" if self.passed else "FAIL"

    @property
    def name(self) -> str:
        return f"{self.question_id}/{self.sample.id}"

    @property
    def midpoint(self) -> float:
        lo, hi = self.sample.band
        return (lo + hi) / 2


@dataclass
class SuiteResult:
    results: list[SampleResult]
    seconds: float
    model: str = ""
    grader_version: str = ""

    @property
    def failures(self) -> list[SampleResult]:
        return [r for r in self.results if r.status == "FAIL"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def by_kind(self, kind: str) -> list[SampleResult]:
        return [r for r in self.results if r.sample.kind == kind]

    def summary(self) -> dict:
        from agent.grading.metrics import spearman

        mids = [r.midpoint for r in self.results]
        grades = [r.grade.score for r in self.results]
        mis = [r.grade.score for r in self.by_kind("misconception")]
        adv = [r.grade.score for r in self.by_kind("adversarial")]
        counts = {s: sum(r.status == s for r in self.results) for s in ("pass", "FAIL", "xfail", "xpass")}
        return {
            "samples": len(self.results),
            "questions": len({r.question_id for r in self.results}),
            "passed": counts["pass"],
            "failed": counts["FAIL"],
            "xfail": counts["xfail"],
            "xpass": counts["xpass"],
            "spearman_band_midpoint_vs_grade": spearman(mids, grades) if len(mids) > 2 else None,
            "max_misconception_grade": max(mis) if mis else None,
            "max_adversarial_grade": max(adv) if adv else None,
            "seconds": round(self.seconds, 2),
            "grader": self.results[0].grade.grader if self.results else "",
            "model": self.model,
            "grader_version": self.grader_version,
        }


def _explain(rubric: Rubric, sample: SampleAnswer, grade: Grade) -> tuple[list[str], list[str]]:
    """(concept differences, what decided a failure)."""
    lo, hi = sample.band
    verdicts = {v.concept_id: v for v in grade.verdicts}
    differs: list[str] = []
    too_high, too_low = [], []
    for cid in sample.covered:
        v = verdicts.get(cid)
        if v is not None and v.verdict != "covered":
            differs.append(f"-{cid}({v.verdict})")
            too_low.append(f"concept {cid!r} expected covered, found {v.verdict} (similarity {v.similarity:.2f}, "
                           f"lexical {v.lexical:.2f}): add an exemplar or term that says it this way")
    for cid in sample.missing:
        v = verdicts.get(cid)
        if v is not None and v.verdict != "missing":
            differs.append(f"+{cid}({v.verdict})")
            ev = f" from {v.evidence.text!r}" if v.evidence else ""
            too_high.append(f"concept {cid!r} credited {v.verdict}{ev} (similarity {v.similarity:.2f}): "
                            "its exemplars or terms are too broad")
    hits = [m for m in grade.misconceptions if not m.corrected]
    if sample.kind == "misconception" and not hits:
        best = ", ".join(m.id for m in rubric.misconceptions)
        too_high.append(f"no misconception detected (rubric has: {best}): add an exemplar phrased like this answer")
    if sample.kind != "misconception":
        for m in hits:
            ev = f" on {m.evidence.text!r}" if m.evidence else ""
            too_low.append(f"misconception {m.misconception_id!r} fired{ev} (similarity {m.similarity:.2f})")
    if sample.kind == "adversarial" and not grade.flags:
        too_high.append("no adversarial flag raised (buzzwords/off_topic/restatement/injection/dont_know)")
    for flag in grade.flags:
        if flag in CAP_FLAGS and sample.kind not in ("adversarial", "vague"):
            too_low.append(f"flag {flag!r} capped the grade")
    decided: list[str] = []
    if grade.score > hi:
        decided = too_high or [f"grade {grade.score:.2f} above band: partial credit adds up; see the verdicts"]
    elif grade.score < lo:
        decided = too_low or [f"grade {grade.score:.2f} below band: concepts found only partially"]
    return differs, decided


def iter_samples(bank: Bank, question_ids: Iterable[str] | None = None, section: str | None = None):
    wanted = set(question_ids) if question_ids else None
    for qid in sorted(bank.rubrics):
        if wanted is not None and qid not in wanted:
            continue
        q = bank.questions.get(qid)
        if q is None or (section and q.section.lower() != section.lower()):
            continue
        rubric = bank.rubrics[qid]
        for s in rubric.samples:
            yield q, rubric, s


def run_suite(bank: Bank, scorer: Scorer, question_ids: Iterable[str] | None = None,
              section: str | None = None) -> SuiteResult:
    t0 = time.perf_counter()
    triples = list(iter_samples(bank, question_ids, section))
    grades = scorer.score_many([(q, r, s.answer) for q, r, s in triples])
    results = []
    for (q, r, s), g in zip(triples, grades, strict=True):
        lo, hi = s.band
        passed = lo <= g.score <= hi
        differs, decided = _explain(r, s, g)
        results.append(SampleResult(q.id, s, g, passed, differs, decided))
    first = grades[0] if grades else None
    return SuiteResult(results, time.perf_counter() - t0, first.model if first else "",
                       first.grader_version if first else "")


def junit_xml(suite: SuiteResult) -> str:
    """JUnit XML for CI systems: one testcase per sample; xfail is reported as skipped."""
    from xml.etree import ElementTree as ET

    ts = ET.Element("testsuite", name="viva-grade", tests=str(len(suite.results)),
                    failures=str(len(suite.failures)),
                    skipped=str(sum(r.status == "xfail" for r in suite.results)), time=f"{suite.seconds:.3f}")
    for r in suite.results:
        tc = ET.SubElement(ts, "testcase", classname=r.question_id, name=r.sample.id)
        lo, hi = r.sample.band
        if r.status == "FAIL":
            f = ET.SubElement(tc, "failure", message=f"grade {r.grade.score:.2f} outside band [{lo:g}, {hi:g}]")
            f.text = "\n".join(r.decided_by + ([f"concepts differ: {' '.join(r.differs)}"] if r.differs else []))
        elif r.status == "xfail":
            ET.SubElement(tc, "skipped", message=f"known miss: {r.sample.xfail}")
    return ET.tostring(ts, encoding="unicode")
