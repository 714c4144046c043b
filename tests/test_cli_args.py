"""Every subcommand takes its flags and positionals in any order (no model loads: parsing only)."""

from __future__ import annotations

import argparse

import pytest

from agent.cli import VivaArgumentParser, build_parser


def _parse(line: str) -> dict:
    ns = vars(build_parser().parse_args(line.split()))
    ns.pop("func", None)
    return ns


@pytest.mark.parametrize(
    ("before", "after", "expect"),
    [
        ("score clm-loss ANSWER --json", "score clm-loss --json ANSWER", {"question_id": "clm-loss", "answer": "ANSWER", "json": True}),
        ("score --json clm-loss ANSWER", "score clm-loss ANSWER --json", {"question_id": "clm-loss", "answer": "ANSWER", "json": True}),
        ("bank show clm-loss --json", "bank show --json clm-loss", {"question_id": "clm-loss", "json": True}),
        ("history last --json", "history --json last", {"session": "last", "json": True}),
        ("report last --out r", "report --out r last", {"session": "last", "out": "r"}),
        ("resume abc --text", "resume --text abc", {"session": "abc", "text": True}),
        ("forget abc --yes", "forget --yes abc", {"session": "abc", "yes": True}),
        ("config path --json", "config --json path", {"action": "path", "json": True}),
        ("transcribe a.wav --json", "transcribe --json a.wav", {"file": "a.wav", "json": True}),
        ("say hello there --out q.wav", "say hello --out q.wav there", {"text": ["hello", "there"], "out": "q.wav"}),
        ("grade a b --all", "grade a --all b", {"paths": ["a", "b"], "all": True}),
        ("eval f.jsonl --json", "eval --json f.jsonl", {"file": "f.jsonl", "json": True}),
        ("demo run causal_mask --no-verify", "demo run --no-verify causal_mask", {"name": "causal_mask", "no_verify": True}),
        ("demo verify a b --seed 3", "demo verify a --seed 3 b", {"names": ["a", "b"], "seed": 3}),
    ],
)
def test_flags_and_positionals_in_any_order(before, after, expect):
    a, b = _parse(before), _parse(after)
    assert a == b
    for k, v in expect.items():
        assert b[k] == v


def test_double_dash_still_ends_the_flags():
    assert _parse("say --out q.wav -- -hello there")["text"] == ["-hello", "there"]


def _leaves(parser: argparse.ArgumentParser):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for s in subs:
        for child in dict.fromkeys(s.choices.values()):
            yield from _leaves(child)


def test_every_subcommand_parses_intermixed():
    leaves = list(_leaves(build_parser()))
    assert len(leaves) >= 15
    for p in leaves:
        assert isinstance(p, VivaArgumentParser), p.prog


def test_unknown_argument_is_still_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["score", "clm-loss", "x", "y"])
    assert e.value.code == 2
    assert "unrecognized arguments: y" in capsys.readouterr().err
