"""The bank loader: file:line:field errors, lint rules, and the packaged bank itself."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.bank import BankError, load_bank

GOOD_Q = """\
id: toy
section: A
topic: toy topic
prompt: What is a toy?
model_answer: A toy is a thing to play with.
key_concepts: [play]
source: {seed: s.txt, item: 1}
"""

GOOD_R = """\
question_id: toy
version: 1
concepts:
  - id: play
    name: play
    weight: 1
    description: toys are for play
    exemplars: [you play with it, it is for playing, children play with toys]
misconceptions:
  - id: food
    claim: toys are food
    exemplars: [you eat toys]
    correction: toys are not food
"""


def _bank(tmp_path: Path, q: str = GOOD_Q, r: str = GOOD_R) -> Path:
    (tmp_path / "questions").mkdir(exist_ok=True)
    (tmp_path / "rubrics").mkdir(exist_ok=True)
    (tmp_path / "questions" / "toy.yaml").write_text(q, encoding="utf-8")
    (tmp_path / "rubrics" / "toy.yaml").write_text(r, encoding="utf-8")
    (tmp_path / "questions" / "sections.yaml").write_text("A: {title: Toys, description: Things to play with.}\n")
    return tmp_path


def test_packaged_bank_is_clean(bank) -> None:
    problems = [p for p in bank.check() if p.level == "error"]
    assert problems == [], "\n".join(map(str, problems))
    assert len(bank.questions) >= 1


def test_valid_extra_bank_loads(tmp_path: Path) -> None:
    bank = load_bank([_bank(tmp_path)], packaged=False)
    assert bank.question("toy").key_concepts == ["play"]
    # only the sample-count rule fires for this minimal rubric, plus warnings for its missing probe and hints
    problems = bank.check()
    assert [p.field for p in problems if p.level == "error"] == ["samples"]
    assert [p.field for p in problems if p.level == "warning"] == ["concepts[0]", "concepts[0]"]


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    bad = GOOD_R.replace("    weight: 1\n", "    weight: -2\n")
    with pytest.raises(BankError) as e:
        load_bank([_bank(tmp_path, r=bad)], packaged=False)
    (p,) = e.value.problems
    assert p.file.endswith("rubrics/toy.yaml")
    assert p.line == 6
    assert p.field == "concepts[0].weight"
    assert "greater than 0" in p.message


def test_missing_field_and_unknown_field(tmp_path: Path) -> None:
    bad = GOOD_Q.replace("prompt: What is a toy?\n", "promt: What is a toy?\n")
    with pytest.raises(BankError) as e:
        load_bank([_bank(tmp_path, q=bad)], packaged=False)
    msgs = {(p.field, p.message) for p in e.value.problems}
    assert ("prompt", "required field is missing") in msgs
    assert ("promt", "unknown field (check the spelling)") in msgs
    assert all(p.line for p in e.value.problems)


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    bad = GOOD_Q + "key_concepts: [play\n"
    with pytest.raises(BankError) as e:
        load_bank([_bank(tmp_path, q=bad)], packaged=False)
    (p,) = e.value.problems
    assert "malformed YAML" in p.message and p.line is not None and p.line >= 8


def test_invalid_utf8_reports_line(tmp_path: Path) -> None:
    d = _bank(tmp_path)
    (d / "questions" / "toy.yaml").write_bytes(GOOD_Q.encode() + b"tags: [\xff\xfe]\n")
    with pytest.raises(BankError) as e:
        load_bank([d], packaged=False)
    (p,) = e.value.problems
    assert "UTF-8" in p.message and p.line == 8


def test_lint_follow_up_and_concept_links(tmp_path: Path) -> None:
    q = GOOD_Q + textwrap.dedent("""\
        follow_ups:
          - {question: toyz, concept: play}
          - {prompt: Why?, concept: nothing}
        """)
    bank = load_bank([_bank(tmp_path, q=q)], packaged=False)
    probs = {p.field: p for p in bank.check()}
    assert "not a bank question" in probs["follow_ups[0].question"].message
    assert probs["follow_ups[0].question"].line == 9
    assert "not a concept" in probs["follow_ups[1].concept"].message


def test_parse_cache_gives_the_same_bank_and_the_same_lines(tmp_path: Path) -> None:
    """A file parsed once is validated from the parse cache next time; lint lines and errors in an edited
    file still name the right line."""
    import agent.bank as B

    q = GOOD_Q + textwrap.dedent("""\
        follow_ups:
          - {question: toyz, concept: play}
        """)
    d = _bank(tmp_path, q=q)
    first = load_bank([d], packaged=False)
    cache = B._ParseCache.open()
    assert cache.path is not None and cache.path.is_file()
    assert cache.get(q) is not None  # stored as plain data
    second = load_bank([d], packaged=False)
    assert second.origins["question:toy"].node is None  # came from the cache, not parsed
    assert second.questions == first.questions and second.rubrics == first.rubrics
    assert [str(p) for p in second.check()] == [str(p) for p in first.check()]
    assert {p.field: p.line for p in second.check()}["follow_ups[0].question"] == 9

    bad = GOOD_R.replace("    weight: 1\n", "    weight: -2\n")  # an edit: new text, parsed again
    with pytest.raises(BankError) as e:
        load_bank([_bank(tmp_path, q=q, r=bad)], packaged=False)
    (p,) = e.value.problems
    assert (p.line, p.field) == (6, "concepts[0].weight")


def test_unreadable_parse_cache_is_ignored(tmp_path: Path) -> None:
    import agent.bank as B

    d = _bank(tmp_path)
    load_bank([d], packaged=False)
    path = B._ParseCache.open().path
    path.write_text("{not json", encoding="utf-8")
    assert load_bank([d], packaged=False).question("toy").prompt == "What is a toy?"
    assert B._ParseCache.open().entries  # rewritten


# --------------------------------------------------------------------------- probes and hints

PROBED_R = GOOD_R.replace(
    "    exemplars: [you play with it, it is for playing, children play with toys]\n",
    "    exemplars: [you play with it, it is for playing, children play with toys]\n"
    "    terms: [playtime, have fun]\n"
    "    probe: What do children mostly do with one?\n"
    "    hints: [Think of an afternoon at the park., It is what a game is for.]\n",
)


def _problems(tmp_path: Path, r: str, level: str = "error") -> list:
    bank = load_bank([_bank(tmp_path, r=r)], packaged=False)
    return [p for p in bank.check() if p.level == level and p.field != "samples"]


def test_probe_and_hints_without_terms_pass(tmp_path: Path) -> None:
    assert _problems(tmp_path, PROBED_R) == []
    assert _problems(tmp_path, PROBED_R, "warning") == []


@pytest.mark.parametrize(("old", "new", "field", "line"), [
    ("probe: What do children mostly do with one?", "probe: What happens at PLAYTIME?", "concepts[0].probe", 10),
    ("It is what a game is for.", "You Have   Fun with it.", "concepts[0].hints[1]", 11),
    ("Think of an afternoon at the park.", "Think of the name play.", "concepts[0].hints[0]", 11),
])
def test_probe_or_hint_with_a_concept_term_is_an_error(tmp_path: Path, old: str, new: str, field: str,
                                                       line: int) -> None:
    (p,) = _problems(tmp_path, PROBED_R.replace(old, new))
    assert p.field == field
    assert p.file.endswith("rubrics/toy.yaml") and p.line == line
    assert "gives the answer away" in p.message
    assert str(p).startswith(f"{p.file}:{line}: {field}:")


def test_terms_match_whole_words_only(tmp_path: Path) -> None:
    # "playtimes" and "players" are other words: not a leak of "playtime" or "play"
    r = PROBED_R.replace("What do children mostly do with one?", "What do players do during playtimes?")
    assert _problems(tmp_path, r) == []


def test_key_concept_needs_a_probe_and_two_hints(tmp_path: Path) -> None:
    from agent.bank import lint

    no_probe = PROBED_R.replace("    probe: What do children mostly do with one?\n", "")
    one_hint = PROBED_R.replace(", It is what a game is for.]", "]")
    for r, field, words in ((no_probe, "concepts[0]", "has no probe"), (one_hint, "concepts[0].hints", "1 hints")):
        bank = load_bank([_bank(tmp_path, r=r)], packaged=False)
        (w,) = [p for p in bank.check() if p.field != "samples"]
        assert w.level == "warning" and w.field == field and words in w.message  # a user's bank: a warning
        bank.user.clear()  # the same rubric in the packaged bank: an error
        (e,) = [p for p in lint(bank) if p.field != "samples"]
        assert e.level == "error" and e.field == field


def test_packaged_bank_probes_every_key_concept_without_its_terms(bank) -> None:
    from agent.bank import leaked_terms

    assert not bank.user
    for qid, q in bank.questions.items():
        r = bank.rubrics[qid]
        for cid in q.key_concepts:
            c = r.concept(cid)
            assert c.probe and 2 <= len(c.hints) <= 3, f"{qid}:{cid}"
            for text in (c.probe, *c.hints):
                assert leaked_terms(c, text) == [], f"{qid}:{cid}: {text!r}"


# --------------------------------------------------------------------------- sections


def test_packaged_sections_have_titles_and_one_line_descriptions(bank) -> None:
    assert set(bank.sections()) <= set(bank.section_info)
    for tag, info in bank.section_info.items():
        assert info.title and info.description and "\n" not in info.description, tag
    assert bank.section_label("A") == "A: Causal language modelling"
    assert "sections" not in bank.questions  # the sections file is not read as a question


def test_user_sections_file_is_read_and_checked(tmp_path: Path) -> None:
    d = _bank(tmp_path, r=PROBED_R)
    (d / "questions" / "sections.yaml").unlink()
    bank = load_bank([d], packaged=False)
    (w,) = [p for p in bank.check() if p.field == "section"]
    assert w.level == "warning" and "has no title" in w.message and w.line == 2
    (d / "questions" / "sections.yaml").write_text("A:\n  title: Toys\n  description: Things to play with.\n")
    bank = load_bank([d], packaged=False)
    assert bank.section_label("A") == "A: Toys" and bank.section_title("Z") == "Z"
    assert not [p for p in bank.check() if p.field == "section"]
    (d / "questions" / "sections.yaml").write_text("A:\n  title: Toys\n  descripton: typo\n")
    with pytest.raises(BankError) as e:
        load_bank([d], packaged=False)
    fields = {(p.field, p.line) for p in e.value.problems}
    assert fields == {("A.descripton", 3), ("A.description", 2)}


def test_bank_list_names_the_sections(capsys) -> None:
    from agent.cli import main

    assert main(["bank", "list", "--section", "A"]) == 0
    out = capsys.readouterr().out
    assert "Causal language modelling" in out
    assert main(["bank", "list", "--json"]) == 0
    rows = __import__("json").loads(capsys.readouterr().out)
    assert {r["section"]: r["section_title"] for r in rows}["F"] == "Cross-entropy and perplexity"
