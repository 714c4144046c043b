"""Benchmark: the LLM judge's client-side cost, batch throughput against concurrency, and cache hits.

Runs the real openai client against a local OpenAI-compatible server (tests/judge_server.py, in its own
process so it does not share the interpreter with the client) that answers after a fixed simulated model
latency, so the numbers show viva's own overhead and how well ``judge_many`` overlaps requests, not any
model's speed.

    python tests/bench/bench_judge.py [--answers 64] [--latency 0.2]

Prints a table and writes tests/bench/results/judge.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.bank import load_bank  # noqa: E402
from agent.grading.judge import Judge, JudgeConfig  # noqa: E402

REPLY = json.dumps({
    "concepts": [{"concept_id": "next-token-cross-entropy", "verdict": "covered",
                  "quote": "cross-entropy of the next token", "reason": "stated"}],
    "misconceptions": [], "grade": 3, "feedback": "Good start.", "follow_up": "Why cross-entropy?",
})
ANSWER = ("It's the cross-entropy of the next token at every position. The labels are the inputs shifted by "
          "one, and we average the negative log probability over all positions. Variant {i}.")


@contextmanager
def server(latency: float):
    """A judge server in a child process; yields its base URL and a request counter reader."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.judge_server", "--latency", str(latency), "--content", REPLY],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2, help="simulated model latency per request (s)")
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 16, 64])
    args = ap.parse_args()

    bank = load_bank()
    q, r = bank.question("clm-loss"), bank.rubrics["clm-loss"]
    items = [(q, r, ANSWER.format(i=i)) for i in range(args.answers)]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        # 1. per-request overhead: zero-latency server, sync client, no cache
        with server(0.0) as url:
            judge = Judge(JudgeConfig(model="bench", base_url=url, api_key="k", use_cache=False,
                                      cache_dir=Path(tmp) / "c0"))
            judge.judge(q, r, ANSWER.format(i=-1))  # warm the client
            times = []
            for i in range(min(args.answers, 50)):
                t0 = time.perf_counter()
                res = judge.judge(q, r, ANSWER.format(i=i))
                times.append(time.perf_counter() - t0)
                assert res.ok, res.failure
            rows.append({"case": "one request, zero server latency (sync)", "answers": len(times),
                         "concurrency": 1, "wall_s": round(sum(times), 3),
                         "per_answer_ms": round(1000 * statistics.median(times), 2)})

        # 2. batch throughput against concurrency, with simulated model latency
        for c in args.concurrency:
            with server(args.latency) as url:
                judge = Judge(JudgeConfig(model="bench", base_url=url, api_key="k", use_cache=False,
                                          cache_dir=Path(tmp) / "c1", concurrency=c))
                t0 = time.perf_counter()
                results = asyncio.run(judge.judge_many(items, c))
                wall = time.perf_counter() - t0
                assert all(x.ok for x in results), [x.failure for x in results if not x.ok][:3]
                rows.append({"case": f"judge_many, {args.latency:g} s model latency", "answers": len(items),
                             "concurrency": c, "wall_s": round(wall, 3),
                             "per_answer_ms": round(1000 * wall / len(items), 2),
                             "answers_per_s": round(len(items) / wall, 1),
                             "ideal_wall_s": round(args.latency * -(-len(items) // c), 3)})

        # 3. cache: fill, then re-grade from disk (no requests)
        with server(args.latency) as url:
            judge = Judge(JudgeConfig(model="bench", base_url=url, api_key="k", cache_dir=Path(tmp) / "c2"))
            asyncio.run(judge.judge_many(items, 16))
            t0 = time.perf_counter()
            again = asyncio.run(judge.judge_many(items, 16))
            wall = time.perf_counter() - t0
            assert all(x.cached and not x.calls for x in again)
            rows.append({"case": "re-grade from the disk cache", "answers": len(items), "concurrency": 16,
                         "wall_s": round(wall, 3), "per_answer_ms": round(1000 * wall / len(items), 2),
                         "requests": 0})

    print(f"{'case':45} {'answers':>7} {'conc':>5} {'wall s':>8} {'ideal s':>8} {'ms/answer':>10} {'ans/s':>7}")
    for row in rows:
        print(f"{row['case']:45} {row['answers']:>7} {row['concurrency']:>5} {row['wall_s']:>8.3f} "
              f"{row.get('ideal_wall_s', ''):>8} {row['per_answer_ms']:>10.2f} {row.get('answers_per_s', ''):>7}")
    out = ROOT / "tests" / "bench" / "results" / "judge.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "judge", "python": platform.python_version(),
                               "cpus": os.cpu_count(), "latency_s": args.latency, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
