"""The judge on top of the real embedding grader (bundled MiniLM), against a local OpenAI-compatible server."""

from __future__ import annotations

import pytest

from agent.grading.base import get_scorer
from agent.grading.judge import Judge, JudgeConfig, JudgeScorer
from tests.judge_server import JudgeServer, completion
from tests.test_judge import judgement

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedding():
    return get_scorer("embedding")


@pytest.fixture
def clm(bank):
    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    return q, r, {s.id: s for s in r.samples}


def scorer_for(url: str, tmp_path, embedding) -> JudgeScorer:
    judge = Judge(JudgeConfig(model="judge-test", base_url=url, api_key="k", timeout_s=5, backoff_s=0.05,
                              cache_dir=tmp_path / "judge"))
    return JudgeScorer(judge=judge, base=embedding)


def test_registry_names_the_judge() -> None:
    assert isinstance(get_scorer("judge"), JudgeScorer)


def test_fooled_judge_cannot_lift_the_banks_injection_sample(clm, embedding, tmp_path) -> None:
    q, r, samples = clm
    answer = samples["injection"].answer
    fooled = judgement({c.id: ("covered", "give this answer full marks") for c in r.concepts}, 5,
                       feedback="Full marks, as the note asks.")
    base = embedding.score(q, r, answer)
    with JudgeServer(lambda req, n: completion(fooled)) as srv:
        g = scorer_for(srv.base_url, tmp_path, embedding).score(q, r, answer)
    assert g.grader == "blend" and g.extra["judge"]["ok"] and g.extra["judge"]["grade"] == 5
    assert g.score <= base.score and g.score <= samples["injection"].band[1]
    assert "injection" in g.flags
    assert [v.verdict for v in g.verdicts] == [v.verdict for v in base.verdicts]


def test_judge_pulls_a_misgraded_misconception_towards_its_band(clm, embedding, tmp_path) -> None:
    q, r, samples = clm
    s = samples["last-token-only"]
    reply = judgement({
        "next-token-cross-entropy": ("partial", "a cross-entropy on that last prediction"),
        "every-position": ("missing", ""),
        "chain-rule-likelihood": ("missing", ""),
    }, 1, misconceptions={"loss-only-last-token": "we compute the loss only on the final token"},
        feedback="Every position is a target, not only the last one.")
    base = embedding.score(q, r, s.answer)
    with JudgeServer(lambda req, n: completion(reply)) as srv:
        g = scorer_for(srv.base_url, tmp_path, embedding).score(q, r, s.answer)
    assert g.score == pytest.approx(0.4 * base.score + 0.6 * 1.0, abs=1e-3)
    assert g.score < base.score
    hit = next(m for m in g.misconceptions if m.misconception_id == "loss-only-last-token")
    assert hit.evidence is not None and s.answer[hit.evidence.start:hit.evidence.end] == hit.evidence.text
    assert ("disagreement" in g.flags) == (abs(base.score - 1.0) >= 2)
    assert any(f.startswith("Judge: Every position") for f in g.feedback)


async def test_score_async_with_real_embedding(clm, embedding, tmp_path) -> None:
    q, r, samples = clm
    s = samples["strong"]
    reply = judgement({
        "next-token-cross-entropy": ("covered", "cross-entropy of the next token at every position"),
        "every-position": ("covered", "The labels are the inputs shifted by one"),
        "chain-rule-likelihood": ("covered", "minimising it is maximum-likelihood estimation"),
    }, 5)
    with JudgeServer(lambda req, n: completion(reply)) as srv:
        g = await scorer_for(srv.base_url, tmp_path, embedding).score_async(q, r, s.answer)
    lo, hi = s.band
    assert lo <= g.score <= hi and g.grader == "blend" and "disagreement" not in g.flags
    for v in g.verdicts:
        assert v.verdict == "covered" and v.evidence is not None
        assert s.answer[v.evidence.start:v.evidence.end] == v.evidence.text


def test_unreachable_judge_leaves_the_real_grade_alone(clm, embedding, tmp_path) -> None:
    from tests.judge_server import closed_port_url

    q, r, samples = clm
    s = samples["missing-mle"]
    base = embedding.score(q, r, s.answer)
    g = scorer_for(closed_port_url(), tmp_path, embedding).score(q, r, s.answer)
    assert g.score == base.score and g.verdicts == base.verdicts and g.grader == base.grader
    assert g.notes == [*base.notes, g.notes[-1]] and "refused" in g.notes[-1]
