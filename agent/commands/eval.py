"""`viva eval FILE.jsonl`: agreement of the grader with human grades.

Each line: ``question``, ``reference_answer`` or ``reference_answers``, ``student_answer`` or ``answer``, and
either ``score`` with ``max_score`` or ``label`` (correct/incorrect); optional ``question_id`` (the bank's
rubric is used when it matches), ``key_concepts``, ``dataset``. Reports n, Pearson, Spearman, RMSE (on the
file's own scale) and quadratic-weighted kappa for scores; ROC-AUC and best-threshold accuracy for labels;
per dataset. Exit 0 ok, 1 a threshold failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands._judge_opts import apply_judge, grader_names, judge_enabled, judged_command, summary_json

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric

ORDER = 25
POSITIVE = {"correct", "true", "1", "yes", "positive", "pass"}
NEGATIVE = {"incorrect", "false", "0", "no", "negative", "fail", "wrong"}
BATCH = 128


def add_parser(sub: argparse._SubParsersAction) -> None:
    with judged_command(
        sub, "eval", cmd_eval,
        help="measure agreement with human grades on a JSONL file",
        description="Grade every line of FILE.jsonl and report agreement with its human score or label.",
    ) as p:
        p.add_argument("file", metavar="FILE.jsonl")
        p.add_argument("--json", action="store_true", help="print the summary as JSON")
        p.add_argument("--predictions", metavar="OUT.jsonl", help="write one prediction per input line")
        p.add_argument("--skip-bad", action="store_true", help="skip malformed lines (counted) instead of stopping")
        p.add_argument("--limit", type=int, metavar="N", help="only the first N usable lines")
        p.add_argument("--dataset", action="append", metavar="NAME", help="only lines of this dataset (repeatable)")
        p.add_argument("--min-auc", type=float, metavar="X", help="exit 1 when any dataset's ROC-AUC is below X")
        p.add_argument("--min-spearman", type=float, metavar="X",
                       help="exit 1 when any dataset's Spearman is below X")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


# --------------------------------------------------------------------------- input


@dataclass
class EvalItem:
    line: int
    dataset: str
    question: str
    references: list[str]
    answer: str
    question_id: str | None = None
    key_concepts: list[str] | None = None
    score: float | None = None
    max_score: float | None = None
    label: bool | None = None
    raw_id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class BadLine(ValueError):
    pass


def _str_list(v: Any, name: str) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return list(v)
    raise BadLine(f"'{name}' must be a string or a list of strings")


def parse_line(obj: Any, line: int, default_dataset: str) -> EvalItem:
    if not isinstance(obj, dict):
        raise BadLine("expected a JSON object")
    q = obj.get("question")
    if not isinstance(q, str) or not q.strip():
        raise BadLine("'question' is missing or empty")
    refs: list[str] = []
    if obj.get("reference_answers") is not None:
        refs = _str_list(obj["reference_answers"], "reference_answers")
    if not refs and obj.get("reference_answer") is not None:
        refs = _str_list(obj["reference_answer"], "reference_answer")
    refs = [r for r in refs if r.strip()]
    if not refs:
        raise BadLine("needs 'reference_answer' or 'reference_answers'")
    ans = obj.get("student_answer", obj.get("answer"))
    if ans is None:
        raise BadLine("needs 'student_answer' or 'answer'")
    if not isinstance(ans, str):
        raise BadLine("'student_answer' must be a string")
    item = EvalItem(line=line, dataset=str(obj.get("dataset") or default_dataset), question=q, references=refs,
                    answer=ans, question_id=obj.get("question_id") if isinstance(obj.get("question_id"), str) else None,
                    raw_id=obj.get("student_answer_id", obj.get("id")))
    kc = obj.get("key_concepts")
    if kc is not None:
        item.key_concepts = _str_list(kc, "key_concepts")
    if obj.get("score") is not None:
        try:
            item.score = float(obj["score"])
            item.max_score = float(obj.get("max_score") if obj.get("max_score") is not None else 5.0)
        except (TypeError, ValueError):
            raise BadLine("'score' and 'max_score' must be numbers") from None
        if not (math.isfinite(item.score) and math.isfinite(item.max_score)) or item.max_score <= 0:
            raise BadLine("'max_score' must be a positive number")
        if not 0 <= item.score <= item.max_score:
            raise BadLine(f"'score' {item.score:g} is outside 0..{item.max_score:g}")
    elif obj.get("label") is not None:
        lab = str(obj["label"]).strip().lower()
        if lab in POSITIVE:
            item.label = True
        elif lab in NEGATIVE:
            item.label = False
        else:
            raise BadLine(f"'label' {obj['label']!r} is not correct/incorrect")
    else:
        raise BadLine("needs 'score' (with 'max_score') or 'label'")
    return item


def read_items(path: str, skip_bad: bool, datasets: list[str] | None = None,
               limit: int | None = None) -> tuple[list[EvalItem], list[str]]:
    from agent.commands.score import read_text_file
    from agent.errors import UserError

    text = read_text_file(path)
    default_dataset = Path(path).stem
    items: list[EvalItem] = []
    skipped: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise BadLine(f"malformed JSON ({e.msg} at column {e.colno})") from None
            item = parse_line(obj, n, default_dataset)
        except BadLine as e:
            msg = f"{path}:{n}: {e}"
            if not skip_bad:
                raise UserError(f"{msg} (fix the line or pass --skip-bad to go on without it)") from None
            skipped.append(msg)
            continue
        if datasets and item.dataset not in datasets:
            continue
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise UserError(f"{path}: no usable lines" + (f" ({len(skipped)} malformed)" if skipped else ""))
    return items, skipped


# --------------------------------------------------------------------------- grading


def build_rubrics(items: list[EvalItem]) -> list[tuple[Question, Rubric]]:
    """The bank's rubric where ``question_id`` names a bank question, otherwise an ad-hoc one."""
    from agent.bank import default_bank
    from agent.grading.adhoc import adhoc_rubric

    bank = default_bank()
    cache: dict[tuple, tuple[Question, Rubric]] = {}
    out = []
    for it in items:
        if it.question_id and it.question_id in bank.rubrics and it.question_id in bank.questions:
            out.append((bank.questions[it.question_id], bank.rubrics[it.question_id]))
            continue
        key = (it.question, tuple(it.references), tuple(it.key_concepts or ()))
        if key not in cache:
            cache[key] = adhoc_rubric(it.question, it.references, key_concepts=it.key_concepts)
        out.append(cache[key])
    return out


def grade_items(items: list[tuple[Question, Rubric, str]], progress: bool = True,
                scorer_name: str | None = None) -> list[Grade]:
    """Grade (question, rubric, answer) triples in batches, with a progress bar on stderr."""
    from agent.grading import get_scorer

    scorer = get_scorer(scorer_name)
    grades: list[Grade] = []
    if not progress:
        for i in range(0, len(items), BATCH):
            grades += scorer.score_many(items[i : i + BATCH])
        return grades
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("grading", total=len(items))
        for i in range(0, len(items), BATCH):
            chunk = items[i : i + BATCH]
            grades += scorer.score_many(chunk)
            bar.advance(task, len(chunk))
    return grades


# --------------------------------------------------------------------------- metrics


def _clean(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def summarise(items: list[EvalItem], grades: list[Grade]) -> dict[str, Any]:
    from agent.grading import metrics as M

    out: dict[str, Any] = {}
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it.dataset, []).append(i)
    if len(groups) > 1:
        groups = {"all": list(range(len(items))), **groups}
    for name, idx in groups.items():
        res: dict[str, Any] = {"n": len(idx)}
        sc = [i for i in idx if items[i].score is not None]
        lb = [i for i in idx if items[i].label is not None]
        if sc:
            true = [items[i].score for i in sc]
            pred = [grades[i].score / 5.0 * items[i].max_score for i in sc]
            scale = max(items[i].max_score for i in sc)
            res.update({
                "n_scored": len(sc), "pearson": _clean(M.pearson(pred, true)),
                "spearman": _clean(M.spearman(pred, true)), "rmse": _clean(M.rmse(pred, true)),
                "qwk": _clean(M.quadratic_weighted_kappa(pred, true, 0, int(round(scale)))),
            })
        if lb:
            y = [items[i].label for i in lb]
            s = [grades[i].score for i in lb]
            acc, thr = M.best_threshold_accuracy(s, y)
            res.update({"n_labelled": len(lb), "positive_rate": round(sum(y) / len(y), 4),
                        "roc_auc": _clean(M.roc_auc(s, y)), "best_accuracy": _clean(acc),
                        "best_threshold": _clean(thr)})
        out[name] = res
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from agent.errors import UserError

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    t0 = time.perf_counter()
    items, skipped = read_items(args.file, args.skip_bad, args.dataset, args.limit)
    pairs = build_rubrics(items)
    triples = [(q, r, it.answer) for (q, r), it in zip(pairs, items, strict=True)]
    show = not args.no_progress and not args.json and sys.stderr.isatty()
    runs: list[dict[str, Any]] = []
    for name in grader_names(args):
        t1 = time.perf_counter()
        grades = grade_items(triples, progress=show, scorer_name=name)
        grades, judge_summary = apply_judge(args, triples, grades)
        t2 = time.perf_counter()
        summary = {
            "file": str(args.file), "n": len(items), "skipped": len(skipped), "datasets": summarise(items, grades),
            "grader": grades[0].grader if grades else name,
            "grader_version": grades[0].grader_version if grades else None,
            "model": grades[0].model if grades else None, "judge": summary_json(judge_summary),
            "seconds": round(t2 - t0, 2), "answers_per_s": round(len(items) / max(t2 - t1, 1e-9), 1),
        }
        summary["threshold_failures"] = _threshold_failures(summary["datasets"], args.min_auc, args.min_spearman)
        runs.append({"summary": summary, "grades": grades, "judge": judge_summary})
        t0 = time.perf_counter()
    if args.predictions:
        _write_predictions(args.predictions, items, runs[0]["grades"])
    failures = [f for run in runs for f in run["summary"]["threshold_failures"]]
    if args.json:
        out = runs[0]["summary"] if len(runs) == 1 else {
            "file": str(args.file), "n": len(items), "skipped": len(skipped),
            "graders": {run["summary"]["grader"]: run["summary"] for run in runs}}
        print(json.dumps(out, indent=2))
    else:
        for i, run in enumerate(runs):
            _print_summary(run["summary"], skipped if i == len(runs) - 1 else [])
            if run["judge"] is not None and judge_enabled(args):
                for line in run["judge"].lines():
                    print(line, file=sys.stderr)
    for f in failures:
        print(f"viva: {f}", file=sys.stderr)
    return 1 if failures else 0


def _threshold_failures(datasets: dict[str, Any], min_auc: float | None, min_sp: float | None) -> list[str]:
    out = []
    for name, d in datasets.items():
        if name == "all" and len(datasets) > 1:
            continue
        if min_auc is not None and d.get("roc_auc") is not None and d["roc_auc"] < min_auc:
            out.append(f"{name}: ROC-AUC {d['roc_auc']:.3f} is below --min-auc {min_auc:g}")
        if min_sp is not None and d.get("spearman") is not None and d["spearman"] < min_sp:
            out.append(f"{name}: Spearman {d['spearman']:.3f} is below --min-spearman {min_sp:g}")
    return out


def _write_predictions(path: str, items: list[EvalItem], grades: list[Grade]) -> None:
    from agent.errors import UserError

    try:
        with open(path, "w", encoding="utf-8") as fh:
            for it, g in zip(items, grades, strict=True):
                row = {"line": it.line, "dataset": it.dataset, "question_id": it.question_id, "id": it.raw_id,
                       "grade": g.score, "display": g.display, "flags": g.flags,
                       "covered": g.covered, "missing": g.missing}
                if it.score is not None:
                    row.update(score=it.score, max_score=it.max_score,
                               predicted_score=round(g.score / 5.0 * it.max_score, 4))
                if it.label is not None:
                    row["label"] = "correct" if it.label else "incorrect"
                fh.write(json.dumps(row) + "\n")
    except OSError as e:
        raise UserError(f"{path}: cannot write predictions ({e.strerror})") from None


def _print_summary(summary: dict[str, Any], skipped: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    cols = ["dataset", "n", "pearson", "spearman", "rmse", "qwk", "roc_auc", "best_accuracy"]
    t = Table(title=f"viva eval: {summary['n']} answers, {summary['answers_per_s']} answers/s "
                    f"({summary['grader']} {summary['grader_version']}, {summary['model']})")
    for col in cols:
        t.add_column(col, justify="left" if col == "dataset" else "right")
    for name, d in summary["datasets"].items():
        t.add_row(name, *[("-" if d.get(k) is None else f"{d[k]:g}") for k in cols[1:]])
    c.print(t)
    if skipped:
        c.print(f"skipped {len(skipped)} malformed line(s):", style="yellow")
        for s in skipped[:10]:
            c.print(f"  {s}", markup=False, highlight=False)
        if len(skipped) > 10:
            c.print(f"  ... and {len(skipped) - 10} more")
