"""The optional LLM judge: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp's server).

The judge reads the question, the model answer, the rubric's concepts and misconceptions, and the
candidate's answer (fenced off as data), and returns structured JSON: a verdict per concept with a
verbatim quote as evidence, the misconceptions it found, a 0-5 grade, feedback and a follow-up question.

Nothing the judge says is taken on trust:

* every quote is looked up in the answer (case- and whitespace-tolerant); a quote that is not there
  does not count, and the result lists it;
* the judge's grade is capped by what its verified evidence supports (:func:`evidence_ceiling`);
* answers that address the grader (:func:`detect_injection`, plus the offline grader's "injection"
  flag) can never gain from the judge (see :mod:`agent.grading.blend`);
* every failure (no key, connection refused, timeout, 429 past the bounded retries, 5xx, invalid JSON
  twice, a refusal) gives a :class:`JudgeResult` with ``ok=False`` and one sentence saying why, never an
  exception, so the offline grade always stands.

Results are cached on disk under ``<cache_dir>/judge`` keyed by model, base URL, prompt version, rubric
(version and content) and the answer's hash, so a re-grade is reproducible and costs nothing.

The package: :mod:`.schema` (what the judge must return, the result, the prompt), :mod:`.checks` (quotes,
injection, reply parsing, the evidence ceiling), :mod:`.cache`, :mod:`.transport` (the endpoint's settings
and requests), :mod:`.core` (:class:`Judge`, batch summaries) and :mod:`.scorer` (the registered scorer).

``openai`` is imported only inside the functions that call the endpoint (``pip install 'viva[judge]'``).
"""

from __future__ import annotations

from agent.grading.judge.cache import JudgeCache
from agent.grading.judge.checks import (
    check_output,
    detect_injection,
    evidence_ceiling,
    extract_json,
    find_quote,
    parse_reply,
)
from agent.grading.judge.core import FailureSummary, Judge, judge, judge_async, judge_many
from agent.grading.judge.schema import (
    CREDIT,
    EVIDENCE_SLACK,
    FIX_PROMPT,
    JUDGE_VERSION,
    MODES,
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    USER_PROMPT,
    CheckedConcept,
    CheckedMisconception,
    FailureKind,
    JudgeCall,
    JudgeConcept,
    JudgeMisconception,
    JudgeOutput,
    JudgeResult,
    Mode,
    build_messages,
    output_schema,
    rubric_digest,
)
from agent.grading.judge.scorer import JudgeScorer
from agent.grading.judge.transport import JudgeConfig

__all__ = [
    "CREDIT", "EVIDENCE_SLACK", "FIX_PROMPT", "JUDGE_VERSION", "MODES", "PROMPT_VERSION", "SYSTEM_PROMPT",
    "USER_PROMPT", "CheckedConcept", "CheckedMisconception", "FailureKind", "FailureSummary", "Judge", "JudgeCache",
    "JudgeCall", "JudgeConcept", "JudgeConfig", "JudgeMisconception", "JudgeOutput", "JudgeResult", "JudgeScorer",
    "Mode", "build_messages", "check_output", "detect_injection", "evidence_ceiling", "extract_json", "find_quote",
    "judge", "judge_async", "judge_many", "output_schema", "parse_reply", "rubric_digest",
]
