"""Grader validity, old scorer beside new, in one run: prints a table, writes
tests/bench/results/grader_validity.json.

    python tests/bench/bench_grader_validity.py [--interview FILE] [--semeval FILE] [--graders stacked,contrastive,entail,embedding]

For each grader:
- the interview file (human-graded interview answers on bank questions, e.g. interview_dev.jsonl), graded
  with the bank's rubrics and with rubrics derived from each row's reference answer: Spearman against the
  human score, mean bias (predicted - human) per answer kind, the share of misconception answers graded
  <= 2 and of adversarial ("gaming") answers graded <= 1;
- the SemEval-2013 2-way file: ROC-AUC per corpus;
- the project's own corpus, held-out test topics: pair accuracy of the cross-encoder (entail only) and
  Spearman of synthetic answers built from those topics (scripts/entail/fit_combiner.py builds them);
- the project's graded interview answers (data/graded_answers), test topics: Spearman, the share of
  misconception answers <= 2 and of gaming answers <= 1 (the stacked grader is fitted on the train and dev
  topics);
- four reported cases (first-use answers graded wrongly before), and the answer-length baseline.
The shared files are checks: nothing is fitted on them. Paths default to ../shared/eval beside the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts" / "entail"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = REPO.parent / "shared" / "eval"

CASES = [
    ("ssl-definition", "Self-supervised learning creates labels from the data itself, like predicting the next token, "
     "so no human annotation is needed and it scales to huge corpora.", ">= 3.5, no misconception"),
    ("nsp", "NSP: BERT is given two segments; half the time the second one really follows the first, half the time it "
     "is random, and a classifier on the CLS token predicts which.", ">= 4.5"),
    ("nsp", "Next sentence prediction: BERT is given two segments; half the time the second one really follows the "
     "first, half the time it is random, and a classifier on the CLS token predicts which.", ">= 4.5"),
    ("clm-loss", "cross-entropy cross-entropy next token every position shifted maximum likelihood chain rule NLL",
     "<= 1"),
]
ADHOC_CASE = ("What is overfitting?", "The model fits noise in the training data and generalises worse.",
              "It memorises the training set.", ">= 2.5, not off topic")


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]


def _spearman(a, b) -> float:
    from agent.grading import metrics as M

    return round(float(M.spearman(list(a), list(b))), 4)


def interview(grader: str, rows: list[dict], bank_rubrics: bool) -> dict:
    from agent.bank import default_bank
    from agent.commands.eval import grade_items
    from agent.grading.adhoc import adhoc_rubric

    bank = default_bank()
    triples = []
    for r in rows:
        if bank_rubrics and r["question_id"] in bank.questions:
            q = bank.question(r["question_id"])
            triples.append((q, bank.rubric(q.id), r["answer"]))
        else:
            q, rb = adhoc_rubric(r["question"], r["reference_answer"])
            triples.append((q, rb, r["answer"]))
    t0 = time.perf_counter()
    grades = grade_items(triples, progress=False, scorer_name=grader)
    dt = time.perf_counter() - t0
    pred = [g.score for g in grades]
    true = [float(r["score"]) for r in rows]
    bias: dict[str, list[float]] = defaultdict(list)
    for r, p, t in zip(rows, pred, true, strict=True):
        kind = "adversarial" if r["kind"].startswith("adversarial") else r["kind"]
        bias[kind].append(p - t)
    mis = [p for r, p in zip(rows, pred, strict=True) if r["kind"] == "misconception"]
    adv = [p for r, p in zip(rows, pred, strict=True) if r["kind"].startswith("adversarial")]
    return {"n": len(rows), "spearman": _spearman(pred, true),
            "bias": {k: round(sum(v) / len(v), 3) for k, v in sorted(bias.items())},
            "misconception_le_2": round(sum(p <= 2.0 for p in mis) / max(1, len(mis)), 3),
            "gaming_le_1": round(sum(p <= 1.0 for p in adv) / max(1, len(adv)), 3),
            "answers_per_s": round(len(rows) / dt, 1)}


def semeval(grader: str, rows: list[dict]) -> dict:
    from agent.commands.eval import build_rubrics, grade_items, read_items
    from agent.grading import metrics as M

    out = {}
    by_ds: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_ds[r["dataset"]].append(r)
    for ds, rs in sorted(by_ds.items()):
        tmp = REPO / "build" / f"semeval-{ds}.jsonl"
        tmp.parent.mkdir(exist_ok=True)
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rs), "utf-8")
        items, _ = read_items(str(tmp), False, None, None)
        pairs = build_rubrics(items)
        t0 = time.perf_counter()
        grades = grade_items([(q, rb, it.answer) for (q, rb), it in zip(pairs, items, strict=True)],
                             progress=False, scorer_name=grader)
        dt = time.perf_counter() - t0
        out[ds] = {"n": len(items), "roc_auc": round(float(M.roc_auc([g.score for g in grades],
                                                                        [it.label for it in items])), 4),
                   "answers_per_s": round(len(items) / dt, 1)}
    return out


def cases(grader: str) -> list[dict]:
    from agent.bank import default_bank
    from agent.grading import get_scorer
    from agent.grading.adhoc import adhoc_rubric

    bank = default_bank()
    s = get_scorer(grader)
    out = []
    for qid, ans, want in CASES:
        g = s.score(bank.question(qid), bank.rubric(qid), ans)
        out.append({"case": f"{qid}: {ans[:40]}...", "want": want, "grade": g.score, "flags": g.flags})
    q, rb = adhoc_rubric(ADHOC_CASE[0], ADHOC_CASE[1])
    g = s.score(q, rb, ADHOC_CASE[2])
    out.append({"case": f"adhoc overfitting: {ADHOC_CASE[2]}", "want": ADHOC_CASE[3], "grade": g.score, "flags": g.flags})
    return out


def corpus_test(grader: str) -> dict:
    """The held-out test topics of the project's own corpus."""
    import numpy as np

    pairs_path = REPO / "data" / "entail" / "pairs" / "test.jsonl"
    out: dict = {}
    if grader == "entail" and pairs_path.is_file():
        from agent.grading.entail import get_pair_classifier

        rows = _rows(pairs_path)
        labels = ["unrelated", "partly", "states", "contradicts"]
        p = get_pair_classifier().probs([(r["a"], r["b"]) for r in rows])
        out["pair_accuracy"] = round(float((p.argmax(1) == np.array([labels.index(r["label"]) for r in rows])).mean()), 4)
        out["pairs"] = len(rows)
    try:
        from synthetic import figures, grade_all, items_of, synthetic

        from agent.grading import get_scorer

        ans = synthetic("test", 14)
        out.update({f"synthetic_{k}": v for k, v in figures(ans, grade_all(get_scorer(grader), items_of(ans))).items()})
    except FileNotFoundError:
        pass
    return out


def graded_test(grader: str) -> dict:
    """The project's graded interview answers (data/graded_answers), test topics: what the stacked grader
    is reported on (it is fitted on the train and dev topics)."""
    try:
        from fit_stacker import load, report, shipped_grades
    except FileNotFoundError:
        return {}
    rows = [r for r in load() if r["split"] == "test"]
    return report(rows, shipped_grades(rows, grader))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interview", type=Path, default=SHARED / "interview_dev.jsonl")
    ap.add_argument("--semeval", type=Path, default=SHARED / "semeval2013_2way_train.jsonl")
    ap.add_argument("--graders", default="stacked,contrastive,entail,embedding")
    ap.add_argument("--skip-semeval", action="store_true")
    args = ap.parse_args(argv)
    graders = [g.strip() for g in args.graders.split(",") if g.strip()]
    inter = _rows(args.interview) if args.interview.is_file() else []
    sem = _rows(args.semeval) if args.semeval.is_file() and not args.skip_semeval else []
    res: dict = {"graders": {}}
    if inter:
        lengths = [len(r["answer"].split()) for r in inter]
        res["length_baseline_spearman"] = _spearman(lengths, [float(r["score"]) for r in inter])
    for g in graders:
        r: dict = {}
        if inter:
            r["interview_bank"] = interview(g, inter, True)
            r["interview_reference"] = interview(g, inter, False)
        if sem:
            r["semeval"] = semeval(g, sem)
        r["corpus_test"] = corpus_test(g)
        r["graded_test"] = graded_test(g)
        r["cases"] = cases(g)
        res["graders"][g] = r

    print(f"\ngrader validity ({', '.join(graders)}); answer length alone: Spearman "
          f"{res.get('length_baseline_spearman', '-')}")
    rows = []
    def row(name, f):
        rows.append((name, *[f(res["graders"][g]) for g in graders]))
    if inter:
        for key, label in (("interview_bank", "bank rubrics"), ("interview_reference", "reference rubrics")):
            row(f"interview {label}: Spearman", lambda r, k=key: r[k]["spearman"])
            kinds = sorted(res["graders"][graders[0]][key]["bias"])
            for kind in kinds:
                row(f"  bias {kind}", lambda r, k=key, kd=kind: f"{r[k]['bias'].get(kd, float('nan')):+.2f}")
            row("  misconception <= 2", lambda r, k=key: r[k]["misconception_le_2"])
            row("  gaming <= 1", lambda r, k=key: r[k]["gaming_le_1"])
            row("  answers/s", lambda r, k=key: r[k]["answers_per_s"])
    if sem:
        for ds in sorted(res["graders"][graders[0]]["semeval"]):
            row(f"SemEval {ds}: ROC-AUC", lambda r, d=ds: r["semeval"][d]["roc_auc"])
            row("  answers/s", lambda r, d=ds: r["semeval"][d]["answers_per_s"])
    row("corpus test topics: pair accuracy", lambda r: r["corpus_test"].get("pair_accuracy", "-"))
    row("corpus test topics: synthetic-answer Spearman", lambda r: r["corpus_test"].get("synthetic_spearman", "-"))
    row("  mean bias", lambda r: r["corpus_test"].get("synthetic_bias", "-"))
    row("  stated misconception flagged", lambda r: r["corpus_test"].get("synthetic_misconception_recall", "-"))
    row("  rejected misconception flagged", lambda r: r["corpus_test"].get("synthetic_rejected_misconception_flagged", "-"))
    row("graded answers, test topics: Spearman", lambda r: r["graded_test"].get("spearman", "-"))
    row("  misconception <= 2 / gaming <= 1", lambda r: f"{r['graded_test'].get('misconception_le_2', '-')} / "
        f"{r['graded_test'].get('gaming_le_1', '-')}")
    for i in range(len(CASES) + 1):
        c0 = res["graders"][graders[0]]["cases"][i]
        row(f"case {c0['case'][:34]} ({c0['want']})",
            lambda r, i=i: f"{r['cases'][i]['grade']:.2f}" + (" " + ",".join(r["cases"][i]["flags"]) if r["cases"][i]["flags"] else ""))
    w = max(len(x[0]) for x in rows)
    print(f"{'measure':{w}s}  " + "  ".join(f"{g:>16s}" for g in graders))
    for x in rows:
        print(f"{x[0]:{w}s}  " + "  ".join(f"{str(v):>16s}" for v in x[1:]))
    out = HERE / "results" / "grader_validity.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", "utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
