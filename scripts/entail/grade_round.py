"""Grade a round of graded answers that the shipped models were not fitted on: how do the graders grade writers
they have never seen?

    python scripts/entail/grade_round.py data/graded_answers/unfitted/answers_round9.jsonl [--graders stacked,embedding]

Each answer is graded against its bank question's rubric by each grader (the stacked grader reads its shipped
graded-answer anchors, never the round's own answers). Printed per grader, and for answer length alone: Spearman
with the writers' grade, mean absolute error, mean bias (grader - writer) per kind, the share of the answers that
state an error graded <= 2 and of the gaming answers graded <= 1; over all the round's answers and over its test
topics alone. ``--json FILE`` writes the figures. Nothing is fitted here: a round is graded this way once, before
it joins the fit (data/graded_answers/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from fit_stacker import load, report, shipped_grades  # noqa: E402


def figures(rows: list[dict], pred: list[float]) -> dict:
    """fit_stacker's figures of a fit's test topics, and the mean absolute bias over the kinds."""
    f = report(rows, pred)
    return {**f, "mean_abs_bias_per_kind": round(sum(map(abs, f["bias_by_kind"].values())) / len(f["bias_by_kind"]), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path, help="a JSONL file of graded answers (id, kind, answer, grade)")
    ap.add_argument("--graders", default="stacked,embedding", help="comma-separated registry names")
    ap.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = ap.parse_args(argv)
    if not args.file.is_file():
        raise SystemExit(f"{args.file}: no such file")
    rows = load([args.file])
    if not rows:
        raise SystemExit(f"{args.file}: no graded answers in it")
    preds: dict[str, list[float]] = {}
    cache: dict[str, dict[str, object]] = {}  # a grader the stacked one ran as its part is not run again
    for name in [g.strip() for g in args.graders.split(",") if g.strip()]:
        t0 = time.perf_counter()
        preds[name] = shipped_grades(rows, name, cache)
        print(f"  graded {len(rows)} answers with {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    preds["answer length"] = [float(len(r["answer"].split())) for r in rows]
    test = [i for i, r in enumerate(rows) if r["split"] == "test"]
    out = {"file": args.file.name, "all": {}, "test_topics": {}}
    for name, p in preds.items():
        out["all"][name] = figures(rows, p)
        if test:  # a round may hold no answer of the test topics
            out["test_topics"][name] = figures([rows[i] for i in test], [p[i] for i in test])
    for part in [p for p in ("all", "test_topics") if out[p]]:
        n = out[part][next(iter(preds))]["answers"]
        print(f"\n{args.file.name}, {part.replace('_', ' ')} ({n} answers)")
        print(f"{'grader':16} {'Spearman':>8} {'MAE':>6} {'|bias|':>6} {'err<=2':>7} {'game<=1':>7}")
        for name, f in out[part].items():
            if name == "answer length":
                print(f"{name:16} {f['spearman']:8.3f}")
                continue
            print(f"{name:16} {f['spearman']:8.3f} {f['mae']:6.2f} {f['mean_abs_bias_per_kind']:6.2f} "
                  f"{f['misconception_le_2'] or 0:7.0%} {f['gaming_le_1'] or 0:7.0%}")
    graders = [g for g in preds if g != "answer length"]
    print("\nmean bias per kind (grader - writer), all answers")
    print(f"{'kind':24}" + "".join(f"{g:>12}" for g in graders))
    for kind in out["all"][graders[0]]["bias_by_kind"]:
        print(f"{kind:24}" + "".join(f"{out['all'][g]['bias_by_kind'][kind]:12.2f}" for g in graders))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
