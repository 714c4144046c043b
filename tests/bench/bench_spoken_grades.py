"""Spoken answers graded as typed ones: prints a table and writes tests/bench/results/spoken_grades.json.

    python tests/bench/bench_spoken_grades.py [--answers 140] [--split test] [--grader stacked] [--reuse]

The project's graded interview answers (data/graded_answers) on the held-out topics of ``--split``, the first
``--answers`` of them in a fixed shuffle (8 words or more; adversarial, gaming and keyword answers left out, as
speech adds nothing to them), are each spoken by the bundled Piper voice or by espeak-ng (chosen by a hash of the
answer) and transcribed the way the app transcribes an answer: the bundled Whisper on the CPU, the question's
rubric hotwords and the repair pass. Both the typed answer and the transcript are graded with ``--grader``
(the stacked grader reads its graded-answer anchors without the answer's own round, as in
bench_grader_validity.py). A grade is of what was meant, so the transcript should earn what the typed answer
earns. Reported: the share of words that came back, answers that came back with under half of their words,
the mean grade typed / heard / human, and Spearman with the human grade, typed and heard, overall and per voice.
Takes about 3-4 s an answer on a 2-core CPU (speech) plus the grading. ``--reuse`` grades the transcripts of the
last run again (the same answers; Piper speaks a little differently every time), to compare graders on the same
transcripts in a minute or two.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts" / "entail"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fit_stacker import load, shipped_grades  # noqa: E402
from speak_graded_answers import speak_and_hear, voice_of  # noqa: E402 - as the fit data is spoken

LEFT_OUT_KINDS = {"adversarial", "gaming", "keyword_string", "hollow"}


def pick(split: str, n: int) -> list[dict]:
    rows = [r for r in load() if r["split"] == split and r.get("rubric", "bank") == "bank"
            and len(r["answer"].split()) >= 8 and r.get("kind") not in LEFT_OUT_KINDS]
    random.Random(7).shuffle(rows)
    return rows[:n]


def hear(rows: list[dict]) -> list[str]:
    """Each answer spoken in its voice and transcribed as the app does (hotwords, repair)."""
    out, t0 = [], time.perf_counter()
    for i, (_voice, heard) in enumerate(speak_and_hear(rows), 1):
        out.append(heard)
        if i % 20 == 0:
            print(f"  spoken and transcribed {i}/{len(rows)} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def summary(rows: list[dict], heard: list[str], typed_g: list[float], heard_g: list[float]) -> dict:
    import numpy as np
    from scipy.stats import spearmanr

    human = np.array([r["grade"] for r in rows], float)
    t, h = np.array(typed_g), np.array(heard_g)
    kept = np.array([len(x.split()) / len(r["answer"].split()) for r, x in zip(rows, heard, strict=True)])
    return {"answers": len(rows), "words_back": round(float(kept.mean()), 3),
            "under_half_back": int((kept < 0.5).sum()),
            "mean_typed": round(float(t.mean()), 3), "mean_heard": round(float(h.mean()), 3),
            "mean_human": round(float(human.mean()), 3), "drop": round(float((h - t).mean()), 3),
            "spearman_typed": round(float(spearmanr(t, human)[0]), 3),
            "spearman_heard": round(float(spearmanr(h, human)[0]), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--answers", type=int, default=140)
    ap.add_argument("--split", default="test", choices=("train", "dev", "test"))
    ap.add_argument("--grader", default="stacked")
    ap.add_argument("--reuse", action="store_true", help="grade the last run's transcripts again")
    args = ap.parse_args(argv)

    rows = pick(args.split, args.answers)
    out = HERE / "results" / "spoken_grades.json"
    if args.reuse:
        last = json.loads(out.read_text("utf-8")) if out.is_file() else {}
        saved = last.get("transcripts", [])
        if last.get("split") != args.split or [t["id"] for t in saved] != [r["id"] for r in rows]:
            raise SystemExit(f"{out.relative_to(REPO)} does not hold this run's answers: run once without --reuse")
        heard = [t["heard"] for t in saved]
    else:
        heard = hear(rows)
    typed_g = shipped_grades(rows, args.grader)
    heard_g = shipped_grades([{**r, "answer": x} for r, x in zip(rows, heard, strict=True)], args.grader)
    res = {"grader": args.grader, "split": args.split, "all": summary(rows, heard, typed_g, heard_g)}
    for v in ("piper", "espeak"):
        idx = [i for i, r in enumerate(rows) if voice_of(r["answer"]) == v]
        res[v] = summary([rows[i] for i in idx], [heard[i] for i in idx], [typed_g[i] for i in idx],
                         [heard_g[i] for i in idx])

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.grader}: {args.split}-topic graded answers, typed and spoken")
    for col in ("voice", "answers", "words back", "under half back", "mean typed / heard / human", "drop",
                "Spearman typed / heard"):
        table.add_column(col)
    for k in ("all", "piper", "espeak"):
        s = res[k]
        table.add_row(k, str(s["answers"]), str(s["words_back"]), str(s["under_half_back"]),
                      f"{s['mean_typed']} / {s['mean_heard']} / {s['mean_human']}", str(s["drop"]),
                      f"{s['spearman_typed']} / {s['spearman_heard']}")
    Console().print(table)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**res, "transcripts": [{"id": r["id"], "kind": r.get("kind"), "heard": x}
                                                       for r, x in zip(rows, heard, strict=True)]}, indent=1))
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
