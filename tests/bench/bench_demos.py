"""Benchmark: wall time of every demo's run() and verify(), per device.

Targets: each demo (run + verify) <= 20 s on a 2-core laptop CPU, all of them together <= 4 minutes.

    python tests/bench/bench_demos.py [--device cpu|cuda|auto] [--threads N] [NAME ...]

Runs in one process, the way `viva demo verify --all` does: torch's one-time start-up cost (import, first
optimizer) is measured separately as "startup". Prints a table and writes
tests/bench/results/demos.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PER_DEMO_TARGET_S = 20.0
TOTAL_TARGET_S = 240.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: the demos' own)")
    ap.add_argument("--out", default=str(ROOT / "tests" / "bench" / "results" / "demos.json"))
    args = ap.parse_args()
    if args.threads:
        os.environ["VIVA_DEMO_THREADS"] = str(args.threads)

    t0 = time.perf_counter()
    import torch

    from agent.demos import demo_names, report, resolve_device, warm_up

    device = resolve_device(args.device)
    warm_up()  # torch's one-time costs, outside the per-demo timings (as in `viva demo`'s child process)
    startup = time.perf_counter() - t0

    names = args.names or demo_names()
    rows = []
    for name in names:
        rep = report(name, device)
        total = (rep.run_s or 0.0) + (rep.verify_s or 0.0)
        rows.append({"name": name, "device": rep.device, "run_s": rep.run_s, "verify_s": rep.verify_s,
                     "total_s": total, "checks": len(rep.checks), "passed": rep.passed,
                     "within_target": total <= PER_DEMO_TARGET_S, "error": rep.error})
        print(f"{name:30s} run {rep.run_s or 0:7.2f} s  verify {rep.verify_s or 0:7.2f} s  "
              f"{len(rep.checks):2d} checks {'ok' if rep.passed else 'FAILED'}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    all_total = sum(r["total_s"] for r in rows)

    print()
    print(f"{'demo':30s} {'device':6s} {'run s':>8s} {'verify s':>9s} {'total s':>8s} {'checks':>6s}  result")
    for r in rows:
        print(f"{r['name']:30s} {r['device']:6s} {r['run_s'] or 0:8.2f} {r['verify_s'] or 0:9.2f} "
              f"{r['total_s']:8.2f} {r['checks']:6d}  {'pass' if r['passed'] else 'FAIL'}"
              f"{'' if r['within_target'] else '  (over 20 s)'}")
    slowest = max(rows, key=lambda r: r["total_s"])
    print(f"\nstartup (import torch, first optimizer): {startup:.2f} s")
    print(f"all demos: {all_total:.1f} s (target {TOTAL_TARGET_S:.0f} s); wall incl. startup {wall:.1f} s; "
          f"slowest {slowest['name']} {slowest['total_s']:.2f} s (target {PER_DEMO_TARGET_S:.0f} s)")
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        load = None
    out = {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu_count": os.cpu_count(), "load_avg_1min_at_end": load, "python": platform.python_version(),
           "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
           "startup_s": startup, "total_s": all_total, "wall_s": wall, "slowest": slowest["name"],
           "targets": {"per_demo_s": PER_DEMO_TARGET_S, "total_s": TOTAL_TARGET_S},
           "all_within_targets": all(r["within_target"] for r in rows) and all_total <= TOTAL_TARGET_S,
           "all_passed": all(r["passed"] for r in rows), "demos": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {Path(args.out).relative_to(ROOT) if Path(args.out).is_relative_to(ROOT) else args.out}")
    return 0 if out["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
