"""Benchmark: how often each demo's checks pass on fresh random inputs, over many seeds.

CI verifies every demo once on a freshly drawn seed, so a check that fails on 1 seed in 100 reddens about one
CI run in a hundred for nothing. This runs each demo's checks on seeds START, START+1, ... (the same seeds
`viva demo verify NAME --seed N` reproduces) and reports the pass rate and the failing seeds per demo.

    python tests/bench/bench_demo_seeds.py [--seeds 100] [--start 1000] [--minutes M] [NAME ...]

With --minutes, it stops starting new rounds when the time is up (every demo gets the same number of seeds).
Prints a table and writes tests/bench/results/demo_seeds.json. Target: no failing seed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--seeds", type=int, default=100, help="seeds per demo (default 100)")
    ap.add_argument("--start", type=int, default=1000, help="the first seed (default 1000)")
    ap.add_argument("--minutes", type=float, default=0.0, help="stop starting rounds after this many minutes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "tests" / "bench" / "results" / "demo_seeds.json"))
    args = ap.parse_args()

    from agent.demos import demo_names, resolve_device, verify_demo, warm_up

    device = resolve_device(args.device)
    warm_up()
    names = args.names or demo_names()
    t0 = time.perf_counter()
    stats = {n: {"seeds": 0, "failed": [], "seconds": 0.0} for n in names}
    for seed in range(args.start, args.start + args.seeds):
        if args.minutes and time.perf_counter() - t0 > 60 * args.minutes:
            break
        for name in names:
            try:
                checks, _, dt = verify_demo(name, device, seed)
                bad = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
            except Exception as e:  # noqa: BLE001 - a demo that raises is a failed seed, reported
                bad, dt = [f"raised {type(e).__name__}: {e}"], 0.0
            s = stats[name]
            s["seeds"] += 1
            s["seconds"] += dt
            if bad:
                s["failed"].append({"seed": seed, "checks": bad})
                print(f"  {name} seed {seed}: {bad}", file=sys.stderr, flush=True)
    print(f"{'demo':30s} {'seeds':>5s} {'failed':>6s} {'pass rate':>9s} {'s/seed':>7s}  failing seeds")
    for name, s in stats.items():
        n = max(1, s["seeds"])
        print(f"{name:30s} {s['seeds']:5d} {len(s['failed']):6d} {1 - len(s['failed']) / n:9.3f} "
              f"{s['seconds'] / n:7.2f}  {' '.join(str(f['seed']) for f in s['failed'][:10])}")
    failed = sum(len(s["failed"]) for s in stats.values())
    print(f"{failed} failing (demo, seed) pairs over {sum(s['seeds'] for s in stats.values())} in "
          f"{time.perf_counter() - t0:.0f} s on {device}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": device, "machine": platform.machine(), "start": args.start,
                               "demos": stats, "failed": failed}, indent=2) + "\n", "utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
