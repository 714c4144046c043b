"""`viva score` through the real CLI entry point (real model, real bank)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from agent.cli import main

pytestmark = pytest.mark.slow

ANSWER = ("It's the cross-entropy of the next token at every position; the targets are the inputs shifted by one, "
          "and by the chain rule the summed loss is the negative log-likelihood, so it is maximum likelihood.")


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_score_json_from_argument(capsys):
    assert main(["score", "clm-loss", ANSWER, "--json"]) == 0
    g = json.loads(capsys.readouterr().out)
    assert g["question_id"] == "clm-loss" and g["score"] >= 4.0
    for v in g["verdicts"]:
        if v["evidence"]:
            assert ANSWER[v["evidence"]["start"] : v["evidence"]["end"]] == v["evidence"]["text"]


def test_score_flag_between_positionals(capsys):
    assert main(["score", "clm-loss", "--json", ANSWER]) == 0
    assert json.loads(capsys.readouterr().out)["question_id"] == "clm-loss"


def test_score_table_from_file(tmp_path, capsys):
    f = tmp_path / "a.txt"
    f.write_text("I don't know.", encoding="utf-8")
    assert main(["score", "clm-loss", "--file", str(f)]) == 0
    out = capsys.readouterr().out
    assert "missing" in out and "dont_know" in out and "grade" in out


def test_score_from_stdin_dash_and_pipe(monkeypatch, capsys):
    _stdin(monkeypatch, ANSWER.encode())
    assert main(["score", "clm-loss", "-", "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    _stdin(monkeypatch, ANSWER.encode())
    assert main(["score", "clm-loss", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["score"] == b["score"] >= 4.0


def test_score_adhoc(capsys):
    rc = main(["score", "--question", "Why does a metal spoon feel cold?", "--reference",
               "Metal conducts heat away from your hand quickly.", "It conducts heat away from the hand fast", "--json"])
    assert rc == 0
    g = json.loads(capsys.readouterr().out)
    assert g["score"] >= 3.0 and g["question_id"].startswith("adhoc-")


def test_score_empty_answer(capsys):
    assert main(["score", "clm-loss", "   ", "--json"]) == 0
    g = json.loads(capsys.readouterr().out)
    assert g["score"] == 0 and g["flags"] == ["empty"] and g["feedback"] == ["no answer"]


def test_unknown_question_suggests(capsys):
    assert main(["score", "clm-los", "anything"]) == 2
    err = capsys.readouterr().err
    assert "clm-loss" in err


def test_bad_inputs_exit_2(tmp_path, monkeypatch, capsys):
    assert main(["score", "clm-loss", "--file", str(tmp_path / "missing.txt")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok line\n\xff\xfe broken")
    assert main(["score", "clm-loss", "--file", str(bad)]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
    _stdin(monkeypatch, b"\xff\xfe")
    assert main(["score", "clm-loss", "-"]) == 2
    assert main(["score", "--question", "Q?", "x"]) == 2  # --reference missing
    assert "--reference" in capsys.readouterr().err


def test_score_subprocess_exit_code_for_missing_file(tmp_path):
    out = subprocess.run([sys.executable, "-m", "agent.cli", "score", "clm-loss", "--file", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no such file" in out.stderr



def _said(capsys) -> str:
    cap = capsys.readouterr()
    return " ".join((cap.out + cap.err).split())  # rich wraps long lines


def test_judge_failure_reason_is_printed_once(monkeypatch, capsys):
    """With the judge unreachable the offline grade stands and the reason is said once, not twice."""
    from agent.config import reset_settings
    from tests.judge_server import closed_port_url

    monkeypatch.setenv("VIVA_JUDGE_API_KEY", "test-key")
    reset_settings()
    assert main(["score", "clm-loss", "the loss is cross-entropy", "--judge", "--no-cache",
                 "--judge-base-url", closed_port_url()]) == 0
    said = _said(capsys)
    assert "grade" in said and "LLM judge not used, the offline grade stands" in said
    assert said.count("could not reach the judge") == 1, said


def test_judge_success_summary_is_printed(monkeypatch, capsys):
    from agent.config import reset_settings
    from tests.judge_server import JudgeServer, completion
    from tests.test_judge import GOOD, STRONG

    monkeypatch.setenv("VIVA_JUDGE_API_KEY", "test-key")
    reset_settings()
    with JudgeServer(lambda req, n: completion(GOOD)) as srv:
        assert main(["score", "clm-loss", STRONG, "--judge", "--no-cache", "--judge-base-url", srv.base_url]) == 0
    said = _said(capsys)
    assert said.count("LLM judge: 1 of 1 answers judged") == 1, said
    assert "not used" not in said and "kept the offline grade" not in said
