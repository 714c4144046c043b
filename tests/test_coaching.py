"""Coaching after an answer: what a strong answer adds (from the rubric) and ranked delivery notes."""

from __future__ import annotations

import io

import pytest

from agent.answer import Answer
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


def test_review_of_a_session_has_every_answer_with_its_coaching(bank, tmp_path) -> None:
    from agent.interview import Interview, SessionConfig
    from agent.review import review_session
    from agent.store import Store
    from tests.test_policy_follows import Scripted

    script = [(2.0, ["covered", "missing", "missing"], False), (4.5, ["covered"], False)]
    with Store(tmp_path / "h.sqlite3") as store:
        iv = Interview(bank, SessionConfig(n_questions=1, seed=1, section="masking"), store, Scripted(script))
        iv.start()
        iv.answer(Answer.typed("The future is hidden by a mask."))
        iv.advance()
        if iv.current is not None:
            iv.answer(Answer("All at once.", source="voice", insights={"wpm": 230, "talk_time_s": 20, "duration_s": 20,
                                                                 "filler_count": 0, "pauses": []}))
        rev = review_session(store, "last", bank)
        assert [i.turn.question_id for i in rev.items] == [t.question_id for t in iv.turns]
        first = rev.items[0]
        assert first.section == "masking: Causal masking" and first.how == "typed, cold"
        assert len(first.coaching.adds) == 2
        text = "\n".join(rev.lines())
        assert "   A: The future is hidden by a mask." in text and "What a strong answer adds:" in text
        if len(rev.items) > 1:
            assert rev.items[1].follow_up is not None and "Slow down" in text
