"""The history store: round trips, migrations, corruption, concurrent processes, forgetting, spaced repetition."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import srs
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit, Turn
from agent.store import LOSS_SEED, MIGRATIONS, SCHEMA_VERSION, Store, StoreError

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def grade(qid: str, score: float, verdicts: dict[str, str] | None = None, mis: bool = False, flags=()) -> Grade:
    verdicts = verdicts if verdicts is not None else {"c1": "covered", "c2": "missing"}
    vs = [ConceptVerdict(concept_id=c, name=f"concept {c}", weight=1.0, verdict=v, similarity=0.6,
                         evidence=Evidence(start=0, end=4, text="some") if v != "missing" else None)
          for c, v in verdicts.items()]
    hits = [MisconceptionHit(misconception_id="m1", claim="a wrong claim", correction="the fix", similarity=0.7)] \
        if mis else []
    return Grade(question_id=qid, score=score, display=round(score * 2) / 2, verdicts=vs, misconceptions=hits,
                 flags=list(flags), grader_version="test", model="hand-built")


def turn(sid: str, idx: int, qid: str = "q1", score: float = 4.0, *, seed: str | None = "s.txt", cold: bool = True,
         at: datetime = T0, answer: str = "some answer", parent: str | None = None, **kw) -> Turn:
    return Turn(session_id=sid, index=idx, question_id=qid, parent_id=parent, prompt=f"prompt of {qid}",
                section=kw.pop("section", "A"), topic="t", seed=seed, answer=answer, grade=grade(qid, score),
                cold=cold, hinted=kw.pop("hinted", False), created_at=at + timedelta(minutes=idx), **kw)


def test_default_path_is_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.config import reset_settings

    monkeypatch.setenv("VIVA_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    with Store() as s:
        assert s.path == tmp_path / "data" / "history.sqlite3"
        assert s.path.exists()
        assert s._query("PRAGMA journal_mode")[0][0] == "wal"
        assert s.schema_version == SCHEMA_VERSION


def test_round_trip_of_sessions_and_turns(store: Store) -> None:
    info = store.create_session("mock", {"seed": 3, "n_questions": 2}, now=T0)
    t = turn(info.id, 0, insights={"wpm": 140.0}, words=[{"word": "hi", "start": 0.0, "end": 0.2}],
             judge={"grade": 4.0}, choice={"kind": "probe", "reason": "you did not mention x"}, source="voice",
             transcript="some answer")
    review = store.add_turn(t)
    assert review is not None and review.question_id == "q1"
    assert store.turns(info.id) == [t]
    (s,) = store.sessions()
    assert (s.id, s.mode, s.n_turns, s.mean_grade, s.finished) == (info.id, "mock", 1, 4.0, False)
    assert s.config == {"seed": 3, "n_questions": 2}
    store.finish_session(info.id, now=T0 + timedelta(hours=1))
    assert store.session(info.id).finished_at == T0 + timedelta(hours=1)
    assert store.latest_unfinished() is None
    with pytest.raises(StoreError, match="already saved"):  # a turn index is written once
        store.add_turn(t)
    assert len(store.turns(info.id)) == 1


def test_session_ids_resolve_by_prefix_and_last(store: Store) -> None:
    a = store.create_session("mock", session_id="abc111", now=T0)
    store.create_session("drill", session_id="abd222", now=T0 + timedelta(minutes=1))
    assert store.resolve("abc") == a.id
    assert store.resolve("last") == "abd222"
    with pytest.raises(StoreError, match="ambiguous"):
        store.resolve("ab")
    with pytest.raises(StoreError, match="viva history"):
        store.resolve("zzz")


def test_migration_from_schema_1_backfills_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    c = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](c)
    c.execute("PRAGMA user_version = 1")
    g = grade("q1", 3.0, {"c1": "covered", "c2": "partial"})
    c.execute("INSERT INTO sessions(id, mode, started_at) VALUES ('s1', 'mock', ?)", (T0.isoformat(),))
    c.execute("INSERT INTO turns(session_id, idx, question_id, section, answer, score, grade, cold, hinted, "
              "model_answer_shown, created_at) VALUES ('s1', 0, 'q1', 'A', 'x', 3.0, ?, 1, 0, 0, ?)",
              (g.model_dump_json(), T0.isoformat()))
    c.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION == 3
        m = s.mastery()
        assert m.concept("q1", "c1").mastery == 1.0 and m.concept("q1", "c2").mastery == 0.5
        assert m.section("A").mastery == 0.75
        assert s.turns("s1")[0].grade == g


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with Store(path):
        pass
    c = sqlite3.connect(path)
    c.execute("PRAGMA user_version = 99")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="newer than this viva understands"):
        Store(path)


def test_garbage_file_is_moved_aside_and_a_fresh_one_started(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    junk = b"this is not a database, it is a shopping list\n" * 200
    path.write_bytes(junk)
    with Store(path) as s:
        assert s.recovered is not None and s.recovered.exists()
        assert s.recovered.name.startswith("history.sqlite3.corrupt-")
        assert s.recovered.read_bytes() == junk  # kept, untouched
        assert s.sessions() == []
        sid = s.create_session("mock").id
        s.add_turn(turn(sid, 0))
    with Store(path) as s:
        assert s.recovered is None and len(s.turns(sid)) == 1


def test_damaged_pages_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with Store(path) as s:
        sid = s.create_session("mock").id
        for i in range(40):
            s.add_turn(turn(sid, i, answer="lorem ipsum " * 200))
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(path.read_bytes())
    assert len(raw) > 8 * 4096
    for page in (2, 3, 5, 8):  # scribble over interior pages (b-tree headers included)
        raw[page * 4096: page * 4096 + 200] = b"\xa5" * 200
    path.write_bytes(bytes(raw))
    with Store(path) as s:
        assert s.recovered is not None
        assert s.integrity() == "ok"
        assert len(s.turns()) == s.recovered_turns and len(s.sessions()) == s.recovered_sessions


def _history_with_a_damaged_turns_page(path: Path) -> tuple[bytes, int]:
    """10 sessions of 8 long answers, then one leaf page of the turns table overwritten: (the file, turns)."""
    with Store(path) as s:
        for k in range(10):
            sid = s.create_session("mock", session_id=f"s{k}").id
            for i in range(8):
                s.add_turn(turn(sid, i, answer=f"answer {k}.{i} " + "lorem ipsum " * 60))
    c = sqlite3.connect(path)
    size = c.execute("PRAGMA page_size").fetchone()[0]
    leaves = [n for (n,) in c.execute("SELECT pageno FROM dbstat WHERE name = 'turns' AND pagetype = 'leaf'")]
    c.close()
    raw = bytearray(path.read_bytes())
    page = leaves[len(leaves) // 2]
    raw[(page - 1) * size: page * size] = b"\xa5" * size
    path.write_bytes(bytes(raw))
    return bytes(raw), 80


@pytest.mark.parametrize("with_cli", [False, True], ids=["row-scan", "sqlite3-recover"])
def test_a_corrupt_database_is_salvaged_into_the_fresh_one(tmp_path: Path, monkeypatch, with_cli: bool) -> None:
    import agent.store as store_mod

    if with_cli and shutil.which("sqlite3") is None:
        pytest.skip("no sqlite3 program on this machine")
    if not with_cli:
        monkeypatch.setattr(store_mod.shutil, "which", lambda name: None)
    path = tmp_path / "history.sqlite3"
    damaged, total = _history_with_a_damaged_turns_page(path)
    with Store(path) as s:
        assert s.recovered is not None and s.recovered.read_bytes() == damaged  # kept aside, untouched
        assert s.integrity() == "ok"
        got = s.turns()
        assert 0 < len(got) < total and len(got) == s.recovered_turns
        assert s.recovered_sessions == len(s.sessions()) == 10
        assert all(t.answer.startswith(f"answer {t.session_id[1:]}.{t.index} ") for t in got)
        assert f"recovered {len(got)} answer(s) of 10 session(s)" in s.recovery_message()
        # mastery and review state come back with the answers
        assert s.mastery().section("A") is not None
        sid = s.create_session("mock").id  # and the fresh database takes new answers
        s.add_turn(turn(sid, 0))
    with Store(path) as s:
        assert s.recovered is None and s.recovery_message() is None and len(s.turns()) == len(got) + 1


def test_nothing_readable_is_said_too(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"not a database" * 500)
    with Store(path) as s:
        assert s.recovered_turns == 0 and "nothing in it could be recovered" in s.recovery_message()


def test_unwritable_folder_says_what_to_do(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="VIVA_DATA_DIR"):
        Store(blocker / "sub" / "history.sqlite3")


WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    sys.path.insert(0, {tests!r})
    from test_store import turn
    from agent.store import Store
    s = Store(sys.argv[1])
    sid = s.create_session("mock", session_id=sys.argv[2]).id
    for i in range(int(sys.argv[3])):
        s.add_turn(turn(sid, i, qid=f"q{{i % 7}}", at=datetime.now(timezone.utc)))
        s.sessions(); s.due(); s.mastery()
    print("done", flush=True)
""")


@pytest.mark.slow
def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent)))
    n = 60
    procs = [subprocess.Popen([sys.executable, str(script), str(path), f"proc{k}", str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == "done"
    with Store(path) as s:
        assert s.integrity() == "ok"
        assert sorted(x.id for x in s.sessions()) == ["proc0", "proc1"]
        assert [len(s.turns(f"proc{k}")) for k in range(2)] == [n, n]
        # both processes reviewed the same seven questions: every review is in the log
        assert s._query("SELECT COUNT(*) FROM srs_log")[0][0] == 2 * n
        assert sum(d.reps for d in s.scheduled()) == 2 * n


def test_threads_share_one_store(store: Store) -> None:
    sids = [store.create_session("mock").id for _ in range(4)]
    errors: list[BaseException] = []

    def work(sid: str) -> None:
        try:
            for i in range(15):
                store.add_turn(turn(sid, i, qid=f"q{i % 3}"))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(sid,)) for sid in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [len(store.turns(s)) for s in sids] == [15] * 4


def test_forget_one_session_rebuilds_review_state(store: Store, tmp_path: Path) -> None:
    a = store.create_session("mock", session_id="aaa", now=T0).id
    b = store.create_session("mock", session_id="bbb", now=T0 + timedelta(days=1)).id
    store.add_turn(turn(a, 0, "q1", 1.0, at=T0))
    store.add_turn(turn(b, 0, "q1", 5.0, at=T0 + timedelta(days=1)))
    store.add_turn(turn(b, 1, "q2", 5.0, at=T0 + timedelta(days=1)))
    audio = store.audio_dir(a)
    audio.mkdir(parents=True)
    (audio / "000.wav").write_bytes(b"RIFF")
    # the card of q1 after both reviews, and after only the second one (as if the first never happened)
    only_second = srs.review("q1", None, srs.EASY, now=T0 + timedelta(days=1, minutes=0))
    assert store.forget("aaa") == 1
    assert not audio.exists()
    assert [s.id for s in store.sessions()] == ["bbb"]
    assert store.srs_card("q1")["stability"] == pytest.approx(only_second.card["stability"])
    assert store._query("SELECT COUNT(*) FROM srs_log WHERE session_id = 'aaa'")[0][0] == 0
    assert store._query("SELECT COUNT(*) FROM verdicts WHERE session_id = 'aaa'")[0][0] == 0
    assert store.forget(all=True) == 1
    assert store.sessions() == [] and store.scheduled() == [] and store.turns() == []
    with pytest.raises(StoreError):
        store.forget()


def test_forgotten_answers_leave_no_trace_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    marker = "ZQXJ-private-answer-7731"
    with Store(path) as s:
        sid = s.create_session("mock").id
        s.add_turn(turn(sid, 0, answer=f"my answer {marker} " * 20))
        s.add_turn(turn(sid, 1, answer="another answer"))
        s.forget(sid)
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("history.sqlite3"))
    assert marker.encode() not in blob


def test_due_and_review_order(store: Store) -> None:
    sid = store.create_session("drill", now=T0).id
    store.add_turn(turn(sid, 0, "easy-one", 5.0, at=T0))
    store.add_turn(turn(sid, 1, "failed-one", 0.5, at=T0))
    store.add_turn(turn(sid, 2, "follow", 0.5, at=T0, parent="easy-one"))  # inline follow-ups are not scheduled
    assert {d.question_id for d in store.scheduled()} == {"easy-one", "failed-one"}
    assert store.due(T0) == []
    soon = store.due(T0 + timedelta(hours=1))
    assert [d.question_id for d in soon] == ["failed-one"] and soon[0].rating == srs.AGAIN
    later = store.due(T0 + timedelta(days=60))
    assert [d.question_id for d in later] == ["failed-one", "easy-one"]  # most overdue first


def test_retries_and_non_cold_answers_are_rated_down(store: Store) -> None:
    sid = store.create_session("practice", now=T0).id
    r = store.add_turn(turn(sid, 0, "q1", 5.0, hinted=True, cold=False))
    assert r.rating == srs.HARD
    assert store.add_turn(turn(sid, 1, "q1", 5.0, cold=False, attempt=2)) is None  # only first attempts review


def test_mastery_and_cold_goal(store: Store) -> None:
    sid = store.create_session("mock", now=T0).id
    # q1: cold and good -> counts; q2: good but not cold -> no; q3: cold good, later cold bad -> no (latest)
    store.add_turn(turn(sid, 0, "q1", 4.0, seed=LOSS_SEED))
    store.add_turn(turn(sid, 1, "q2", 4.5, seed=LOSS_SEED, cold=False, hinted=True))
    store.add_turn(turn(sid, 2, "q3", 4.0, seed=LOSS_SEED))
    store.add_turn(turn(sid, 3, "q3", 1.0, seed=LOSS_SEED))
    store.add_turn(turn(sid, 4, "q4", 5.0, seed="other.txt"))
    store.add_turn(turn(sid, 5, "q1-probe-c2", 2.0, seed=LOSS_SEED, parent="q1", section="B"))
    assert store.cold_loss_questions() == ["q1"]
    assert store.cold_loss_count() == 1
    goal = store.goal()
    assert (goal.done, goal.target, goal.total) == (1, 25, 40) and not goal.reached
    assert str(goal) == "1/25 loss questions answered cold (of 40)"
    m = store.mastery()
    # verdicts of the inline follow-up count for its parent question's concepts
    assert m.concept("q1", "c1").attempts == 2
    assert m.concept("q3", "c2").mastery == 0.0
    assert {s.section for s in m.sections} >= {"A"}


# --------------------------------------------------------------------------- grade -> rating properties

scores = st.floats(min_value=0, max_value=5, allow_nan=False)


@given(a=scores, b=scores, cold=st.booleans(), hinted=st.booleans(), shown=st.booleans(), mis=st.booleans())
def test_rating_is_monotone_in_score(a: float, b: float, cold: bool, hinted: bool, shown: bool, mis: bool) -> None:
    lo, hi = sorted((a, b))
    kw = dict(cold=cold, hinted=hinted, model_answer_shown=shown, misconception=mis)
    assert srs.rating_value(lo, **kw) <= srs.rating_value(hi, **kw)
    assert srs.rating_value(lo, **kw) in (1, 2, 3, 4)


@given(s=scores, hinted=st.booleans(), flags=st.lists(st.sampled_from(["empty", "dont_know", "buzzwords"])))
def test_rating_rules(s: float, hinted: bool, flags: list[str]) -> None:
    assert srs.rating_value(s, model_answer_shown=True) == srs.AGAIN
    assert srs.rating_value(s, cold=False) <= srs.HARD
    assert srs.rating_value(s, misconception=True) <= srs.HARD
    if hinted:
        assert srs.rating_value(s, hinted=True) <= srs.HARD
    if {"empty", "dont_know"} & set(flags):
        assert srs.rating_value(s, flags=flags) == srs.AGAIN
    cold_value = srs.rating_value(s)
    expected = 1 if s < 2 else 2 if s < 3.5 else 3 if s < 4.5 else 4
    assert cold_value == expected


def test_grade_rating_uses_misconceptions_and_flags() -> None:
    assert srs.grade_rating_value(grade("q", 4.8)) == srs.EASY
    assert srs.grade_rating_value(grade("q", 4.8, mis=True)) == srs.HARD
    assert srs.grade_rating_value(grade("q", 4.8, flags=["dont_know"])) == srs.AGAIN


# --------------------------------------------------------------------------- scheduler properties

ratings = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(seq=ratings, gaps=st.lists(st.floats(min_value=0, max_value=90), min_size=12, max_size=12))
def test_scheduler_due_is_after_the_review_and_deterministic(seq: list[int], gaps: list[float]) -> None:
    card, now = None, T0
    for rating, gap in zip(seq, gaps, strict=False):
        now = now + timedelta(days=gap)
        r1 = srs.review("q", card, rating, now=now, card_id=7)
        r2 = srs.review("q", card, rating, now=now, card_id=7)
        assert r1.card == r2.card  # no fuzz: the same history gives the same schedule
        assert r1.due > now
        card = r1.card


@settings(max_examples=60, deadline=None)
@given(seq=ratings)
def test_better_ratings_never_come_back_sooner(seq: list[int]) -> None:
    card, now = None, T0
    for rating in seq:
        card = srs.review("q", card, rating, now=now, card_id=7).card
        now = datetime.fromisoformat(card["due"])
    intervals = [srs.review("q", card, r, now=now, card_id=7).interval_s for r in (1, 2, 3, 4)]
    assert intervals == sorted(intervals)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=3, max_value=10))
def test_good_reviews_on_time_grow_the_interval(n: int) -> None:
    card, now, intervals = None, T0, []
    for _ in range(n):
        r = srs.review("q", card, srs.GOOD, now=now, card_id=7)
        intervals.append(r.interval_s)
        card, now = r.card, r.due
    review_intervals = intervals[2:]  # after the learning steps
    assert review_intervals == sorted(review_intervals)
    assert review_intervals[-1] > review_intervals[0] or len(review_intervals) == 1


def test_card_state_survives_the_database(store: Store) -> None:
    sid = store.create_session("mock", now=T0).id
    store.add_turn(turn(sid, 0, "q1", 4.0, at=T0))
    card = store.srs_card("q1")
    assert json.loads(json.dumps(card)) == card
    assert 0 < srs.retrievability(card, T0 + timedelta(days=3)) <= 1


def test_cli_says_it_once_with_what_was_recovered(tmp_path: Path) -> None:
    import os

    data = tmp_path / "data"
    data.mkdir()
    _history_with_a_damaged_turns_page(data / "history.sqlite3")
    env = dict(os.environ, VIVA_DATA_DIR=str(data))
    r = subprocess.run([sys.executable, "-m", "agent.cli", "history"], capture_output=True, text=True, env=env,
                       cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("could not be read") == 1, r.stderr
    assert "recovered" in r.stderr and "session(s)" in r.stderr
    assert "Traceback" not in r.stderr


async def test_app_says_it_once_with_what_was_recovered(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_tui import make_app, wait_for

    from agent.bank import load_bank

    db = tmp_path / "history.sqlite3"
    _history_with_a_damaged_turns_page(db)
    bank = load_bank([Path(__file__).parent / "data" / "tui_bank"], packaged=False)
    app, svc = make_app(bank, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: any("could not be read" in n.message for n in app._notifications))
        await pilot.pause(0.1)
        said = [n.message for n in app._notifications if "could not be read" in n.message]
        assert len(said) == 1 and f"recovered {svc.store().recovered_turns} answer(s)" in said[0]


def test_opening_waits_for_another_process_that_is_writing(tmp_path: Path) -> None:
    # a new database still in rollback-journal mode, its write lock held by another connection: switching it to
    # WAL fails at once in SQLite (no busy handler), so the store must wait the writer out, not give up
    import sqlite3
    import threading

    path = tmp_path / "history.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE x(a)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO x VALUES (1)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with Store(path) as s:
            assert s.integrity() == "ok"
            assert s.schema_version > 0
    finally:
        release.join()
        other.close()
