"""`viva bank list | show ID | check`."""

from __future__ import annotations

import argparse
import json

ORDER = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bank", help="list, show and check the question bank")
    bsub = p.add_subparsers(dest="bank_command", metavar="ACTION", required=True)
    ls = bsub.add_parser("list", help="list questions")
    ls.add_argument("--section", help="only this section (e.g. A, or a topic tag)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_list)
    sh = bsub.add_parser("show", help="show one question with its rubric")
    sh.add_argument("question_id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_show)
    ck = bsub.add_parser("check", help="validate and lint the bank (exit 1 on problems)")
    ck.add_argument("--json", action="store_true")
    ck.set_defaults(func=cmd_check)


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from agent.bank import default_bank

    bank = default_bank()
    qs = bank.select(section=args.section)
    if args.json:
        print(json.dumps([{"id": q.id, "section": q.section, "section_title": bank.section_title(q.section),
                           "topic": q.topic, "difficulty": q.difficulty, "prompt": q.prompt} for q in qs], indent=2))
        return 0
    console = Console()
    counts: dict[str, int] = {}
    for q in qs:
        counts[q.section] = counts.get(q.section, 0) + 1
    st = Table(title=f"{len(counts)} sections", expand=False)
    for col in ("section", "title", "what it covers", "questions"):
        st.add_column(col, overflow="fold")
    for tag in sorted(counts):
        info = bank.section_info.get(tag)
        st.add_row(tag, info.title if info else "", info.description if info else "", str(counts[tag]))
    console.print(st)
    t = Table(title=f"{len(qs)} questions", expand=False)
    for col in ("id", "section", "difficulty", "prompt"):
        t.add_column(col, overflow="fold")
    for q in sorted(qs, key=lambda q: (q.section, q.id)):
        t.add_row(q.id, bank.section_label(q.section), q.difficulty, q.prompt)
    console.print(t)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from agent.bank import default_bank

    bank = default_bank()
    q = bank.question(args.question_id)
    r = bank.rubrics.get(q.id)
    if args.json:
        print(json.dumps({"question": q.model_dump(), "rubric": r.model_dump() if r else None}, indent=2))
        return 0
    c = Console()
    c.print(Panel(q.prompt, title=f"{q.id}  [{bank.section_label(q.section)} / {q.topic} / {q.difficulty}]"))
    c.print(Panel(q.model_answer, title="model answer"))
    if r:
        t = Table(title=f"rubric v{r.version}")
        for col in ("concept", "weight", "description", "demo"):
            t.add_column(col, overflow="fold")
        for con in r.concepts:
            t.add_row(con.id, f"{con.weight:g}", con.description, con.demo or "")
        c.print(t)
        for con in r.concepts:
            if con.probe or con.hints:
                c.print(f"[cyan]probe[/cyan] {con.id}: {con.probe or '(none: a neutral one is asked)'}")
                for k, h in enumerate(con.hints, 1):
                    c.print(f"  hint {k}: {h}")
        for m in r.misconceptions:
            c.print(f"[red]misconception[/red] {m.id}: {m.claim}\n  [green]correction:[/green] {m.correction}")
    for fu in q.follow_ups:
        c.print(f"follow-up ({fu.kind}, probes {fu.concept}): {fu.question or fu.prompt}")
    c.print(f"source: {q.source.seed} item {q.source.item}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from agent.bank import BankError, load_bank
    from agent.config import get_settings

    try:  # strictly: a bad file in bank_dirs is an error here, where everything else leaves it out
        bank = load_bank(get_settings().bank_dirs)
        problems = bank.check()
    except BankError as e:
        problems = e.problems
        bank = None
    errors = [p for p in problems if p.level == "error"]
    if args.json:
        print(json.dumps({"ok": not errors, "problems": [p.__dict__ for p in problems]}, indent=2))
    else:
        for p in problems:
            print(f"{p.level}: {p}")
        if bank is not None:
            n_samples = sum(len(r.samples) for r in bank.rubrics.values())
            n_concepts = sum(len(r.concepts) for r in bank.rubrics.values())
            print(f"{len(bank.questions)} questions, {len(bank.rubrics)} rubrics, {n_concepts} concepts, "
                  f"{n_samples} sample answers: {len(errors)} errors, {len(problems) - len(errors)} warnings")
    return 1 if errors else 0
