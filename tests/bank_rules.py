"""The bank's authoring rules, shared by the per-seed bank tests (tests/test_bank_*seed*.py).

Each function returns a list of problems (empty when the rule holds) or the ids it found, so that a test
reports every offending item at once instead of stopping at the first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.models import Question

SAMPLE_KINDS = ("strong", "good", "vague", "misconception", "adversarial")
_SENTENCE_END = re.compile(r"(?<=[.!?)])\s+(?=[A-Z(])")


def seed_questions(bank: Bank, seeds: Iterable[str]) -> list[Question]:
    """The bank's questions written from any of ``seeds`` (seed file names)."""
    wanted = set(seeds)
    return [q for q in bank.questions.values() if q.source.seed in wanted]


def item_problems(bank: Bank, seed: str, items: Mapping[str, tuple[str, str]]) -> list[str]:
    """Every item of ``seed`` has exactly one question, with the fixed id and section ``items`` give it
    (item -> (question id, section)), and no question cites an item that is not in ``items``."""
    by_item = {q.source.item: q for q in seed_questions(bank, [seed])}
    problems = []
    missing = sorted(set(items) - set(by_item))
    if missing:
        problems.append(f"{seed}: no question for items {missing}")
    extra = sorted(set(by_item) - set(items))
    if extra:
        problems.append(f"{seed}: questions cite items not in the list: {extra}")
    for item, (qid, section) in items.items():
        q = by_item.get(item)
        if q is None:
            continue
        if q.id != qid:
            problems.append(f"{seed} item {item} is {q.id!r}, expected the fixed id {qid!r}")
        elif q.section != section:
            problems.append(f"{qid}: section {q.section!r}, expected {section!r}")
    return problems


def authoring_problems(bank: Bank, questions: Iterable[Question], *, strict: bool = False) -> list[str]:
    """The authoring rules every bank item follows: 1-3 follow-ups linking bank questions and probing rubric
    concepts, 2-5 concepts with >= 4 exemplars and terms each, misconceptions with 2-3 exemplars, one sample
    of each kind with a band that fits it.

    ``strict`` adds the rules of the later seeds: key concepts are exactly the rubric's concepts, the model
    answer has 5-10 sentences, a computational concept has a demo, a strong sample covers every concept and a
    good one misses exactly one.
    """
    problems = []
    for q in questions:
        r = bank.rubric(q.id)
        concept_ids = {c.id for c in r.concepts}
        if not 1 <= len(q.follow_ups) <= 3:
            problems.append(f"{q.id}: {len(q.follow_ups)} follow-ups (want 1-3)")
        for fu in q.follow_ups:
            if fu.question is None:
                problems.append(f"{q.id}: inline follow-up; link a bank question")
            elif fu.question not in bank.questions:
                problems.append(f"{q.id}: follow-up {fu.question!r} is not in the bank")
            if fu.concept not in concept_ids:
                problems.append(f"{q.id}: follow-up probes unknown concept {fu.concept!r}")
        if set(q.key_concepts) - concept_ids:
            problems.append(f"{q.id}: key concepts not in the rubric")
        elif strict and set(q.key_concepts) != concept_ids:
            problems.append(f"{q.id}: key concepts differ from the rubric's concepts")
        if strict:
            sentences = [s for s in _SENTENCE_END.split(q.model_answer) if s.strip()]
            if not 5 <= len(sentences) <= 10:
                problems.append(f"{q.id}: model answer has {len(sentences)} sentences (want 5-10)")
        if not 2 <= len(r.concepts) <= 5:
            problems.append(f"{q.id}: {len(r.concepts)} concepts (want 2-5)")
        for c in r.concepts:
            if len(c.exemplars) < 4:
                problems.append(f"{q.id}/{c.id}: {len(c.exemplars)} exemplars (want >= 4)")
            if not c.terms:
                problems.append(f"{q.id}/{c.id}: no terms")
            if strict and c.computational and not c.demo:
                problems.append(f"{q.id}/{c.id}: computational concept without a demo")
        if not r.misconceptions:
            problems.append(f"{q.id}: no misconception")
        for m in r.misconceptions:
            if not 2 <= len(m.exemplars) <= 3:
                problems.append(f"{q.id}/{m.id}: {len(m.exemplars)} misconception exemplars (want 2-3)")
        kinds = Counter(s.kind for s in r.samples)
        for kind in SAMPLE_KINDS:
            if kinds[kind] < 1:
                problems.append(f"{q.id}: no {kind} sample")
        for s in r.samples:
            lo, hi = s.band
            if s.kind == "misconception" and hi > 2:
                problems.append(f"{q.id}/{s.id}: misconception band above 2")
            if s.kind == "adversarial" and (lo, hi) != (0, 1):
                problems.append(f"{q.id}/{s.id}: adversarial band must be [0, 1]")
            if s.kind == "strong" and lo < 3.5:
                problems.append(f"{q.id}/{s.id}: a strong sample's band starts below 3.5")
            if strict and s.kind == "strong" and set(s.covered) != concept_ids:
                problems.append(f"{q.id}/{s.id}: a strong sample covers every concept")
            if strict and s.kind == "good" and len(s.missing) != 1:
                problems.append(f"{q.id}/{s.id}: a good sample misses exactly one key concept")
    return problems


def with_spoken_sample(bank: Bank, questions: Iterable[Question]) -> list[str]:
    """The ids of ``questions`` whose rubric has a spoken sample."""
    return [q.id for q in questions if any(s.kind == "spoken" for s in bank.rubric(q.id).samples)]


def orphans(bank: Bank, questions: Iterable[Question], except_tag: str | None = None) -> list[str]:
    """The ids of ``questions`` that no bank question follows up to (questions tagged ``except_tag`` aside)."""
    targets = {fu.question for q in bank.questions.values() for fu in q.follow_ups}
    return sorted(q.id for q in questions if q.id not in targets and (except_tag is None or except_tag not in q.tags))
