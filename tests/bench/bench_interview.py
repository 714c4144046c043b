"""Benchmark: the interview core's own costs, apart from grading.

* committing a graded turn (turn + verdicts + spaced-repetition review, one WAL transaction): p50 / p95;
* the same while a second process writes to the same database;
* ranking the next follow-ups (policy) on the packaged bank;
* resuming a 40-turn session from the database;
* rendering a 40-turn session's Markdown + HTML report;
* opening the history (schema check + quick_check) with 1,000 turns in it.

Grades are built by hand (the grader has its own benchmark), so the numbers are viva's bookkeeping only.

    python tests/bench/bench_interview.py [--turns 200]

Prints a table and writes tests/bench/results/interview.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.answer import Answer  # noqa: E402
from agent.bank import load_bank  # noqa: E402
from agent.grading.base import Scorer  # noqa: E402
from agent.interview import Interview, SessionConfig  # noqa: E402
from agent.models import ConceptVerdict, Evidence, Grade, Turn  # noqa: E402
from agent.store import Store  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def grade(qid: str, n_concepts: int = 3, score: float = 3.0) -> Grade:
    vs = [ConceptVerdict(concept_id=f"c{i}", name=f"concept {i}", weight=1.0,
                         verdict=("covered", "partial", "missing")[i % 3], similarity=0.5,
                         evidence=Evidence(start=0, end=10, text="an answer ")) for i in range(n_concepts)]
    return Grade(question_id=qid, score=score, display=score, verdicts=vs, grader_version="bench", model="bench")


def turn(sid: str, i: int) -> Turn:
    return Turn(session_id=sid, index=i, question_id=f"q{i % 40}", prompt="a question", section="A", topic="t",
                seed="s.txt", answer="an answer " * 60, grade=grade(f"q{i % 40}"),
                created_at=T0 + timedelta(seconds=i))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Cycle(Scorer):
    name = "cycle"
    version = "1"

    def __init__(self) -> None:
        self.n = 0

    def score(self, question, rubric, answer):
        self.n += 1
        vs = [ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight,
                             verdict=("covered", "partial", "missing")[(i + self.n) % 3], similarity=0.5)
              for i, c in enumerate(rubric.concepts)]
        return Grade(question_id=question.id, score=float(self.n % 6), display=float(self.n % 6), verdicts=vs,
                     grader_version="bench", model="bench")


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {bench!r})
    from bench_interview import turn
    from agent.store import Store
    s = Store(sys.argv[1])
    sid = s.create_session("mock", session_id="other").id
    end = time.monotonic() + float(sys.argv[2])
    i = 0
    while time.monotonic() < end:
        s.add_turn(turn(sid, i)); i += 1
    print(i)
""")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=200)
    args = ap.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        # commit latency, alone
        with Store(tmp_p / "a.sqlite3") as s:
            sid = s.create_session("mock").id
            lat = []
            for i in range(args.turns):
                t = turn(sid, i)
                t0 = time.perf_counter()
                s.add_turn(t)
                lat.append((time.perf_counter() - t0) * 1000)
            rows["commit a graded turn (ms)"] = {"p50": pct(lat, 50), "p95": pct(lat, 95), "max": max(lat)}
        # commit latency while another process writes
        path = tmp_p / "b.sqlite3"
        Store(path).close()
        script = tmp_p / "writer.py"
        script.write_text(WRITER.format(root=str(ROOT), bench=str(Path(__file__).parent)))
        dur = 6.0
        other = subprocess.Popen([sys.executable, str(script), str(path), str(dur)], stdout=subprocess.PIPE,
                                 text=True)
        time.sleep(1.5)  # let it import and start writing
        with Store(path) as s:
            sid = s.create_session("mock").id
            lat = []
            i = 0
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                t = turn(sid, i)
                t0 = time.perf_counter()
                s.add_turn(t)
                lat.append((time.perf_counter() - t0) * 1000)
                i += 1
        other_n = int(other.communicate(timeout=60)[0].strip() or 0)
        rows["commit with a second writer (ms)"] = {"p50": pct(lat, 50), "p95": pct(lat, 95), "max": max(lat),
                                                    "turns": i, "other_turns": other_n}
        with Store(path) as s:
            assert s.integrity() == "ok"

        # policy on the packaged bank
        bank = load_bank()
        with Store(tmp_p / "c.sqlite3") as s:
            iv = Interview(bank, SessionConfig(n_questions=15, seed=1), s, Cycle())
            iv.start()
            ranks = []
            n = 0
            while iv.current is not None and n < 40:
                iv.answer(Answer.typed("an answer"))
                t0 = time.perf_counter()
                iv.next_choices(3)
                ranks.append((time.perf_counter() - t0) * 1000)
                iv.advance()
                n += 1
            rows["rank follow-ups (ms)"] = {"p50": pct(ranks, 50), "p95": pct(ranks, 95), "max": max(ranks),
                                            "questions": len(bank.questions)}
            if iv.current is None:  # finished early: resume needs an open session
                iv = Interview(bank, SessionConfig(n_questions=15, seed=2), s, Cycle())
                iv.start()
                iv.answer(Answer.typed("an answer"))
                iv.advance()
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                Interview.resume(bank, s, iv.session_id, Cycle())
                times.append((time.perf_counter() - t0) * 1000)
            rows["resume a session (ms)"] = {"p50": pct(times, 50), "max": max(times),
                                             "turns": len(s.turns(iv.session_id))}
        # report rendering
        from agent import report

        with Store(tmp_p / "d.sqlite3") as s:
            sid = s.create_session("mock").id
            for i in range(40):
                t = turn(sid, i).model_copy(update={"insights": {"wpm": 140.0, "duration_s": 30.0,
                                                                  "wpm_over_time": [[0, 15, 130], [15, 30, 150]]}})
                s.add_turn(t)
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                report.write(s, sid, tmp_p / "rep", bank)
                times.append((time.perf_counter() - t0) * 1000)
            size = (tmp_p / "rep" / f"viva-{sid}.html").stat().st_size
            rows["write a 40-turn report (ms)"] = {"p50": pct(times, 50), "max": max(times), "html_kb": size / 1024}
        # opening a 1,000-turn history
        with Store(tmp_p / "e.sqlite3") as s:
            for _ in range(10):
                sid = s.create_session("mock").id
                for i in range(100):
                    s.add_turn(turn(sid, i))
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            with Store(tmp_p / "e.sqlite3") as s:
                s.sessions()
            times.append((time.perf_counter() - t0) * 1000)
        size_mb = (tmp_p / "e.sqlite3").stat().st_size / 1e6
        rows["open a 1,000-turn history (ms)"] = {"p50": pct(times, 50), "max": max(times), "db_mb": size_mb}
        t0 = time.perf_counter()
        with Store(tmp_p / "e.sqlite3") as s:
            s.mastery()
        rows["mastery over 1,000 turns (ms)"] = {"once": (time.perf_counter() - t0) * 1000}

    print(f"{'measure':<36} values")
    for name, vals in rows.items():
        print(f"{name:<36} " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in vals.items()))
    out = Path(__file__).parent / "results" / "interview.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                           "platform": platform.platform()},
                               "turns": args.turns, "results": rows}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
