"""Schema 3: turns judged before one rule decided which grade is stored are brought to that rule.

Each test writes a history database the old way (raw SQL at schema version 2), opens it with the Store,
and reads back what the migration made of it."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_tui_fakes import LexicalScorer  # noqa: E402

from agent import srs  # noqa: E402
from agent.grading.blend import blend  # noqa: E402
from agent.grading.judge import CheckedConcept, JudgeResult  # noqa: E402
from agent.models import Grade  # noqa: E402
from agent.store import MIGRATIONS, SCHEMA_VERSION, Store, card_id_for  # noqa: E402

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def scored(bank) -> tuple[str, Grade, JudgeResult]:
    """A bank question, the scorer's grade of an answer naming one of its concepts, and a judge that found
    every concept."""
    qid = next(q for q, r in sorted(bank.rubrics.items()) if len(r.concepts) >= 3 and r.concepts[0].terms)
    rubric = bank.rubrics[qid]
    answer = f"It is about {rubric.concepts[0].terms[0]}."
    grade = LexicalScorer().score(bank.questions[qid], rubric, answer)
    result = JudgeResult(ok=True, model="judge-test", question_id=qid, grade=5.0, effective_grade=5.0,
                         feedback="complete", concepts=[CheckedConcept(concept_id=c.id, verdict="covered",
                                                                       verified=True) for c in rubric.concepts])
    return qid, grade, result


def old_database(path: Path, qid: str, grade: Grade, judge: dict | None) -> int:
    """A schema-2 history with one session, one turn stored with ``grade`` and ``judge``, and its review."""
    c = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](c)
    MIGRATIONS[1](c)
    c.execute("PRAGMA user_version = 2")
    c.execute("INSERT INTO sessions(id, mode, started_at) VALUES ('s1', 'mock', ?)", (T0.isoformat(),))
    c.execute("INSERT INTO turns(session_id, idx, question_id, section, answer, score, grade, judge, cold, hinted, "
              "model_answer_shown, created_at) VALUES ('s1', 0, ?, 'A', 'x', ?, ?, ?, 1, 0, 0, ?)",
              (qid, grade.score, grade.model_dump_json(), json.dumps(judge) if judge else None, T0.isoformat()))
    for v in grade.verdicts:
        c.execute("INSERT INTO verdicts VALUES ('s1', 0, ?, ?, ?, ?, ?, ?)",
                  (qid, v.concept_id, v.name, v.verdict, {"covered": 1.0, "partial": 0.5}.get(v.verdict, 0.0),
                   T0.isoformat()))
    rating = srs.grade_rating_value(grade, cold=True)
    r = srs.review(qid, None, rating, now=T0, card_id=card_id_for(qid))
    c.execute("INSERT INTO srs VALUES (?,?,?,?,?,?,?)", (qid, json.dumps(r.card), r.due.isoformat(), rating, 1, 0,
                                                        T0.isoformat()))
    c.execute("INSERT INTO srs_log VALUES (?, 's1', 0, ?, ?)", (qid, rating, T0.isoformat()))
    c.close()
    return rating


def test_a_turn_stored_the_apps_old_way_is_blended(bank, tmp_path: Path) -> None:
    qid, offline, result = scored(bank)
    path = tmp_path / "old.sqlite3"
    old_rating = old_database(path, qid, offline, result.model_dump(mode="json"))
    expected = blend(offline, result, bank.rubrics[qid])
    new_rating = srs.grade_rating_value(expected, cold=True)
    assert expected.score > offline.score + 1 and new_rating != old_rating  # the migration has work to do
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION == 3
        (t,) = s.turns("s1")
        assert t.grade == expected and t.offline_grade == offline
        assert t.judge == result.model_dump(mode="json")
        assert s._query("SELECT score FROM turns")[0][0] == expected.score
        credit = {"covered": 1.0, "partial": 0.5, "missing": 0.0}
        assert {c.concept_id: c.mastery for c in s.mastery().concepts} == {
            v.concept_id: credit[v.verdict] for v in expected.verdicts}
        assert s._query("SELECT rating FROM srs_log")[0][0] == new_rating
        again = srs.review(qid, None, new_rating, now=T0, card_id=card_id_for(qid))
        (due,) = s.scheduled()
        assert (due.rating, due.due) == (new_rating, again.due)


def test_a_turn_stored_the_text_modes_old_way_gets_its_judge_column(bank, tmp_path: Path) -> None:
    qid, offline, result = scored(bank)
    blended = blend(offline, result, bank.rubrics[qid])
    path = tmp_path / "old.sqlite3"
    rating = old_database(path, qid, blended, None)
    with Store(path) as s:
        (t,) = s.turns("s1")
        assert t.grade == blended  # already the blend: it stands
        assert t.offline_grade is None  # the scorer's grade was not kept then
        assert t.judge == blended.extra["judge"] and t.judge["ok"] is True
        assert s._query("SELECT rating FROM srs_log")[0][0] == rating


def test_a_failed_judge_stored_the_old_way_leaves_the_grade(bank, tmp_path: Path) -> None:
    qid, offline, _ = scored(bank)
    path = tmp_path / "old.sqlite3"
    old_database(path, qid, offline, {"ok": False, "failure": "HTTP 500"})
    with Store(path) as s:
        (t,) = s.turns("s1")
        assert t.grade == offline and t.offline_grade is None and t.judge == {"ok": False, "failure": "HTTP 500"}
