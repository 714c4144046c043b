"""Nothing the judge says is taken on trust: quotes are looked up in the answer, injections are found,
the reply's JSON is extracted and validated, and the grade is capped by the verified evidence."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agent.grading.judge.schema import (
    CREDIT,
    EVIDENCE_SLACK,
    CheckedConcept,
    CheckedMisconception,
    JudgeOutput,
    JudgeResult,
)
from agent.models import Evidence

if TYPE_CHECKING:
    from agent.models import Question, Rubric

# --------------------------------------------------------------------------- evidence and injection checks

_QUOTE_CHARS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                              "\u2014": "-", "\u2212": "-", "\u00a0": " "})
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|\u2026)\s*")


def _normalise(text: str) -> tuple[str, list[int]]:
    """Casefolded text with whitespace runs collapsed, and for each of its characters the source index."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(unicodedata.normalize("NFC", text).translate(_QUOTE_CHARS)):
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                index.append(i)
            continue
        for c in ch.casefold():
            out.append(c)
            index.append(i)
    return "".join(out), index


def find_quote(answer: str, quote: str) -> Evidence | None:
    """Where ``quote`` occurs in ``answer``, tolerant of case, whitespace, typographic quotes and an elision
    ("first part ... second part", parts in order). None when it is not there or is empty.

    The returned span is into ``answer`` itself: ``answer[start:end] == text``.
    """
    answer = unicodedata.normalize("NFC", answer)
    q = quote.strip().strip("\"'`\u201c\u201d\u2018\u2019").strip()
    parts = [p.strip() for p in _ELLIPSIS.split(q) if p.strip()]
    if not parts:
        return None
    hay, index = _normalise(answer)
    pos, first, last = 0, None, None
    for part in parts:
        needle, _ = _normalise(part)
        needle = needle.strip()
        if len(needle) < 2:
            return None
        at = hay.find(needle, pos)
        if at < 0:
            return None
        first = at if first is None else first
        last = at + len(needle) - 1
        pos = last + 1
    assert first is not None and last is not None
    start, end = index[first], index[last] + 1
    return Evidence(start=start, end=end, text=answer[start:end])


_GRADER_WORD = r"\b(?:grader|evaluator|examiner|judge|marker|assessor|reviewer)"
_GRADER = (r"\b(?:grader|evaluator|examiner|judge|marker|assessor|reviewer|(?:scoring|grading|marking|evaluation|"
           r"evaluating|assessment)\s+(?:system|model|ai|llm|assistant|bot|tool|pipeline|script))")
# Narrow on purpose: interview answers talk about prompts, instructions, scores and system messages
# (SFT, chat templates, classification), so only phrases aimed at whoever grades the answer count.
_INJECTION_PATTERNS = [
    # talking to whoever grades
    # "Grader, ..." / "[grader: ...]": the word opens a sentence or a bracket (so "special markers, ..." is fine)
    r"(?:^|[.!?;\[(]|\n)\s*(?:p\.?s\.?\s*)?" + _GRADER_WORD + r"s?\s*(?:[:,\]\-\u2013\u2014]|$)",
    r"\b(?:grader|evaluator|examiner)s?\s+(?:instructions?|notes?|override)\b",
    r"\b(?:note|message|instructions?|request|hint|reminder|p\.?s\.?)s?\s+(?:to|for)\s+(?:the\s+|any\s+|whoever\s+)?"
    + _GRADER,
    r"\b(?:dear|hey|hello|hi|attention)\s*,?\s+(?:the\s+)?" + _GRADER_WORD + r"s?\b",
    r"\bwhoever\s+(?:grades|marks|scores|evaluates|assesses|reviews)\b",
    r"\b(?:evaluation|grading|marking|scoring)\s+(?:note|instructions?|override)\b",
    r"\binstructions?\s+(?:to|for)\s+the\s+(?:scoring|grading|marking|evaluat\w*)\b",
    r"\b(?:assistant|model|ai|llm)\s+(?:grading|scoring|evaluating|marking)\s+(?:this|the\s+answer)\b",
    r"\bas\s+the\s+" + _GRADER_WORD + r"\s*,?\s+you\b",
    r"\byou\s+are\s+now\s+(?:a|an|the|in)\b",
    # telling it to drop the rubric
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+)?(?:of\s+)?(?:your|the\s+above|the\s+previous|all\s+previous|"
    r"previous|prior|above|earlier|any\s+previous)\s+(?:instructions|directions|rules|guidelines)",
    r"\b(?:ignore|disregard|forget|override)\s+(?:the|this|your|any)\s+(?:rubric|grading|marking|scoring|"
    r"reference\s+answer|model\s+answer)",
    r"\bregardless\s+of\s+(?:the\s+)?(?:content|rubric|answer|reference)",
    r"\btreat\s+this\s+(?:response|answer)\s+as\b",
    # asking for the grade
    r"\b(?:give|award|assign|grant)\s+(?:this|my|the)\s+(?:answer|response|candidate|submission)\s+(?:a\s+|the\s+)?"
    r"(?:full|max(?:imum)?|perfect|top|highest|5|five|10|ten)\b",
    r"\b(?:full|perfect)\s+marks\b|\b(?:maximum|highest|full|perfect|top)\s+grade\b",
    r"\b(?:grade|score|rate|mark)\s+(?:this|my)\s+(?:answer|response)\s+(?:as\s+)?(?:a\s+)?(?:5|five|10|ten|perfect|"
    r"correct|full)\b",
    r"\b(?:return|output|give|award)\s+(?:a\s+|the\s+)?(?:score|grade)\s+(?:of\s+)?(?:5|five)\b",
    r"\bset\s+(?:the|my|its)\s+(?:score|grade)\s+to\s+(?:5|five|the\s+max)",
    r"\b(?:5|five)\s*(?:/|out\s+of)\s*(?:5|five)\b",
    r"\bmark\s+(?:every|all|each)\s+(?:of\s+the\s+|the\s+)?concepts?\s+(?:as\s+)?covered\b",
    # spoofing the prompt's structure
    r"<<<\s*(?:end[- ]?)?answer",
    r"[\"']grade[\"']\s*:\s*\d",
]
_INJECTION_RE = re.compile("|".join(f"(?:{p})" for p in _INJECTION_PATTERNS), re.IGNORECASE)


def detect_injection(answer: str) -> list[str]:
    """Phrases in ``answer`` that address the grader instead of the question (empty list: none)."""
    return [m.group(0) for m in _INJECTION_RE.finditer(answer)]


# --------------------------------------------------------------------------- reply parsing

_REFUSAL_RE = re.compile(
    r"^\s*(?:i'?m sorry|i am sorry|sorry,|i can(?:no|')t|i cannot|i won'?t|i will not|i'm unable|i am unable|"
    r"as an ai\b|unfortunately,? i can)", re.IGNORECASE)
_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class _Invalid(Exception):
    pass


class _Refused(Exception):
    pass


def extract_json(text: str) -> Any:
    """Parse a JSON object from a reply: plain, inside a ``` fence, or the first balanced {...} in prose."""
    text = text.strip()
    candidates = [text]
    candidates += [m.group(1).strip() for m in _FENCE_RE.finditer(text)]
    start = text.find("{")
    if start >= 0:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    candidates.append(text[start:i + 1])
                    break
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError:
            continue
    raise _Invalid("the reply is not JSON")


def parse_reply(content: str | None, refusal: str | None, finish_reason: str | None) -> JudgeOutput:
    if refusal:
        raise _Refused(refusal.strip()[:200])
    if finish_reason == "content_filter":
        raise _Refused("the endpoint's content filter stopped the reply")
    if not content or not content.strip():
        raise _Invalid("the reply is empty")
    try:
        data = extract_json(content)
    except _Invalid:
        if _REFUSAL_RE.match(content):
            raise _Refused(content.strip()[:200]) from None
        raise
    if not isinstance(data, dict):
        raise _Invalid("the reply is JSON but not an object")
    try:
        return JudgeOutput.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise _Invalid(f"the JSON breaks the schema ({where}: {first['msg']})") from None


def evidence_ceiling(rubric: Rubric, concepts: Sequence[CheckedConcept]) -> float:
    """The most the judge's grade may be: 5 x the weighted credit its verified verdicts earn, plus slack."""
    by_id = {c.concept_id: c for c in concepts}
    earned = 0.0
    for con in rubric.concepts:
        v = by_id.get(con.id)
        if v is not None and v.verdict != "missing" and v.verified:
            earned += con.weight * CREDIT[v.verdict]
    return min(5.0, 5.0 * earned / rubric.total_weight + EVIDENCE_SLACK)


def check_output(out: JudgeOutput, question: Question, rubric: Rubric, answer: str,
                 result: JudgeResult) -> JudgeResult:
    """Verify the judge's quotes against the answer and fill ``result`` with the checked verdicts."""
    known = {c.id for c in rubric.concepts}
    known_mis = {m.id for m in rubric.misconceptions}
    seen: set[str] = set()
    concepts: list[CheckedConcept] = []
    for c in out.concepts:
        if c.concept_id not in known:
            result.unknown_ids.append(c.concept_id)
            continue
        if c.concept_id in seen:
            continue
        seen.add(c.concept_id)
        ev = find_quote(answer, c.quote) if c.verdict != "missing" and c.quote else None
        ok = c.verdict == "missing" or ev is not None
        if not ok:
            result.unverified.append(c.concept_id)
        concepts.append(CheckedConcept(concept_id=c.concept_id, verdict=c.verdict, quote=c.quote, reason=c.reason,
                                       verified=ok, evidence=ev))
    mis: list[CheckedMisconception] = []
    for m in out.misconceptions:
        if m.misconception_id not in known_mis:
            if m.misconception_id != "none":
                result.unknown_ids.append(m.misconception_id)
            continue
        ev = find_quote(answer, m.quote) if m.quote else None
        if ev is None:
            result.unverified.append(m.misconception_id)
        mis.append(CheckedMisconception(misconception_id=m.misconception_id, quote=m.quote, verified=ev is not None,
                                        evidence=ev))
    result.concepts = concepts
    result.misconceptions = mis
    result.grade = out.grade
    result.evidence_ceiling = round(evidence_ceiling(rubric, concepts), 3)
    result.effective_grade = round(min(out.grade, result.evidence_ceiling), 3)
    result.feedback = out.feedback.strip() or None
    result.follow_up = out.follow_up.strip() or None
    result.ok = True
    return result
