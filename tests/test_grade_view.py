"""One view of a graded answer: its rows, spans, misconceptions, judge line and repairs, and the plain terminal,
the session review and the report all print the same rows from it."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from agent.grade_view import Repair, grade_view, markdown_lines, text_lines, voice_facts
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit, Turn

ANSWER = ("Softmax exponentiates each logit and divides by the sum, so the outputs sum to one. "
          "It squashes every logit on its own.  Nobody says  it  ignores   the order.")
JUDGED = {"ok": True, "model": "judge-test", "grade": 3.0, "effective_grade": 2.5, "feedback": "Mostly right."}
SPOKEN = {"wpm": 200.0, "talk_time_s": 30.0, "duration_s": 30.0, "filler_count": 2,
          "fillers": [{"text": "um", "start": 1.0}, {"text": "uh", "start": 4.0}], "pauses": [],
          "hedges": [{"text": "maybe", "start": 2.0}], "wpm_over_time": [[0.0, 15.0, 190.0], [15.0, 30.0, 210.0]],
          "repairs": [{"heard": "soft max", "read_as": "softmax"}]}


def ev(phrase: str) -> Evidence:
    i = ANSWER.index(phrase)
    return Evidence(start=i, end=i + len(phrase), text=phrase)


def make_grade() -> Grade:
    return Grade(question_id="softmax", score=2.6, display=2.5, grader_version="t", model="m", verdicts=[
        ConceptVerdict(concept_id="normalises", name="turns logits into a distribution", weight=2, verdict="covered",
                       similarity=0.8, evidence=ev("divides by the sum, so the outputs sum to one"),
                       probabilities={"states": 0.91, "partly": 0.05}),
        ConceptVerdict(concept_id="order", name="keeps the order", weight=1, verdict="partial", similarity=0.5,
                       evidence=Evidence(start=ANSWER.index("it  ignores"), end=len(ANSWER) + 40,
                                         text="it  ignores   the order.")),
        ConceptVerdict(concept_id="max-trick", name="subtracting the max", weight=1, verdict="missing",
                       similarity=0.1)],
        misconceptions=[
            MisconceptionHit(misconception_id="independent", claim="Softmax squashes each logit independently.",
                             correction="Every output depends on all logits.", similarity=0.8,
                             evidence=ev("squashes every logit on its own")),
            MisconceptionHit(misconception_id="order", claim="Softmax changes the order.", correction="It keeps it.",
                             similarity=0.6, corrected=True)],
        flags=["misconception"], feedback=["Missing: subtracting the max."])


def make_turn(insights=SPOKEN, judge=JUDGED) -> Turn:
    return Turn(session_id="view0000cafe", index=0, question_id="softmax", prompt="What does softmax do?",
                answer=ANSWER, source="voice" if insights else "typed", grade=make_grade(), insights=insights,
                judge=judge, cold=False, attempt=2, created_at=datetime(2026, 2, 2, 14, 30, tzinfo=timezone.utc))


def test_rows_spans_misconceptions_judge_and_repairs() -> None:
    view = grade_view(make_grade(), make_turn())
    assert view.headline == "Grade: 2.5/5  (score 2.60, not cold, attempt 2)"
    assert [(r.mark, r.verdict, r.name) for r in view.concepts] == [
        ("+", "covered", "turns logits into a distribution"), ("~", "partial", "keeps the order"),
        ("-", "missing", "subtracting the max")]
    covered, partial, missing = view.concepts
    assert covered.evidence == "divides by the sum, so the outputs sum to one" and covered.p_states == 0.91
    assert ANSWER[slice(*covered.span)] == covered.evidence
    # whitespace collapsed in the text; the span is cut to the answer's end
    assert partial.evidence == "it ignores the order." and partial.span == (ANSWER.index("it  ignores"), len(ANSWER))
    assert missing.evidence is None and missing.span is None and missing.p_states is None
    stated, rejected = view.misconceptions
    assert (stated.state, stated.evidence, stated.correction) == (
        "misconception", "squashes every logit on its own", "Every output depends on all logits.")
    assert ANSWER[slice(*stated.span)] == stated.evidence
    assert rejected.state == "corrected" and rejected.span is None
    # marked in the answer: covered and partial evidence, the misconception stated (not the missing concept)
    assert [(h.kind, h.index) for h in view.highlights] == [("covered", 0), ("partial", 1), ("misconception", 0)]
    assert view.flags == ("misconception",) and view.feedback == ("Missing: subtracting the max.",)
    assert view.judge == "judge (judge-test): 3.0/5, capped to 2.5 by its evidence — Mostly right."
    assert view.repairs == (Repair("soft max", "softmax"),)
    assert str(view.repairs[0]) == "heard 'soft max', read as 'softmax'"
    assert view.voice is not None and view.voice.filler_words == ("uh", "um") and view.voice.hedges == 1
    assert view.voice.pace_series == (190.0, 210.0) and view.voice.summary() == ["200 wpm", "2 fillers",
                                                                                "0 long pauses"]
    assert view.delivery and view.delivery[0].startswith("Slow down: 200 words a minute")


def test_a_typed_answer_without_a_turn_or_judge() -> None:
    view = grade_view(make_grade())
    assert view.headline == "Grade: 2.5/5  (score 2.60)" and view.judge is None and view.voice is None
    assert view.repairs == () and view.delivery == [] and view.coaching.empty
    assert view.concepts[1].span == (ANSWER.index("it  ignores"), len(ANSWER) + 40)  # no answer to cut it to
    failed = grade_view(make_grade(), make_turn(insights=None, judge={"ok": False, "failure": "timed out"}))
    assert failed.judge == "judge: not used (timed out)" and failed.voice is None
    assert voice_facts(None) is None and voice_facts({}) is None


def test_the_terminal_the_review_and_the_report_print_the_same_rows(store) -> None:
    from agent import report
    from agent.commands.interview import print_grade
    from agent.review import review_session

    turn = make_turn()
    view = grade_view(turn.grade, turn)
    rows = text_lines(view)
    assert rows[:3] == ['+ covered  turns logits into a distribution — "divides by the sum, so the outputs sum '
                        'to one"', '~ partial  keeps the order — "it ignores the order."',
                        "- missing  subtracting the max"]
    assert rows[3:5] == ['! misconception: Softmax squashes each logit independently. ("squashes every logit '
                         'on its own")', "  correction: Every output depends on all logits."]
    assert "transcript: heard 'soft max', read as 'softmax'" in rows and view.judge in rows

    out = io.StringIO()
    print_grade(turn, out)
    assert f"\n{view.headline}\n" + "".join(f"  {line}\n" for line in text_lines(view, 90)) == out.getvalue()

    store.create_session("mock", {}, session_id=turn.session_id)
    store.add_turn(turn)
    review = "\n".join(review_session(store, turn.session_id).lines())
    assert "\n".join(f"   {line}" for line in rows) in review

    md = report.render_markdown(report.build(store, turn.session_id))
    assert "\n".join(markdown_lines(view)) in md
    assert ('- **covered** turns logits into a distribution — "divides by the sum, so the outputs sum to one"\n'
            '- **partial** keeps the order — "it ignores the order."\n- **missing** subtracting the max\n') in md
    assert "- transcript: heard 'soft max', read as 'softmax'" in md and f"- {view.judge}" in md
    for r in view.concepts:  # every concept row in each of the three
        assert r.name in out.getvalue() and r.name in review and r.name in md


def test_the_app_renders_the_same_view() -> None:
    from agent.review import ReviewItem
    from tui.screens.result import insight_lines, repair_line
    from tui.screens.review import _verdicts
    from tui.widgets.evidence import VERDICT_STYLE, concept_colour, highlighted_answer

    turn = make_turn()
    view = grade_view(turn.grade, turn)
    text = highlighted_answer(ANSWER, view)
    styled = {(s.start, s.end): str(s.style) for s in text.spans}
    covered, partial, _ = view.concepts
    assert styled[covered.span] == f"bold black on {concept_colour(0)}"
    assert styled[partial.span] == f"underline {concept_colour(1)}"
    assert styled[view.misconceptions[0].span] == "strike red" and len(styled) == 3

    shown = _verdicts(ReviewItem(turn=turn, view=view, section="A")).plain.splitlines()
    assert shown[:3] == [f"██ {VERDICT_STYLE[r.verdict][0]} {r.verdict:<8} {r.name}" for r in view.concepts]
    assert view.judge in shown and "transcript: heard 'soft max', read as 'softmax'" in shown

    assert view.voice is not None
    summary, series = insight_lines(view.voice)
    assert summary.plain == "pace 200 wpm  fillers 2 (uh, um)  long pauses 0  hedges 1" and series == [190.0, 210.0]
    assert repair_line(view.voice).plain == "heard 'soft max', read as 'softmax'"
