"""Grader benchmark: prints a table and writes tests/bench/results/grader.json.

    python tests/bench/bench_grader.py [--eval-file FILE.jsonl] [--eval-limit N] [--repeats N]

Measures, on this machine (CPU):
- `viva --help` wall time (fresh process, median of 5)
- model load + first grade (cold), warm grading of a ~150-word answer (p50/p90 over --repeats runs)
- bank model answers graded afresh, and again after their draft (all but the last sentence) was graded, as the
  app does while the candidate writes (p50 over --draft-questions answers; the grade must be the same)
- a 100,000-character answer (cut at max_answer_chars; wall time)
- `viva eval` throughput once warm (answers/s; second pass, rubric texts cached) on --eval-file, or on
  a file built from the bank's sample answers with ad-hoc rubrics from each question's model answer
- peak RSS of a `viva eval --json` child process on the same file
- `viva grade` over the whole bank, end to end (a child process, model load included)
``--grader NAME`` picks the scorer (default: the ``grader`` setting).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ANSWER_150 = (
    "The causal language modelling loss is the cross-entropy between the model's predicted distribution and the "
    "token that actually comes next, computed at every position of the sequence. In practice you take the logits "
    "of shape batch by time by vocabulary, shift them so that position t predicts token t plus one, flatten both, "
    "and call cross-entropy, which applies log-softmax and picks the log probability of the true token. The "
    "per-token losses are averaged over all positions and the batch, ignoring padding. Because the chain rule "
    "factorises the joint probability of a sequence into a product of next-token conditionals, the summed loss "
    "is exactly the negative log-likelihood of the sequence, so minimising it is maximum-likelihood training of "
    "an autoregressive model. Every token supplies a training signal, which is why this objective is so data "
    "efficient, and exponentiating the mean loss gives the perplexity that people report."
)


def _bank_eval_rows() -> list[dict]:
    from agent.bank import load_bank

    bank = load_bank()
    rows = []
    for qid, r in sorted(bank.rubrics.items()):
        q = bank.questions.get(qid)
        if q is None:
            continue
        for s in r.samples:
            rows.append({"question": q.prompt, "reference_answer": q.model_answer, "student_answer": s.answer,
                         "score": (s.band[0] + s.band[1]) / 2, "max_score": 5, "dataset": "bank-samples"})
    return rows


def _help_time() -> float:
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "agent.cli", "--help"], capture_output=True, check=True, cwd=REPO)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _grade_child(grader: str | None, cache_dir: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "agent.cli", "grade"] + (["--grader", grader] if grader else [])
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, VIVA_CACHE_DIR=cache_dir))
    tail = (out.stdout.strip().splitlines() or [""])[-1]
    return time.perf_counter() - t, f"exit {out.returncode}: {tail[:120]}"


def _eval_child(path: str, limit: int | None, cache_dir: str, grader: str | None) -> tuple[float, int, dict]:
    cmd = [sys.executable, "-m", "agent.cli", "eval", path, "--json", "--no-progress"]
    if grader:
        cmd += ["--grader", grader]
    if limit:
        cmd += ["--limit", str(limit)]
    env = dict(os.environ, VIVA_CACHE_DIR=cache_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        raise SystemExit(f"viva eval failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, max(peak_kb, before), json.loads(out.stdout)


def _fp32_floor(scorer, q, r) -> dict:
    """What the encoder's matrix products alone cost for this answer at this machine's measured float32
    GEMM rate: a lower bound on the warm grade (the rest of the pass and the grading come on top). A scorer
    that joins others (stacked) is bounded by its embedding grader's pass."""
    import torch

    if not hasattr(scorer, "_prepare"):
        from agent.grading import get_scorer

        scorer = get_scorer("embedding")
    p = scorer._prepare(q, r)
    w = scorer._analyse(q, r, p, ANSWER_150)
    enc = scorer.embedder._load()
    tokens = sum(len(x) for x in enc.tokenize(w.clean_texts)[0])
    d = enc.dim
    inter = getattr(enc, "intermediate", 4 * d)  # the bundled encoder reads both from its config
    n_layers = len(getattr(enc, "layers", ())) or 6
    flops = 2 * tokens * n_layers * (4 * d * d + 2 * d * inter)
    x, wt = torch.randn(tokens, d), torch.randn(inter, d)
    for _ in range(20):
        torch.nn.functional.linear(x, wt)
    reps = 200
    t = time.perf_counter()
    for _ in range(reps):
        torch.nn.functional.linear(x, wt)
    gflops = 2 * tokens * d * inter * reps / (time.perf_counter() - t) / 1e9
    return {"tokens": tokens, "gflop": round(flops / 1e9, 2), "gemm_gflops": round(gflops, 1),
            "linear_layers_ms": round(flops / (gflops * 1e9) * 1000, 1), "threads": torch.get_num_threads()}


def _after_draft(scorer, bank, n: int) -> dict:
    """The app grades a draft that stands while the candidate writes (the ``grade_drafts`` setting): what does the
    answer then cost? Per bank question (the first ``n`` whose model answer has three sentences or more), the
    model answer graded afresh, and graded again after its draft (all but its last sentence) was graded."""
    from agent.grading.cache import forget_recent_texts

    fresh, after = [], []
    for qid in sorted(bank.rubrics):
        q = bank.questions.get(qid)
        if q is None:
            continue
        sentences = [x for x in q.model_answer.replace("\n", " ").split(". ") if x.strip()]
        if len(sentences) < 3:
            continue
        draft = ". ".join(sentences[:-1]) + "."
        r = bank.rubric(qid)
        forget_recent_texts()
        t = time.perf_counter()
        whole = scorer.score(q, r, q.model_answer)
        fresh.append((time.perf_counter() - t) * 1000)
        forget_recent_texts()
        scorer.score(q, r, draft)
        t = time.perf_counter()
        again = scorer.score(q, r, q.model_answer)
        after.append((time.perf_counter() - t) * 1000)
        assert again.score == whole.score, (qid, again.score, whole.score)  # the same grade either way
        if len(fresh) == n:
            break
    return {"answers": len(fresh), "fresh_p50_ms": round(statistics.median(fresh), 1),
            "after_draft_p50_ms": round(statistics.median(after), 1),
            "fresh_p90_ms": round(sorted(fresh)[int(0.9 * (len(fresh) - 1))], 1),
            "after_draft_p90_ms": round(sorted(after)[int(0.9 * (len(after) - 1))], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-file", help="JSONL for the eval throughput/RSS runs (default: built from the bank)")
    ap.add_argument("--eval-limit", type=int, default=None, help="only the first N lines of the eval file")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--draft-questions", type=int, default=20,
                    help="bank model answers graded afresh and after their draft (default 20)")
    ap.add_argument("--grader", default=None, help="scorer registry name (default: the grader setting)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="viva-bench-")
    os.environ["VIVA_CACHE_DIR"] = os.path.join(tmp, "cache")
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "platform": platform.platform(),
                                 "loadavg_start": os.getloadavg()}}

    results["help_s"] = round(_help_time(), 3)

    from agent.bank import load_bank
    from agent.commands.eval import build_rubrics, grade_items, read_items
    from agent.grading import get_scorer
    from agent.grading.cache import forget_recent_texts

    bank = load_bank()
    q, r = bank.question("clm-loss"), bank.rubric("clm-loss")
    t = time.perf_counter()
    scorer = get_scorer(args.grader)
    scorer.score(q, r, "warm up")
    results["grader"] = f"{scorer.name} {scorer.version}"
    results["cold_first_grade_s"] = round(time.perf_counter() - t, 3)

    n_words = len(ANSWER_150.split())
    lat = []
    for _ in range(args.repeats):
        forget_recent_texts()  # each run grades the answer as a new one, none of its sentences encoded before
        t = time.perf_counter()
        scorer.score(q, r, ANSWER_150)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    results["warm_150w"] = {"words": n_words, "p50_ms": round(statistics.median(lat), 1),
                            "p90_ms": round(lat[int(0.9 * (len(lat) - 1))], 1), "runs": len(lat)}

    results["warm_150w"]["floor"] = _fp32_floor(scorer, q, r)
    results["after_draft"] = _after_draft(scorer, bank, args.draft_questions)

    huge = (ANSWER_150 + " ") * (100_000 // len(ANSWER_150) + 1)
    huge = huge[:100_000]
    forget_recent_texts()
    t = time.perf_counter()
    g = scorer.score(q, r, huge)
    results["answer_100k"] = {"seconds": round(time.perf_counter() - t, 3), "flags": g.flags, "notes": g.notes}

    if args.eval_file:
        eval_path = args.eval_file
        label = Path(args.eval_file).name
    else:
        eval_path = os.path.join(tmp, "bank_samples.jsonl")
        with open(eval_path, "w", encoding="utf-8") as fh:
            for row in _bank_eval_rows():
                fh.write(json.dumps(row) + "\n")
        label = "bank samples (ad-hoc rubrics)"
    items, _ = read_items(eval_path, skip_bad=True, limit=args.eval_limit)
    pairs = build_rubrics(items)
    triples = [(qq, rr, it.answer) for (qq, rr), it in zip(pairs, items, strict=True)]
    grade_items(triples, progress=False, scorer_name=args.grader)  # first pass: rubric texts encoded and cached
    forget_recent_texts()  # ... the answers' sentences are not
    t = time.perf_counter()
    grade_items(triples, progress=False, scorer_name=args.grader)
    dt = time.perf_counter() - t
    results["eval_warm"] = {"file": label, "answers": len(triples), "seconds": round(dt, 2),
                            "answers_per_s": round(len(triples) / dt, 1)}

    wall, peak_kb, summary = _eval_child(eval_path, args.eval_limit, os.path.join(tmp, "cache"), args.grader)
    results["eval_process"] = {"file": label, "answers": summary["n"], "wall_s": round(wall, 2),
                               "peak_rss_mb": round(peak_kb / 1024, 1), "datasets": summary["datasets"]}
    g_cold, g_out = _grade_child(args.grader, os.path.join(tmp, "grade-cache"))
    g_warm, _ = _grade_child(args.grader, os.path.join(tmp, "grade-cache"))
    results["viva_grade"] = {"cold_cache_s": round(g_cold, 1), "warm_cache_s": round(g_warm, 1), "result": g_out}
    results["machine"]["loadavg_end"] = os.getloadavg()

    targets = [
        ("viva --help", f"{results['help_s']:.3f} s", "<= 0.3 s", results["help_s"] <= 0.3),
        (f"warm grade, {n_words}-word answer p50", f"{results['warm_150w']['p50_ms']} ms", "<= 150 ms",
         results["warm_150w"]["p50_ms"] <= 150),
        (f"  a bank model answer afresh / after its draft, p50 of {results['after_draft']['answers']}",
         f"{results['after_draft']['fresh_p50_ms']} ms / {results['after_draft']['after_draft_p50_ms']} ms",
         "(the app grades drafts)", None),
        ("  of which the sentence encoder's matrix products alone",
         f"{results['warm_150w']['floor']['linear_layers_ms']} ms "
         f"({results['warm_150w']['floor']['gflop']} GFLOP at {results['warm_150w']['floor']['gemm_gflops']} GFLOP/s)",
         "(a lower bound)", None),
        ("viva eval warm throughput", f"{results['eval_warm']['answers_per_s']} answers/s", ">= 60",
         results["eval_warm"]["answers_per_s"] >= 60),
        ("viva eval peak RSS", f"{results['eval_process']['peak_rss_mb']} MB", "<= 1500 MB",
         results["eval_process"]["peak_rss_mb"] <= 1500),
        ("viva grade, whole bank (empty cache / warm cache)",
         f"{results['viva_grade']['cold_cache_s']} s / {results['viva_grade']['warm_cache_s']} s", "<= 60 s",
         results["viva_grade"]["cold_cache_s"] <= 60),
        ("100k-char answer", f"{results['answer_100k']['seconds']} s", "<= 2 s", results["answer_100k"]["seconds"] <= 2),
    ]
    results["targets"] = [{"what": a.strip(), "measured": b, "target": c, "met": d} for a, b, c, d in targets]
    try:
        from rich.console import Console
        from rich.table import Table

        tbl = Table(title=f"grader benchmark, {results['grader']} (cold first grade {results['cold_first_grade_s']} s; "
                          f"load average {results['machine']['loadavg_start'][0]:.1f} at start)")
        for col in ("what", "measured", "target", "met"):
            tbl.add_column(col)
        for a, b, c, d in targets:
            tbl.add_row(a, b, c, "-" if d is None else "yes" if d else "NO")
        Console().print(tbl)
    except ImportError:  # pragma: no cover
        for row in targets:
            print(*row, sep="\t")
    print(f"  viva grade: {results['viva_grade']['result']}")
    for name, d in results["eval_process"]["datasets"].items():
        print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in d.items()))
    out = HERE / "results" / "grader.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
