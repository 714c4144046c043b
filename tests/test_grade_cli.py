"""`viva grade`: the regression suite over sample answers, on a small bank written by the test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from agent.cli import main
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _copy_item(dst: Path, qid: str) -> Path:
    (dst / "questions").mkdir(parents=True, exist_ok=True)
    (dst / "rubrics").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "questions" / f"{qid}.yaml", dst / "questions")
    shutil.copy(REPO / "rubrics" / f"{qid}.yaml", dst / "rubrics")
    return dst


def test_grade_bank_folder_passes_with_json_and_junit(tmp_path: Path, capsys) -> None:
    bank_dir = _copy_item(tmp_path / "bank", "clm-loss")
    out_json, out_xml = tmp_path / "r.json", tmp_path / "r.xml"
    code = main(["grade", str(bank_dir), "--json", str(out_json), "--junit", str(out_xml)])
    data = json.loads(out_json.read_text())
    assert code == (0 if data["summary"]["failed"] == 0 else 1)
    assert data["summary"]["samples"] == len(data["results"]) >= 5
    assert {r["question_id"] for r in data["results"]} == {"clm-loss"}
    for r in data["results"]:
        lo, hi = r["band"]
        assert (r["status"] in ("pass", "xpass")) == (lo <= r["grade"] <= hi)
    suite = ET.fromstring(out_xml.read_text())
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(data["results"])
    assert "passed" in capsys.readouterr().out


def test_grade_fails_and_names_the_deciding_concept(tmp_path: Path, capsys) -> None:
    bank_dir = _copy_item(tmp_path / "bank", "clm-loss")
    rubric = bank_dir / "rubrics" / "clm-loss.yaml"
    text = rubric.read_text()
    # A dishonest band: the strong answer is said to be worth at most 1.
    text = text.replace("    band: [4, 5]\n    covered: [next-token-cross-entropy, every-position, chain-rule-likelihood]",
                        "    band: [0, 1]\n    missing: [next-token-cross-entropy]", 1)
    rubric.write_text(text)
    out_json = tmp_path / "r.json"
    code = main(["grade", str(rubric), "--json", str(out_json)])
    assert code == 1
    data = json.loads(out_json.read_text())
    strong = next(r for r in data["results"] if r["sample_id"] == "strong")
    assert strong["status"] == "FAIL"
    assert any("next-token-cross-entropy" in d for d in strong["decided_by"])
    assert "+next-token-cross-entropy(covered)" in strong["differs"]
    assert "decided by" in capsys.readouterr().out


def test_xfail_sample_does_not_fail_the_run(tmp_path: Path) -> None:
    bank_dir = _copy_item(tmp_path / "bank", "clm-loss")
    rubric = bank_dir / "rubrics" / "clm-loss.yaml"
    text = rubric.read_text().replace(
        "    band: [4, 5]\n", "    band: [0, 1]\n    xfail: the band is deliberately wrong in this test\n", 1)
    rubric.write_text(text)
    out_json = tmp_path / "r.json"
    main(["grade", str(bank_dir), "--json", str(out_json)])
    data = json.loads(out_json.read_text())
    strong = next(r for r in data["results"] if r["sample_id"] == "strong")
    assert strong["status"] == "xfail"
    assert data["summary"]["xfail"] >= 1


def test_grade_unknown_question_suggests(capsys) -> None:
    assert main(["grade", "--question", "clm-los"]) == 2
    assert "clm-loss" in capsys.readouterr().err


def test_grade_missing_path_is_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["grade", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_grade_checks_the_bands_with_the_regression_grader(tmp_path: Path, capsys, monkeypatch) -> None:
    """The bands are written for the rubric-driven embedding grader: `viva grade` uses it (the regression_grader
    setting) while answers are graded by the default stacked grader; --grader overrides it, and a bad setting
    is named."""
    from agent.config import get_settings, reset_settings

    assert (get_settings().grader, get_settings().regression_grader) == ("stacked", "embedding")
    bank_dir = _copy_item(tmp_path / "bank", "clm-loss")
    out_json = tmp_path / "r.json"
    main(["grade", str(bank_dir), "--json", str(out_json)])
    assert json.loads(out_json.read_text())["summary"]["grader"] == "embedding"
    assert "embedding grader:" in capsys.readouterr().out
    main(["grade", str(bank_dir), "--json", str(out_json), "--grader", "stacked"])
    assert json.loads(out_json.read_text())["summary"]["grader"] == "stacked"
    monkeypatch.setenv("VIVA_REGRESSION_GRADER", "nonesuch")
    reset_settings()  # the fixture resets them again after the test
    assert main(["grade", str(bank_dir)]) == 2
    assert "unknown regression_grader 'nonesuch'" in capsys.readouterr().err
