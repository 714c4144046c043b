"""The synthesised-answer set used by the speech tests and the recall benchmark is well formed."""

from __future__ import annotations

from agent.speech.insights import find_terms
from tests.speech_fixtures import voice_set


def test_at_least_forty_answers_with_their_terms() -> None:
    items = voice_set()
    assert len(items) >= 40
    assert len({a["id"] for a in items}) == len(items)
    assert sum(len(a["terms"]) for a in items) >= 120
    for a in items:
        assert a["terms"], a["id"]
        assert set(a["terms"]) <= set(a["rubric_terms"]), a["id"]
        # every listed term is really in the text, so recall is measured against what was spoken
        assert find_terms(a["text"], a["terms"]) == a["terms"], a["id"]


def test_bank_question_topics_exist(bank) -> None:
    for a in voice_set():
        if a["question"]:
            assert a["question"] in bank.questions, a["id"]
