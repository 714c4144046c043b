"""One malformed file in a user's bank_dirs is left out and said once; everything else works.
`viva bank check` still fails on it."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from agent.bank import BankError, default_bank, load_bank
from agent.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_bank import GOOD_Q, GOOD_R  # noqa: E402

BROKEN = "id: broken\nsection: A\nprompt: [unclosed\n"
WHERE = "broken.yaml:4: malformed YAML"


def user_bank(root: Path) -> Path:
    d = root / "my-bank"
    (d / "questions").mkdir(parents=True)
    (d / "rubrics").mkdir()
    (d / "questions" / "toy.yaml").write_text(GOOD_Q, encoding="utf-8")
    (d / "rubrics" / "toy.yaml").write_text(GOOD_R, encoding="utf-8")
    (d / "questions" / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    return d


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """The user's config names a bank folder with one good question and one malformed file."""
    from agent.config import reset_settings

    d = user_bank(tmp_path)
    monkeypatch.setenv("VIVA_BANK_DIRS", json.dumps([str(d)]))
    reset_settings()
    default_bank.cache_clear()
    yield d
    default_bank.cache_clear()


def test_loader_leaves_the_bad_file_out_and_keeps_the_rest(tmp_path):
    d = user_bank(tmp_path)
    bank = load_bank([d], skip_bad=True)
    assert "toy" in bank.questions and "toy" in bank.user and "clm-loss" in bank.questions
    assert "broken" not in bank.questions
    assert len(bank.skipped) == 1 and WHERE in str(bank.skipped[0])
    with pytest.raises(BankError) as e:
        load_bank([d])
    assert WHERE in str(e.value)


def test_a_file_with_one_bad_item_is_left_out_whole_and_its_pair_too(tmp_path):
    d = user_bank(tmp_path)
    (d / "questions" / "broken.yaml").unlink()
    (d / "rubrics" / "toy.yaml").write_text(GOOD_R.replace("weight: 1", "weight: heavy"), encoding="utf-8")
    bank = load_bank([d], skip_bad=True)
    assert "toy" not in bank.rubrics and "toy" not in bank.questions  # no question without its rubric
    said = [str(p) for p in bank.skipped]
    assert any("rubrics/toy.yaml" in p and "weight" in p for p in said)
    assert any("questions/toy.yaml" in p and "rubric did not load" in p for p in said)


def test_a_missing_bank_folder_is_left_out(tmp_path):
    bank = load_bank([tmp_path / "nope"], skip_bad=True)
    assert "clm-loss" in bank.questions and "bank folder not found" in bank.skipped_message()


def test_a_bad_packaged_file_still_raises(tmp_path, monkeypatch):
    from agent import bank as bank_mod

    real = bank_mod._resource_files

    def with_bad(package):
        files = real(package)
        if package == "questions":
            bad = tmp_path / "zz-bad.yaml"
            bad.write_text(BROKEN, encoding="utf-8")
            files = [*files, bad]
        return files

    monkeypatch.setattr(bank_mod, "_resource_files", with_bad)
    with pytest.raises(BankError):
        load_bank([user_bank(tmp_path)], skip_bad=True)


def test_bank_check_still_exits_1(configured, capsys):
    assert main(["bank", "check"]) == 1
    assert WHERE in capsys.readouterr().out


def test_bank_list_works_and_says_it_once(configured, capsys):
    assert main(["bank", "list", "--json"]) == 0
    out, err = capsys.readouterr()
    ids = {q["id"] for q in json.loads(out)}
    assert "toy" in ids and "clm-loss" in ids and "broken" not in ids
    assert err.count(WHERE) == 1


@pytest.mark.slow
def test_score_works_and_says_it_once(configured, capsys):
    answer = "Cross-entropy of the next token at every position; the labels are the inputs shifted by one."
    assert main(["score", "clm-loss", "--json", answer]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["question_id"] == "clm-loss"
    assert err.count(WHERE) == 1


@pytest.mark.slow
def test_text_interview_works_and_says_it_once(configured, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("The toy is for play.\n\n"))
    assert main(["interview", "--text", "--n", "1", "--section", "A"]) == 0
    out, err = capsys.readouterr()
    assert "/5" in out
    assert err.count(WHERE) == 1


async def test_app_says_it_once_in_a_notification(tmp_path):
    from test_tui import make_app, wait_for

    bank = load_bank([user_bank(tmp_path)], skip_bad=True)
    app, _ = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: any(WHERE in n.message for n in app._notifications))
        await pilot.pause(0.1)
        assert sum(WHERE in n.message for n in app._notifications) == 1
        assert "toy" in {tag for tag in bank.questions}
