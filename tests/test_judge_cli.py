"""The shared judge options of `viva score/grade/eval` (agent/commands/_judge_opts.py) against a local server."""

from __future__ import annotations

import argparse

import pytest

from agent.commands._judge_opts import add_judge_args, apply_judge, judge_enabled, judge_scorer, summarize
from tests.judge_server import JudgeServer, Reply, answer_of, completion, error
from tests.test_judge import GOOD, STRONG, embedding_grade


@pytest.fixture
def judge_env(monkeypatch, tmp_path):
    from agent.config import reset_settings

    monkeypatch.setenv("VIVA_JUDGE_API_KEY", "test-key")
    monkeypatch.setenv("VIVA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VIVA_JUDGE_MODEL", "judge-test")
    reset_settings()
    yield tmp_path
    reset_settings()


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_judge_args(p)
    return p.parse_args(argv)


def test_flags_parse() -> None:
    a = parse(["--judge", "--no-cache", "--concurrency", "8", "--judge-model", "llama3.1",
               "--judge-base-url", "http://localhost:11434/v1"])
    assert (a.judge, a.judge_no_cache, a.judge_concurrency, a.judge_model, a.judge_base_url) == (
        True, True, 8, "llama3.1", "http://localhost:11434/v1")
    assert parse([]).judge is None and parse(["--no-judge"]).judge is False
    with pytest.raises(SystemExit):
        parse(["--concurrency", "0"])


def test_judge_enabled_follows_setting_unless_flag(monkeypatch) -> None:
    from agent.config import reset_settings

    assert not judge_enabled(parse([]))
    monkeypatch.setenv("VIVA_JUDGE", "true")
    reset_settings()
    assert judge_enabled(parse([])) and not judge_enabled(parse(["--no-judge"]))


def test_apply_judge_without_judge_changes_nothing(bank) -> None:
    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    grades = [embedding_grade(r, 3.0)]
    out, summary = apply_judge(parse(["--no-judge"]), [(q, r, STRONG)], grades)
    assert out is grades and summary is None


def test_apply_judge_blends_and_reports_partial_failures(bank, judge_env) -> None:
    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    answers = [STRONG, STRONG + " Also FAIL500.", STRONG + " More."]
    items = [(q, r, a) for a in answers]
    grades = [embedding_grade(r, 3.0, {"next-token-cross-entropy": "covered"}, answer=a) for a in answers]

    def handler(req: dict, n: int) -> Reply:
        return error(500, "overloaded") if "FAIL500" in answer_of(req) else completion(GOOD)

    with JudgeServer(handler) as srv:
        args = parse(["--judge", "--concurrency", "2", "--judge-base-url", srv.base_url])
        out, summary = apply_judge(args, items, grades)
        assert [g.grader for g in out] == ["blend", "embedding", "blend"]
        assert out[0].score == pytest.approx(0.4 * 3 + 0.6 * 5)
        assert out[1].score == 3.0 and len(out[1].notes) == 1 and "(500)" in out[1].notes[0]
        assert summary is not None and (summary.ok, summary.failed) == (2, 1)
        assert summary.kinds == {"server_error": 1} and summary.tokens == 2 * 160
        assert "kept the offline grade" in summary.lines()[0]
        n_before = len(srv.requests)
        # the re-run is served from the cache (only the failed item is asked again) ...
        out2, s2 = apply_judge(args, items, grades)
        assert s2.cached == 2 and len(srv.requests) - n_before == 3  # 1 try + 2 retries for the 500
        assert [g.score for g in out2] == [g.score for g in out]
        # ... unless --no-cache
        n_before = len(srv.requests)
        apply_judge(parse(["--judge", "--no-cache", "--judge-base-url", srv.base_url]), items, grades)
        assert len(srv.requests) - n_before == 2 + 3
    assert summarize(out) is not None and summarize(out).failed == 1
    assert summarize(grades) is None


def test_judge_scorer_from_args(bank, judge_env) -> None:
    from agent.grading.judge import JudgeScorer

    class Fixed:
        """The base scorer's output shape (the embedding grade) for a known answer."""

        def score_many(self, items):
            return [embedding_grade(r, 1.0, answer=a) for _, r, a in items]

    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    assert judge_scorer(parse([])) is None
    with JudgeServer(lambda req, n: completion(GOOD)) as srv:
        scorer = judge_scorer(parse(["--judge", "--judge-base-url", srv.base_url]), base=Fixed())
        assert isinstance(scorer, JudgeScorer)
        [g] = scorer.score_many([(q, r, STRONG)])
    assert g.grader == "blend" and "disagreement" in g.flags and g.extra["blend"]["judge"] == 5.0
    assert summarize([g]).ok == 1


def test_missing_key_is_reported_not_raised(bank, judge_env, monkeypatch) -> None:
    from agent.config import reset_settings

    monkeypatch.delenv("VIVA_JUDGE_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    reset_settings()
    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    grades = [embedding_grade(r, 2.0)]
    out, summary = apply_judge(parse(["--judge", "--judge-base-url", "http://127.0.0.1:9/v1"]), [(q, r, STRONG)],
                               grades)
    assert out[0].score == 2.0 and "VIVA_JUDGE_API_KEY" in out[0].notes[0]
    assert summary.kinds == {"no_key": 1}
