"""`viva grade`: the rubric regression suite over the bank's sample answers (exit 1 on any failure)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.commands._judge_opts import grader_names, judge_scorer, judged_command, summarize, summary_json

ORDER = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    with judged_command(
        sub, "grade", cmd_grade,
        help="run the bank's sample answers through the grader and check their expected bands",
        description="Rubric regression suite. PATH may be a bank folder (with questions/ and rubrics/) or rubric "
        "files; with no PATH the packaged bank (plus configured bank_dirs) is used.",
    ) as p:
        p.add_argument("paths", nargs="*", metavar="PATH", help="bank folders or rubric .yaml files")
        p.add_argument("--question", action="append", metavar="ID", help="only this question (repeatable)")
        p.add_argument("--section", help="only this section")
        p.add_argument("--json", metavar="OUT", help="write the full results as JSON ('-' for stdout)")
        p.add_argument("--junit", metavar="OUT.xml", help="write JUnit XML for CI systems")
        p.add_argument("--all", action="store_true", help="show every sample, not only failures and known misses")


def _load(paths: list[str]):
    from agent.bank import default_bank, load_bank, parse_yaml
    from agent.errors import UserError

    if not paths:
        return default_bank(), None
    dirs, only = [], set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            dirs.append(p)
        elif p.is_file():
            # a rubric file: its questions come from the sibling questions/ folder or the packaged bank
            doc = parse_yaml(p.read_text(encoding="utf-8"), str(p))
            for item in doc if isinstance(doc, list) else [doc]:
                if isinstance(item, dict) and "question_id" in item:
                    only.add(str(item["question_id"]))
            if p.parent.name == "rubrics" and (p.parent.parent / "questions").is_dir():
                dirs.append(p.parent.parent)
        else:
            raise UserError(f"{raw}: no such file or folder")
    dirs = list(dict.fromkeys(d.resolve() for d in dirs))
    packaged = not any((d / "questions").is_dir() for d in dirs)
    return load_bank(dirs, packaged=packaged), only or None


def cmd_grade(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from agent.errors import UserError
    from agent.grading import get_scorer
    from agent.regression import junit_xml, run_suite

    bank, only = _load(args.paths)
    qids = set(args.question or []) | (only or set())
    for qid in args.question or []:
        bank.question(qid)  # unknown id -> suggestions
    console = Console(stderr=args.json == "-")
    with console.status("loading the grader and grading samples ..."):
        base = get_scorer(grader_names(args)[0], setting="regression_grader")
        scorer = judge_scorer(args, base=base) or base
        suite = run_suite(bank, scorer, qids or None, args.section)
    if not suite.results:
        raise UserError("no sample answers matched (check --question/--section or the PATH)")

    t = Table(title=f"viva grade: {len(suite.results)} samples, {base.name} grader", show_lines=False)
    for col in ("sample", "kind", "band", "grade", "status", "concepts that differ"):
        t.add_column(col, overflow="fold")
    shown = suite.results if args.all else [r for r in suite.results if r.status != "pass"]
    for r in shown:
        lo, hi = r.sample.band
        style = {"pass": "green", "FAIL": "bold red", "xfail": "yellow", "xpass": "cyan"}[r.status]
        t.add_row(r.name, r.sample.kind, f"[{lo:g}, {hi:g}]", f"{r.grade.score:.2f}", f"[{style}]{r.status}[/]",
                  " ".join(r.differs))
    if shown:
        console.print(t)
    for r in shown:
        if r.status in ("FAIL", "xfail"):
            console.print(f"[bold]{r.name}[/bold] ({r.status}, grade {r.grade.score:.2f}, band "
                          f"[{r.sample.band[0]:g}, {r.sample.band[1]:g}]) decided by:", highlight=False)
            for line in r.decided_by:
                console.print(f"  - {line}", highlight=False, markup=False)
            if r.sample.xfail:
                console.print(f"  known miss: {r.sample.xfail}", highlight=False, markup=False)
    s = suite.summary()
    rho = s["spearman_band_midpoint_vs_grade"]
    console.print(
        f"{base.name} grader: {s['passed']} passed, {s['failed']} failed, {s['xfail']} known misses, "
        f"{s['xpass']} unexpectedly passing "
        f"over {s['questions']} questions in {s['seconds']:.1f}s | Spearman(band midpoint, grade) = "
        f"{rho if rho is None else f'{rho:.3f}'} | max misconception grade {s['max_misconception_grade']} | "
        f"max adversarial grade {s['max_adversarial_grade']}"
    )
    judge_summary = summarize([r.grade for r in suite.results])
    for line in judge_summary.lines() if judge_summary is not None else []:
        console.print(line, highlight=False, markup=False)
    if args.json:
        payload = {
            "summary": s,
            "judge": summary_json(judge_summary),
            "results": [
                {"question_id": r.question_id, "sample_id": r.sample.id, "kind": r.sample.kind,
                 "band": list(r.sample.band), "grade": r.grade.score, "display": r.grade.display,
                 "status": r.status, "differs": r.differs, "decided_by": r.decided_by, "flags": r.grade.flags,
                 "verdicts": {v.concept_id: v.verdict for v in r.grade.verdicts}}
                for r in suite.results
            ],
        }
        text = json.dumps(payload, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    if args.junit:
        Path(args.junit).write_text(junit_xml(suite), encoding="utf-8")
    return 0 if suite.ok else 1
