"""Coaching after an answer: what a strong answer adds (from the rubric) and ranked delivery notes."""

from __future__ import annotations

import io

import pytest

from agent.coaching import coach, delivery_notes, one_sentence, strong_answer_adds
from agent.models import ConceptVerdict, Grade


def _grade(rubric, verdicts: dict[str, str], score: float = 2.0) -> Grade:
    vs = [ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict=verdicts.get(c.id, "covered"),
                         similarity=0.5) for c in rubric.concepts]
    return Grade(question_id=rubric.question_id, score=score, display=score, verdicts=vs, grader_version="t",
                 model="t")


def test_strong_answer_adds_missing_then_partial_heaviest_first_one_sentence_each(bank) -> None:
    r = bank.rubrics["causal-masking"]
    g = _grade(r, {"no-leakage": "partial", "parallel-training": "missing", "minus-inf-before-softmax": "missing"})
    ideas = strong_answer_adds(r, g)
    assert [i.concept_id for i in ideas] == ["minus-inf-before-softmax", "parallel-training"]  # two at most
    for i in ideas:
        assert i.sentence.endswith(".") and i.sentence.count(". ") == 0
    assert ideas[0].sentence.startswith("Scores for keys after the query are set to minus infinity")
    assert strong_answer_adds(r, _grade(r, {})) == []  # nothing missing, nothing to add


def test_one_sentence() -> None:
    assert one_sentence("the first idea. The second one.") == "The first idea."
    assert one_sentence("no full stop") == "No full stop."
    assert one_sentence("uses F.cross_entropy (B*T, V). Then more.") == "Uses F.cross_entropy (B*T, V)."


@pytest.mark.parametrize(("insights", "first"), [
    ({"wpm": 210, "talk_time_s": 60, "duration_s": 60, "filler_count": 1, "pauses": []}, "pace"),
    ({"wpm": 140, "talk_time_s": 30, "duration_s": 30, "filler_count": 9, "pauses": []}, "fillers"),
    ({"wpm": 140, "talk_time_s": 40, "duration_s": 60, "filler_count": 0,
      "pauses": [{"start": 5, "end": 15, "duration": 10.0}, {"start": 30, "end": 40, "duration": 10.0}]}, "pauses"),
    ({"wpm": 80, "talk_time_s": 60, "duration_s": 62, "filler_count": 0, "pauses": []}, "pace"),
])
def test_delivery_notes_are_ranked_by_what_matters(insights, first) -> None:
    notes = delivery_notes(insights)
    assert [n.kind for n in notes][0] == first and notes[0].matters
    assert sorted(n.kind for n in notes) == ["fillers", "pace", "pauses"]
    assert [n.severity for n in notes] == sorted((n.severity for n in notes), reverse=True)


def test_a_fine_delivery_and_a_typed_answer() -> None:
    notes = delivery_notes({"wpm": 140, "talk_time_s": 60, "duration_s": 60, "filler_count": 1, "pauses": []})
    assert not any(n.matters for n in notes)
    assert [n.text for n in notes] == ["Good pace: 140 words a minute.", "Few fillers (1).", "No long pauses."]
    assert delivery_notes(None) == [] and delivery_notes({}) == []


def test_cli_interview_prints_the_coaching(bank) -> None:
    from datetime import datetime, timezone

    from agent.commands.interview import print_grade
    from agent.models import Turn

    r = bank.rubrics["causal-masking"]
    g = _grade(r, {"parallel-training": "missing"})
    turn = Turn(session_id="s", index=0, question_id="causal-masking", answer="a", grade=g, source="voice",
                insights={"wpm": 200, "talk_time_s": 30, "duration_s": 30, "filler_count": 0, "pauses": []},
                created_at=datetime.now(timezone.utc))
    out = io.StringIO()
    print_grade(turn, out, r)
    text = out.getvalue()
    assert "  What a strong answer adds:\n    - The mask lets the whole sequence be processed at once" in text
    assert "  Delivery (what matters most first):\n    1. Slow down: 200 words a minute" in text
    assert coach(r, g).delivery == []  # typed: no delivery notes
