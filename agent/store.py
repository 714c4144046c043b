"""The local history: sessions, graded turns, per-concept verdicts and spaced-repetition state in SQLite.

* WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` writes, so two viva processes can share the file.
* Every turn is committed, with its verdicts and its spaced-repetition review, in one transaction the
  moment it is graded: a process killed at any point loses nothing that was graded.
* The schema carries its version in ``PRAGMA user_version`` and is brought up to date by the ordered
  migrations below; a database written by a newer viva is refused with a clear message.
* A corrupt file is moved aside (``history.sqlite3.corrupt-<time>``), kept untouched, and a fresh database
  is started holding what SQLite could still read from a copy of it (``sqlite3 .recover`` where the sqlite3
  program exists, else a row-by-row scan that steps over unreadable pages). ``Store.recovered`` names the
  kept file and ``Store.recovered_turns`` counts the answers salvaged; ``recovery_message()`` is the one
  sentence the front end says.
* ``forget`` deletes with ``secure_delete`` on and truncates the WAL, so forgotten answers do not linger
  in free pages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import UserError
from agent.models import Grade, SessionInfo, Turn

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.models import Rubric
    from agent.srs import Review

log = logging.getLogger(__name__)

#: The seed whose 40 questions (35 numbered + 5 quick-fire) are "the loss questions" of the goal.
LOSS_SEED = "004_b452a9f71ccb03d9.txt"
LOSS_TOTAL = 40
LOSS_TARGET = 25
#: a cold answer at or above this grade counts as "answered cold" for the goal
COLD_PASS = 3.5
#: concept mastery is the mean verdict credit over the latest attempts at the concept
MASTERY_WINDOW = 3
VERDICT_CREDIT = {"covered": 1.0, "partial": 0.5, "missing": 0.0}
BUSY_TIMEOUT_S = 30.0


class StoreError(UserError):
    """A history database problem the user can act on."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _dt(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


def _json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def card_id_for(question_id: str) -> int:
    """A stable FSRS card id for a question (FSRS otherwise uses the wall clock)."""
    return int.from_bytes(hashlib.sha1(question_id.encode()).digest()[:6], "big")


# --------------------------------------------------------------------------- migrations


def _script(c: sqlite3.Connection, sql: str) -> None:
    """Run statements one by one (``executescript`` would commit the migration's transaction)."""
    for stmt in sql.split(";"):
        if stmt.strip():
            c.execute(stmt)


def _m1(c: sqlite3.Connection) -> None:
    _script(c, 
        """
        CREATE TABLE sessions(
            id TEXT PRIMARY KEY,
            mode TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            config TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE turns(
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            question_id TEXT NOT NULL,
            parent_id TEXT,
            prompt TEXT NOT NULL DEFAULT '',
            section TEXT NOT NULL DEFAULT '',
            topic TEXT NOT NULL DEFAULT '',
            seed TEXT,
            answer TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'typed',
            transcript TEXT,
            words TEXT,
            audio_path TEXT,
            score REAL NOT NULL,
            grade TEXT NOT NULL,
            insights TEXT,
            judge TEXT,
            cold INTEGER NOT NULL,
            hinted INTEGER NOT NULL,
            model_answer_shown INTEGER NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            choice TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY(session_id, idx)
        );
        CREATE TABLE srs(
            question_id TEXT PRIMARY KEY,
            card TEXT NOT NULL,
            due TEXT NOT NULL,
            rating INTEGER NOT NULL,
            reps INTEGER NOT NULL DEFAULT 0,
            lapses INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );
        """
    )


def _m2(c: sqlite3.Connection) -> None:
    """Per-concept verdicts as rows (mastery queries) and the review log (rebuild SRS after a forget)."""
    _script(c, 
        """
        CREATE TABLE verdicts(
            session_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            question_id TEXT NOT NULL,
            concept_id TEXT NOT NULL,
            name TEXT NOT NULL,
            verdict TEXT NOT NULL,
            score REAL NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY(session_id, idx, concept_id),
            FOREIGN KEY(session_id, idx) REFERENCES turns(session_id, idx) ON DELETE CASCADE
        );
        CREATE TABLE srs_log(
            question_id TEXT NOT NULL,
            session_id TEXT,
            idx INTEGER,
            rating INTEGER NOT NULL,
            reviewed_at TEXT NOT NULL
        );
        CREATE INDEX turns_question ON turns(question_id);
        CREATE INDEX srs_due ON srs(due);
        CREATE INDEX srs_log_question ON srs_log(question_id, reviewed_at);
        """
    )
    _backfill_verdicts(c)


def _backfill_verdicts(c: sqlite3.Connection) -> None:
    """Per-concept verdict rows from the grades stored with the turns."""
    rows = c.execute("SELECT session_id, idx, question_id, parent_id, grade, created_at FROM turns").fetchall()
    for sid, idx, qid, parent, grade_json, created in rows:
        grade = json.loads(grade_json)
        for v in grade.get("verdicts", []):
            c.execute("INSERT OR IGNORE INTO verdicts VALUES (?,?,?,?,?,?,?,?)",
                      (sid, idx, parent or qid, v["concept_id"], v.get("name", v["concept_id"]), v["verdict"],
                       VERDICT_CREDIT.get(v["verdict"], 0.0), created))


def _regrade_rows(c: sqlite3.Connection, sid: str, idx: int, key: str, grade: Grade, created: str | None,
                  rating: int | None) -> set[str]:
    """A turn's verdict rows for its new grade, and the rating of the review it made (when it made one).
    Returns the questions whose spaced-repetition state must be replayed from the log."""
    c.execute("DELETE FROM verdicts WHERE session_id = ? AND idx = ?", (sid, idx))
    c.executemany("INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?)",
                  [(sid, idx, key, v.concept_id, v.name, v.verdict, VERDICT_CREDIT.get(v.verdict, 0.0), created)
                   for v in grade.verdicts])
    if rating is None:
        return set()
    touched = {r[0] for r in c.execute("SELECT question_id FROM srs_log WHERE session_id = ? AND idx = ? "
                                        "AND rating != ?", (sid, idx, rating))}
    c.execute("UPDATE srs_log SET rating = ? WHERE session_id = ? AND idx = ?", (rating, sid, idx))
    return touched


def _m3(c: sqlite3.Connection) -> None:
    """The scorer's own grade beside the stored one (``offline_grade``), and one rule for turns judged before.

    Older versions stored a judged turn two ways: `viva interview --text` stored the blended grade (the judge's
    result inside ``grade.extra["judge"]``, the ``judge`` column often empty); the app stored the scorer's grade
    and put the judge's result in the ``judge`` column only. Now the stored grade is always the blend once a
    judge result is in, and ``offline_grade`` keeps the scorer's grade. App-style turns are blended here (their
    verdict rows and reviews follow); text-mode turns get their ``judge`` column filled, with ``offline_grade``
    left NULL (the scorer's grade was not kept)."""
    c.execute("ALTER TABLE turns ADD COLUMN offline_grade TEXT")
    rows = c.execute("SELECT session_id, idx, question_id, parent_id, grade, judge, cold, hinted, "
                     "model_answer_shown, created_at FROM turns WHERE judge IS NOT NULL OR grade LIKE '%\"judge\"%'"
                     ).fetchall()
    if not rows:
        return
    from agent.grading.blend import blend
    from agent.grading.judge.schema import JudgeResult

    rubrics = _rubric_lookup()
    touched: set[str] = set()
    for sid, idx, qid, parent, grade_json, judge_json, cold, hinted, shown, created in rows:
        grade = Grade.model_validate_json(grade_json)
        judge = json.loads(judge_json) if judge_json else None
        inner = grade.extra.get("judge")
        if isinstance(inner, dict):  # stored blended (text mode): the grade stands, the judge column is filled
            if judge is None:
                c.execute("UPDATE turns SET judge = ? WHERE session_id = ? AND idx = ?", (_json(inner), sid, idx))
            continue
        if not isinstance(judge, dict) or not judge.get("ok"):
            continue  # a failed judge left the scorer's grade, which is the rule now too
        try:
            result = JudgeResult.model_validate(judge)
        except ValueError:
            log.info("turn %s/%s: its judge result is not readable; the grade is kept", sid, idx)
            continue
        blended = blend(grade, result, rubrics(qid))
        c.execute("UPDATE turns SET grade = ?, score = ?, offline_grade = ? WHERE session_id = ? AND idx = ?",
                  (blended.model_dump_json(), blended.score, grade.model_dump_json(), sid, idx))
        touched |= _regrade_rows(c, sid, idx, parent or qid, blended, created,
                                 _rating(blended, bool(cold), bool(hinted), bool(shown)))
    _replay_srs(c, touched)


def _rubric_lookup() -> Callable[[str], Rubric | None]:
    """The bank's rubric for a question id, or None (no bank, a broken bank, a question no longer in it)."""
    try:
        from agent.bank import default_bank

        bank = default_bank()
    except Exception as e:  # noqa: BLE001 - the blend works without the rubric (it only adds misconceptions)
        log.info("no bank for the migration's blend: %s", e)
        return lambda qid: None
    return lambda qid: bank.rubrics.get(qid)


def _rating(grade: Grade, cold: bool, hinted: bool, shown: bool) -> int:
    from agent import srs

    return srs.grade_rating_value(grade, cold=cold, hinted=hinted, model_answer_shown=shown)


def _replay_srs(c: sqlite3.Connection, question_ids: set[str]) -> None:
    """Replay the review log of these questions into their spaced-repetition state."""
    from agent import srs

    for qid in sorted(question_ids):
        c.execute("DELETE FROM srs WHERE question_id = ?", (qid,))
        card, reps, lapses, r = None, 0, 0, None
        for rating, at in c.execute("SELECT rating, reviewed_at FROM srs_log WHERE question_id = ? "
                                    "ORDER BY reviewed_at, rowid", (qid,)).fetchall():
            r = srs.review(qid, card, rating, now=_dt(at), card_id=card_id_for(qid))
            lapses += 1 if rating == srs.AGAIN and reps else 0
            card, reps = r.card, reps + 1
        if r is not None:
            c.execute("INSERT INTO srs VALUES (?,?,?,?,?,?,?)",
                      (qid, _json(r.card), _iso(r.due), r.rating, reps, lapses, _iso(r.reviewed_at)))


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1, _m2, _m3]
SCHEMA_VERSION = len(MIGRATIONS)


# --------------------------------------------------------------------------- results


@dataclass
class DueItem:
    question_id: str
    due: datetime
    rating: int
    reps: int


@dataclass
class ConceptMastery:
    question_id: str
    concept_id: str
    name: str
    section: str
    attempts: int
    mastery: float  # 0-1


@dataclass
class SectionMastery:
    section: str
    questions_seen: int
    questions_total: int | None
    mastery: float  # 0-1, mean of the section's concept mastery
    concepts: int


@dataclass
class Mastery:
    sections: list[SectionMastery] = field(default_factory=list)
    concepts: list[ConceptMastery] = field(default_factory=list)

    def section(self, name: str) -> SectionMastery | None:
        return next((s for s in self.sections if s.section == name), None)

    def concept(self, question_id: str, concept_id: str) -> ConceptMastery | None:
        return next((c for c in self.concepts if (c.question_id, c.concept_id) == (question_id, concept_id)), None)


@dataclass
class Goal:
    """The seed's goal: answer ``target`` of the ``total`` loss questions cold."""

    done: int
    target: int = LOSS_TARGET
    total: int = LOSS_TOTAL
    question_ids: list[str] = field(default_factory=list)
    in_bank: int | None = None  # how many loss questions the loaded bank holds

    @property
    def reached(self) -> bool:
        return self.done >= self.target

    def __str__(self) -> str:
        return f"{self.done}/{self.target} loss questions answered cold (of {self.total})"


# --------------------------------------------------------------------------- the store


class Store:
    """The history database. Thread-safe (one connection behind a lock); several processes may share it."""

    def __init__(self, path: Path | str | None = None):
        if path is None:
            from agent.config import get_settings

            path = get_settings().db_path
        self.path = Path(path).expanduser()
        self.recovered: Path | None = None  # where a corrupt database was moved, if it was
        self.recovered_turns = 0  # answers salvaged from it into the fresh database
        self.recovered_sessions = 0
        self._lock = threading.RLock()
        self._conn = self._open()

    # ---------------------------------------------------------------- opening, migrations, corruption

    def _connect_once(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("history database is in %s mode, not WAL", mode)
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> sqlite3.Connection:
        """Connect, waiting out another process's write. Switching a database to WAL while another connection
        holds its write lock fails at once with "database is locked": SQLite does not call the busy handler for
        it, so two viva processes opening a new database together retry here, up to the busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                return self._connect_once()
            except sqlite3.OperationalError as e:
                msg = str(e).lower()
                if ("locked" not in msg and "busy" not in msg) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the history folder {self.path.parent}: {e.strerror}; "
                             "set VIVA_DATA_DIR to a writable folder") from None
        conn = None
        try:
            conn = self._connect()
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            self._migrate(conn)
            return conn
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            if not _is_corruption(e):
                raise StoreError(f"cannot open the history database {self.path}: {e}. "
                                 "Check that the folder is writable (or set VIVA_DATA_DIR)") from None
            self.recovered = self._move_aside()
            conn = self._connect()
            self._migrate(conn)
            try:
                self.recovered_sessions, self.recovered_turns = _salvage(self.recovered, conn)
            except Exception as salvage_error:  # salvage is a bonus: the fresh database stands either way
                log.info("nothing salvaged from %s: %s", self.recovered, salvage_error)
            # said once by the front end through recovery_message(); logged here only for -v
            log.info("history database %s was unreadable (%s); kept it as %s, recovered %d turn(s)",
                     self.path, e, self.recovered, self.recovered_turns)
            return conn

    def recovery_message(self) -> str | None:
        """What to tell the user once when a corrupt database was set aside (None when none was)."""
        if self.recovered is None:
            return None
        got = (f"recovered {self.recovered_turns} answer(s) of {self.recovered_sessions} session(s) from it"
               if self.recovered_turns or self.recovered_sessions else "nothing in it could be recovered")
        return f"the history database could not be read; it was kept as {self.recovered}; {got} into a fresh one"

    def _move_aside(self) -> Path:
        stamp = _now().strftime("%Y%m%dT%H%M%S%f")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        shutil.move(str(self.path), aside)
        for suffix in ("-wal", "-shm", "-journal"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                if suffix == "-wal":
                    shutil.move(str(side), aside.with_name(aside.name + suffix))
                else:
                    side.unlink()
        return aside

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"the history database {self.path} has schema version {version}, newer than this "
                             f"viva understands ({SCHEMA_VERSION}); upgrade viva or set VIVA_DATA_DIR elsewhere")
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
            for i in range(version, SCHEMA_VERSION):
                log.info("migrating history database to schema %d", i + 1)
                MIGRATIONS[i](conn)
                conn.execute(f"PRAGMA user_version = {i + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ---------------------------------------------------------------- sessions

    def create_session(self, mode: str, config: dict[str, Any] | None = None, *, session_id: str | None = None,
                       now: datetime | None = None) -> SessionInfo:
        sid = session_id or uuid.uuid4().hex[:12]
        started = now or _now()
        with self._tx() as c:
            c.execute("INSERT INTO sessions(id, mode, started_at, config) VALUES (?,?,?,?)",
                      (sid, mode, _iso(started), _json(config or {})))
        return SessionInfo(id=sid, mode=mode, started_at=started, config=config or {})

    def save_state(self, session_id: str, state: dict[str, Any]) -> None:
        """The interview's resumable state (what is being asked now, what was skipped)."""
        with self._tx() as c:
            c.execute("UPDATE sessions SET state = ? WHERE id = ?", (_json(state), session_id))

    def load_state(self, session_id: str) -> dict[str, Any]:
        rows = self._query("SELECT state FROM sessions WHERE id = ?", (session_id,))
        return json.loads(rows[0][0]) if rows else {}

    def finish_session(self, session_id: str, now: datetime | None = None) -> None:
        with self._tx() as c:
            c.execute("UPDATE sessions SET finished_at = ? WHERE id = ? AND finished_at IS NULL",
                      (_iso(now or _now()), session_id))

    _SESSION_SQL = (
        "SELECT s.id, s.mode, s.started_at, s.finished_at, s.config, COUNT(t.idx), AVG(t.score) "
        "FROM sessions s LEFT JOIN turns t ON t.session_id = s.id "
    )

    @staticmethod
    def _info(row: tuple) -> SessionInfo:
        sid, mode, started, finished, config, n, mean = row
        return SessionInfo(id=sid, mode=mode, started_at=_dt(started), finished_at=_dt(finished),
                           config=json.loads(config), n_turns=n, mean_grade=None if mean is None else float(mean))

    def sessions(self, limit: int | None = None) -> list[SessionInfo]:
        """Sessions, newest first."""
        sql = self._SESSION_SQL + "GROUP BY s.id ORDER BY s.started_at DESC, s.rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._info(r) for r in self._query(sql)]

    def session(self, session_id: str) -> SessionInfo:
        """One session by id or unique id prefix ("last" is the newest)."""
        sid = self.resolve(session_id)
        return self._info(self._query(self._SESSION_SQL + "WHERE s.id = ? GROUP BY s.id", (sid,))[0])

    def resolve(self, session_id: str) -> str:
        if session_id in ("last", "latest"):
            rows = self._query("SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT 1")
            if not rows:
                raise StoreError("there are no sessions yet; start one with `viva interview`")
            return rows[0][0]
        rows = self._query("SELECT id FROM sessions WHERE id = ? OR id LIKE ? ORDER BY id",
                           (session_id, session_id.replace("%", "").replace("_", "") + "%"))
        ids = [r[0] for r in rows]
        if session_id in ids:
            return session_id
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise StoreError(f"no session {session_id!r}; `viva history` lists them")
        raise StoreError(f"session id {session_id!r} is ambiguous ({', '.join(ids[:5])}); give more characters")

    def latest_unfinished(self) -> SessionInfo | None:
        """The newest open session with at least one answer (one left before any answer, which older
        versions stored, has nothing to continue)."""
        rows = self._query(self._SESSION_SQL + "WHERE s.finished_at IS NULL GROUP BY s.id HAVING COUNT(t.idx) > 0 "
                           "ORDER BY s.started_at DESC, s.rowid DESC LIMIT 1")
        return self._info(rows[0]) if rows else None

    # ---------------------------------------------------------------- turns

    def add_turn(self, turn: Turn, *, review: bool = True) -> Review | None:
        """Commit a graded turn, its verdicts and (for the first attempt at a bank question) its review,
        in one transaction. Returns the spaced-repetition review when one was made."""
        try:
            with self._tx() as c:
                return self._insert_turn(c, turn, review)
        except sqlite3.IntegrityError:
            if self._query("SELECT 1 FROM turns WHERE session_id = ? AND idx = ?", (turn.session_id, turn.index)):
                raise StoreError(f"answer {turn.index + 1} of session {turn.session_id} is already saved (is the "
                                 "session open in another viva?); `viva resume` picks it up from the history") from None
            raise

    def _insert_turn(self, c: sqlite3.Connection, turn: Turn, review: bool) -> Review | None:
        from agent import srs

        created = _iso(turn.created_at)
        c.execute(
            "INSERT INTO turns(session_id, idx, question_id, parent_id, prompt, section, topic, seed, answer, "
            "source, transcript, words, audio_path, score, grade, offline_grade, insights, judge, cold, hinted, "
            "model_answer_shown, attempt, choice, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (turn.session_id, turn.index, turn.question_id, turn.parent_id, turn.prompt, turn.section,
             turn.topic, turn.seed, turn.answer, turn.source, turn.transcript, _json(turn.words),
             turn.audio_path, turn.grade.score, turn.grade.model_dump_json(),
             turn.offline_grade.model_dump_json() if turn.offline_grade is not None else None,
             _json(turn.insights), _json(turn.judge), int(turn.cold), int(turn.hinted),
             int(turn.model_answer_shown), turn.attempt, _json(turn.choice), created),
        )
        key = turn.parent_id or turn.question_id
        c.executemany(
            "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?)",
            [(turn.session_id, turn.index, key, v.concept_id, v.name, v.verdict,
              VERDICT_CREDIT.get(v.verdict, 0.0), created) for v in turn.grade.verdicts],
        )
        if review and turn.parent_id is None and turn.attempt == 1:
            rating = srs.grade_rating_value(turn.grade, cold=turn.cold, hinted=turn.hinted,
                                            model_answer_shown=turn.model_answer_shown)
            return self._review(c, turn.question_id, rating, turn.created_at, turn.session_id, turn.index)
        return None

    def regrade_turn(self, turn: Turn) -> None:
        """Store a recorded turn's new grade (an LLM judge result was applied): the grade and its score, the
        scorer's grade kept beside it, the judge's result, the turn's verdict rows and, when the turn made a
        review, that review's rating with the question's spaced-repetition state replayed from the log, so
        that history, mastery and scheduling all follow the grade that is stored."""
        from agent import srs

        rating = None
        if turn.parent_id is None and turn.attempt == 1:
            rating = srs.grade_rating_value(turn.grade, cold=turn.cold, hinted=turn.hinted,
                                            model_answer_shown=turn.model_answer_shown)
        with self._tx() as c:
            n = c.execute("UPDATE turns SET grade = ?, score = ?, offline_grade = ?, judge = ? "
                          "WHERE session_id = ? AND idx = ?",
                          (turn.grade.model_dump_json(), turn.grade.score,
                           turn.offline_grade.model_dump_json() if turn.offline_grade is not None else None,
                           _json(turn.judge), turn.session_id, turn.index)).rowcount
            if not n:
                raise StoreError(f"answer {turn.index + 1} of session {turn.session_id} is not in the history "
                                 "(was the session forgotten?)")
            touched = _regrade_rows(c, turn.session_id, turn.index, turn.parent_id or turn.question_id,
                                    turn.grade, _iso(turn.created_at), rating)
            _replay_srs(c, touched)

    @staticmethod
    def _turn(row: sqlite3.Row | tuple) -> Turn:
        (sid, idx, qid, parent, prompt, section, topic, seed, answer, source, transcript, words, audio, _score,
         grade, offline, insights, judge, cold, hinted, shown, attempt, choice, created) = row
        return Turn(session_id=sid, index=idx, question_id=qid, parent_id=parent, prompt=prompt, section=section,
                    topic=topic, seed=seed, answer=answer, source=source, transcript=transcript,
                    words=json.loads(words) if words else None, audio_path=audio,
                    grade=Grade.model_validate_json(grade),
                    offline_grade=Grade.model_validate_json(offline) if offline else None,
                    insights=json.loads(insights) if insights else None,
                    judge=json.loads(judge) if judge else None, cold=bool(cold), hinted=bool(hinted),
                    model_answer_shown=bool(shown), attempt=attempt, choice=json.loads(choice) if choice else None,
                    created_at=_dt(created))

    _TURN_COLS = ("session_id, idx, question_id, parent_id, prompt, section, topic, seed, answer, source, "
                  "transcript, words, audio_path, score, grade, offline_grade, insights, judge, cold, hinted, "
                  "model_answer_shown, attempt, choice, created_at")

    def turns(self, session_id: str | None = None) -> list[Turn]:
        """A session's turns in order (every turn of every session when ``session_id`` is None)."""
        if session_id is None:
            rows = self._query(f"SELECT {self._TURN_COLS} FROM turns ORDER BY created_at, session_id, idx")
        else:
            rows = self._query(f"SELECT {self._TURN_COLS} FROM turns WHERE session_id = ? ORDER BY idx",
                               (session_id,))
        return [self._turn(r) for r in rows]

    def question_turns(self, question_id: str) -> list[Turn]:
        rows = self._query(f"SELECT {self._TURN_COLS} FROM turns WHERE question_id = ? OR parent_id = ? "
                           "ORDER BY created_at", (question_id, question_id))
        return [self._turn(r) for r in rows]

    # ---------------------------------------------------------------- spaced repetition

    def _review(self, c: sqlite3.Connection, question_id: str, rating: int, now: datetime,
                session_id: str | None, idx: int | None) -> Review:
        from agent import srs

        row = c.execute("SELECT card, reps, lapses FROM srs WHERE question_id = ?", (question_id,)).fetchone()
        card, reps, lapses = (json.loads(row[0]), row[1], row[2]) if row else (None, 0, 0)
        r = srs.review(question_id, card, rating, now=now, card_id=card_id_for(question_id))
        c.execute("INSERT OR REPLACE INTO srs VALUES (?,?,?,?,?,?,?)",
                  (question_id, _json(r.card), _iso(r.due), rating, reps + 1,
                   lapses + (1 if rating == srs.AGAIN and reps else 0), _iso(now)))
        c.execute("INSERT INTO srs_log VALUES (?,?,?,?,?)", (question_id, session_id, idx, rating, _iso(now)))
        return r

    def review(self, question_id: str, grade: Grade, *, cold: bool = True, hinted: bool = False,
               model_answer_shown: bool = False, now: datetime | None = None) -> Review:
        """Review a question outside a turn (turns review themselves in ``add_turn``)."""
        from agent import srs

        rating = srs.grade_rating_value(grade, cold=cold, hinted=hinted, model_answer_shown=model_answer_shown)
        with self._tx() as c:
            return self._review(c, question_id, rating, now or _now(), None, None)

    def srs_card(self, question_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT card FROM srs WHERE question_id = ?", (question_id,))
        return json.loads(rows[0][0]) if rows else None

    def due(self, now: datetime | None = None, limit: int | None = None) -> list[DueItem]:
        """Questions whose review is due at ``now`` (most overdue first)."""
        sql = "SELECT question_id, due, rating, reps FROM srs WHERE due <= ? ORDER BY due, question_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [DueItem(q, _dt(d), r, n) for q, d, r, n in self._query(sql, (_iso(now or _now()),))]

    def scheduled(self) -> list[DueItem]:
        """Every reviewed question with its next due date."""
        rows = self._query("SELECT question_id, due, rating, reps FROM srs ORDER BY due, question_id")
        return [DueItem(q, _dt(d), r, n) for q, d, r, n in rows]

    def _rebuild_srs(self, c: sqlite3.Connection, question_ids: set[str]) -> None:
        """Replay the remaining review log of these questions (after a session was forgotten)."""
        _replay_srs(c, question_ids)

    # ---------------------------------------------------------------- progress

    def mastery(self, bank: Bank | None = None) -> Mastery:
        """Mastery per concept (mean credit of the latest attempts) and per section."""
        rows = self._query(
            "SELECT v.question_id, v.concept_id, v.name, v.score, t.section FROM verdicts v "
            "JOIN turns t ON t.session_id = v.session_id AND t.idx = v.idx ORDER BY v.created_at, v.rowid")
        history: dict[tuple[str, str], list[float]] = defaultdict(list)
        meta: dict[tuple[str, str], tuple[str, str]] = {}
        for qid, cid, name, score, section in rows:
            history[(qid, cid)].append(score)
            meta[(qid, cid)] = (name, section)
        concepts = []
        for (qid, cid), scores in history.items():
            name, section = meta[(qid, cid)]
            if bank is not None and qid in bank.questions:
                section = bank.questions[qid].section
            recent = scores[-MASTERY_WINDOW:]
            concepts.append(ConceptMastery(qid, cid, name, section, len(scores), sum(recent) / len(recent)))
        concepts.sort(key=lambda c: (c.section, c.question_id, c.concept_id))
        by_section: dict[str, list[ConceptMastery]] = defaultdict(list)
        for cm in concepts:
            by_section[cm.section].append(cm)
        sections = []
        names = set(by_section) | (set(bank.sections()) if bank is not None else set())
        for sec in sorted(names):
            cms = by_section.get(sec, [])
            total = len(bank.select(section=sec)) if bank is not None else None
            seen = len({c.question_id for c in cms})
            mastery = sum(c.mastery for c in cms) / len(cms) if cms else 0.0
            sections.append(SectionMastery(sec, seen, total, mastery, len(cms)))
        return Mastery(sections=sections, concepts=concepts)

    def cold_loss_questions(self, threshold: float = COLD_PASS) -> list[str]:
        """Loss questions whose latest cold answer scored at least ``threshold``."""
        rows = self._query(
            "SELECT question_id, score FROM turns WHERE seed = ? AND parent_id IS NULL AND cold = 1 "
            "ORDER BY created_at, rowid", (LOSS_SEED,))
        latest: dict[str, float] = {}
        for qid, score in rows:
            latest[qid] = score
        return sorted(q for q, s in latest.items() if s >= threshold)

    def cold_loss_count(self, threshold: float = COLD_PASS) -> int:
        """How many of the loss questions are currently answered cold (the goal is 25 of 40)."""
        return len(self.cold_loss_questions(threshold))

    def goal(self, bank: Bank | None = None) -> Goal:
        """The seed's goal (25 of its 40 loss questions answered cold); ``in_bank`` counts those in the bank."""
        ids = self.cold_loss_questions()
        if bank is not None:
            ids = [q for q in ids if q in bank.questions]
            in_bank = sum(1 for q in bank.questions.values() if q.source.seed == LOSS_SEED)
        else:
            in_bank = None
        return Goal(done=len(ids), question_ids=ids, in_bank=in_bank)

    # ---------------------------------------------------------------- forgetting

    def forget(self, session_id: str | None = None, *, all: bool = False) -> int:
        """Delete one session (or everything with ``all=True``): turns, verdicts, reviews, kept audio.

        Returns the number of sessions deleted. Spaced-repetition state is rebuilt from what remains.
        """
        if (session_id is None) == (not all):
            raise StoreError("say which session to forget, or --all")
        audio_dirs: list[Path] = []
        with self._tx() as c:
            if all:
                n = c.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
                audio = [r[0] for r in c.execute("SELECT audio_path FROM turns WHERE audio_path IS NOT NULL")]
                for table in ("verdicts", "turns", "sessions", "srs_log", "srs"):
                    c.execute(f"DELETE FROM {table}")
            else:
                sid = self.resolve(session_id)  # type: ignore[arg-type]
                audio = [r[0] for r in c.execute("SELECT audio_path FROM turns WHERE session_id = ? "
                                                  "AND audio_path IS NOT NULL", (sid,))]
                touched = {r[0] for r in c.execute("SELECT question_id FROM srs_log WHERE session_id = ?", (sid,))}
                c.execute("DELETE FROM verdicts WHERE session_id = ?", (sid,))
                c.execute("DELETE FROM turns WHERE session_id = ?", (sid,))
                c.execute("DELETE FROM srs_log WHERE session_id = ?", (sid,))
                n = c.execute("DELETE FROM sessions WHERE id = ?", (sid,)).rowcount
                self._rebuild_srs(c, touched)
                audio_dirs.append(self.audio_dir(sid))
        if all:
            audio_dirs.append(self.path.parent / "audio")
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for p in audio:
            Path(p).unlink(missing_ok=True)
        for d in audio_dirs:
            if d.is_dir():
                shutil.rmtree(d, ignore_errors=True)
        return n

    def audio_dir(self, session_id: str) -> Path:
        """Where kept recordings of a session live (only when the keep_audio setting is on)."""
        return self.path.parent / "audio" / session_id

    def integrity(self) -> str:
        return self._query("PRAGMA integrity_check")[0][0]


#: the tables a salvage copies, parents first
SALVAGE_TABLES = ("sessions", "turns", "verdicts", "srs", "srs_log")
SALVAGE_TIMEOUT_S = 60.0


def _salvage(corrupt: Path, dest: sqlite3.Connection) -> tuple[int, int]:
    """Copy what SQLite can still read from ``corrupt`` into ``dest`` (a fresh, migrated database); the
    number of (sessions, turns) recovered. Works on a copy, so the kept file stays as it was found."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="viva-salvage-") as tmp:
        copy = Path(tmp) / "corrupt.sqlite3"
        shutil.copyfile(corrupt, copy)
        wal = corrupt.with_name(corrupt.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        source = _recover_with_cli(copy, Path(tmp) / "recovered.sqlite3") or copy
        src = sqlite3.connect(f"{source.as_uri()}?immutable=1", uri=True)
        try:
            return _copy_rows(src, dest)
        finally:
            src.close()


def _recover_with_cli(copy: Path, out: Path) -> Path | None:
    """``sqlite3 copy .recover | sqlite3 out`` when the sqlite3 program exists: SQLite's own salvage, which
    reads every page it can. None when there is no such program or it failed."""
    import subprocess

    exe = shutil.which("sqlite3")
    if exe is None:
        return None
    try:
        dump = subprocess.run([exe, str(copy), ".recover"], capture_output=True, timeout=SALVAGE_TIMEOUT_S)
        if dump.returncode != 0 or not dump.stdout:
            return None
        load = subprocess.run([exe, str(out)], input=dump.stdout, capture_output=True, timeout=SALVAGE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as e:
        log.info("sqlite3 .recover failed: %s", e)
        return None
    return out if load.returncode == 0 and out.exists() else None


def _readable_rows(src: sqlite3.Connection, table: str, cols: list[str]) -> Iterator[tuple]:
    """Every row of ``table`` SQLite can read, in rowid order; an unreadable page is stepped over by seeking
    past it (further each time the seek lands in damage again)."""
    sel = f"SELECT rowid, {', '.join(cols)} FROM {table} WHERE rowid > ? ORDER BY rowid"
    last, step, failures = -(2**63), 1, 0
    while failures < 64:
        try:
            for row in src.execute(sel, (last,)):
                last, step = row[0], 1
                yield row[1:]
            return
        except sqlite3.DatabaseError:
            failures += 1
            last, step = last + step, step * 4
            if last >= 2**62:
                return


def _has_table(src: sqlite3.Connection, table: str) -> bool:
    try:
        return bool(src.execute(f"PRAGMA table_info({table})").fetchall())
    except sqlite3.DatabaseError:
        return False


def _copy_rows(src: sqlite3.Connection, dest: sqlite3.Connection) -> tuple[int, int]:
    dest.execute("PRAGMA foreign_keys = OFF")
    dest.execute("BEGIN IMMEDIATE")
    try:
        for table in SALVAGE_TABLES:
            dest_cols = [r[1] for r in dest.execute(f"PRAGMA table_info({table})")]
            try:
                src_cols = {r[1] for r in src.execute(f"PRAGMA table_info({table})")}
            except sqlite3.DatabaseError:
                continue
            cols = [c for c in dest_cols if c in src_cols]
            if not cols:
                continue
            ins = f"INSERT OR IGNORE INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for row in _readable_rows(src, table, cols):
                try:
                    dest.execute(ins, row)
                except sqlite3.DatabaseError:  # a damaged row (a NULL where none may be): leave it out
                    continue
        if not _has_table(src, "verdicts"):  # a schema-1 file: the verdict rows come from the grades
            _backfill_verdicts(dest)
        # rows whose parent was lost (a turn without its session, a verdict without its turn) go too
        for table in ("turns", "verdicts"):
            orphans = {r[1] for r in dest.execute(f"PRAGMA foreign_key_check({table})")}
            for rowid in orphans:
                dest.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))
        dest.execute("COMMIT")
    except BaseException:
        dest.execute("ROLLBACK")
        raise
    finally:
        dest.execute("PRAGMA foreign_keys = ON")
    sessions = dest.execute("SELECT count(*) FROM sessions").fetchone()[0]
    turns = dest.execute("SELECT count(*) FROM turns").fetchone()[0]
    return sessions, turns


def _is_corruption(e: sqlite3.DatabaseError) -> bool:
    msg = str(e).lower()
    if any(s in msg for s in ("not a database", "malformed", "integrity check failed", "file is encrypted",
                              "database corrupt")):
        return True
    return not isinstance(e, sqlite3.OperationalError)
