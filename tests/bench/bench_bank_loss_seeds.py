"""Benchmark: how the default grader scores the sample answers of the seed-004 (LM losses) and seed-001
(pretraining tasks, emergence, scaling laws) bank items, against the issue's targets:

* Spearman correlation between the band midpoints and the grades (target >= 0.85);
* every misconception sample <= 2 and every adversarial sample <= 1;
* passes, failures and known misses (xfail), per section and per sample kind;
* wall time of the run, model load included.

    python tests/bench/bench_bank_loss_seeds.py [--whole-bank]

Prints a table and writes tests/bench/results/bank_loss_seeds.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SEEDS = ("004_b452a9f71ccb03d9.txt", "001_3b57cec908a67744.txt")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--whole-bank", action="store_true", help="grade every question, not only seeds 004 and 001")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from agent.bank import load_bank
    from agent.grading import get_scorer
    from agent.grading.metrics import spearman
    from agent.regression import run_suite

    bank = load_bank()
    qids = None if args.whole_bank else [q.id for q in bank.questions.values() if q.source.seed in SEEDS]
    scorer = get_scorer("embedding")
    suite = run_suite(bank, scorer, qids)
    wall = time.perf_counter() - t0

    res = suite.results
    mids = [r.midpoint for r in res]
    grades = [r.grade.score for r in res]
    mis = [r.grade.score for r in suite.by_kind("misconception")]
    adv = [r.grade.score for r in suite.by_kind("adversarial")]
    by_section: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in res:
        sec = bank.questions[r.question_id].section
        by_section[sec][r.status] += 1
        by_kind[r.sample.kind][r.status] += 1

    out = {
        "scope": "whole bank" if args.whole_bank else "seeds 004 + 001",
        "questions": len({r.question_id for r in res}),
        "samples": len(res),
        "passed": sum(r.status == "pass" for r in res),
        "failed": sum(r.status == "FAIL" for r in res),
        "xfail": sum(r.status == "xfail" for r in res),
        "xpass": sum(r.status == "xpass" for r in res),
        "spearman_band_midpoint_vs_grade": round(spearman(mids, grades), 4),
        "max_misconception_grade": max(mis) if mis else None,
        "misconception_samples_over_2": sum(g > 2 for g in mis),
        "max_adversarial_grade": max(adv) if adv else None,
        "adversarial_samples_over_1": sum(g > 1 for g in adv),
        "grading_seconds": round(suite.seconds, 2),
        "wall_seconds_with_model_load": round(wall, 2),
        "by_section": {k: dict(v) for k, v in sorted(by_section.items())},
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "model": suite.model,
        "grader_version": suite.grader_version,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
    }

    rows = [
        ("scope", out["scope"]),
        ("questions / samples", f"{out['questions']} / {out['samples']}"),
        ("pass / FAIL / xfail / xpass", f"{out['passed']} / {out['failed']} / {out['xfail']} / {out['xpass']}"),
        ("Spearman(band midpoint, grade)  [>= 0.85]", f"{out['spearman_band_midpoint_vs_grade']:.3f}"),
        ("max misconception grade  [<= 2]", f"{out['max_misconception_grade']:.2f} "
                                             f"({out['misconception_samples_over_2']} over 2)"),
        ("max adversarial grade  [<= 1]", f"{out['max_adversarial_grade']:.2f} "
                                           f"({out['adversarial_samples_over_1']} over 1)"),
        ("grading time (s)", f"{out['grading_seconds']:.1f}"),
        ("wall time incl. model load (s)", f"{out['wall_seconds_with_model_load']:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print()
    print(f"{'section':<20} {'pass':>5} {'FAIL':>5} {'xfail':>6}")
    for sec, c in out["by_section"].items():
        print(f"{sec:<20} {c.get('pass', 0):>5} {c.get('FAIL', 0):>5} {c.get('xfail', 0):>6}")

    dest = ROOT / "tests" / "bench" / "results" / "bank_loss_seeds.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
