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


# --------------------------------------------------------------------------- the commands, end to end


@pytest.fixture
def judge_env(monkeypatch, tmp_path):
    from agent.config import reset_settings

    monkeypatch.setenv("VIVA_JUDGE_API_KEY", "test-key")
    monkeypatch.setenv("VIVA_JUDGE_MODEL", "judge-test")
    monkeypatch.setenv("VIVA_CACHE_DIR", str(tmp_path / "cache"))
    reset_settings()
    yield tmp_path
    reset_settings()


def _good_reply(req: dict, n: int):
    from tests.judge_server import answer_of

    ans = answer_of(req)
    if "FAIL500" in ans:
        from tests.judge_server import error

        return error(500, "overloaded")
    schema = req["response_format"]["json_schema"]["schema"]
    ids = schema["properties"]["concepts"]["items"]["properties"]["concept_id"]["enum"]
    words = " ".join(ans.split()[:4])
    return completion(judgement({i: ("partial", words) for i in ids}, 2.5))


def test_viva_score_judge_json(clm, embedding, judge_env, capsys) -> None:
    from agent.cli import main

    q, r, samples = clm
    with JudgeServer(_good_reply) as srv:
        rc = main(["score", "clm-loss", samples["strong"].answer, "--judge", "--judge-base-url", srv.base_url,
                   "--json"])
    assert rc == 0 and len(srv.requests) == 1
    g = __import__("json").loads(capsys.readouterr().out)
    assert g["grader"] == "blend" and g["extra"]["judge"]["ok"] and g["extra"]["judge"]["grade"] == 2.5
    assert g["extra"]["blend"]["judge"] == 2.5


def test_viva_score_judge_unreachable_keeps_the_grade(clm, embedding, judge_env, capsys) -> None:
    from agent.cli import main
    from tests.judge_server import closed_port_url

    rc = main(["score", "clm-loss", clm[2]["strong"].answer, "--judge", "--judge-base-url", closed_port_url()])
    out = capsys.readouterr()
    assert rc == 0
    assert "offline grade stands" in out.out and "refused" in out.out
    assert "0 of 1 answers judged" in out.err and "1 kept the offline grade" in out.err


def test_viva_eval_judge_with_partial_failure(embedding, judge_env, capsys) -> None:
    import json

    from agent.cli import main

    lines = [
        {"question": "What does dropout do?", "reference_answer": "It randomly zeroes activations during training "
         "to reduce co-adaptation and overfitting.", "student_answer": a, "score": s, "max_score": 5}
        for a, s in [("It zeroes random activations while training, which regularises the network.", 5),
                     ("It makes the model faster at inference. FAIL500", 1),
                     ("Randomly drops units during training so they cannot co-adapt.", 5),
                     ("No idea.", 0)]
    ]
    path = judge_env / "answers.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with JudgeServer(_good_reply) as srv:
        rc = main(["eval", str(path), "--judge", "--concurrency", "2", "--judge-base-url", srv.base_url,
                   "--json", "--judge-model", "judge-test", "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0
    j = summary["judge"]
    assert j["total"] == 4 and j["failed"] == 1 and j["kinds"] == {"server_error": 1}
    assert srv.max_inflight <= 2


def test_viva_grade_judge(bank, embedding, judge_env, capsys) -> None:
    import json

    from agent.cli import main

    n = len(bank.rubrics["clm-loss"].samples)
    with JudgeServer(_good_reply) as srv:
        rc = main(["grade", "--question", "clm-loss", "--judge", "--concurrency", "3", "--judge-base-url",
                   srv.base_url, "--json", "-"])
    assert rc in (0, 1)  # the judge's canned 2.5 need not fit every band; the run itself must complete
    payload = json.loads(capsys.readouterr().out)
    assert payload["judge"]["total"] == n and payload["judge"]["ok"] == n and payload["judge"]["failed"] == 0
    assert len(srv.requests) == n and 1 <= srv.max_inflight <= 3
    # the injection sample cannot be lifted by the judge's 2.5
    inj = next(r for r in payload["results"] if r["sample_id"] == "injection")
    assert inj["grade"] <= 1.0 and "injection" in inj["flags"]
