"""`viva demo list | show NAME | run NAME | verify [--all | NAME ...]`: the verified PyTorch demos."""

from __future__ import annotations

import argparse
import json
import sys

ORDER = 40


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="list, show, run and verify the PyTorch concept demos")
    dsub = p.add_subparsers(dest="demo_command", metavar="ACTION", required=True)

    ls = dsub.add_parser("list", help="list the demos with the questions they illustrate")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_list)

    sh = dsub.add_parser("show", help="show a demo's source, syntax-highlighted")
    sh.add_argument("name")
    sh.add_argument("--plain", action="store_true", help="plain text, no colours or line numbers")
    sh.set_defaults(func=cmd_show)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                       help="where tensors live (auto: cuda when a GPU is visible, else cpu)")
        q.add_argument("--timeout", type=float, default=60.0, metavar="S",
                       help="seconds allowed per demo before it is stopped (default 60)")
        q.add_argument("--seed", type=int, default=None,
                       help="seed for the checks' random inputs (default: fresh; a failure prints its seed)")
        q.add_argument("--json", action="store_true", help="machine-readable output")

    rn = dsub.add_parser("run", help="run one demo: narration, numbers, then its checks (exit 1 on a failure)")
    rn.add_argument("name")
    rn.add_argument("--no-verify", action="store_true", help="skip the checks")
    common(rn)
    rn.set_defaults(func=cmd_run)

    vf = dsub.add_parser("verify", help="run the checks of some or all demos (exit 1 on a failure)")
    vf.add_argument("names", nargs="*", metavar="NAME")
    vf.add_argument("--all", action="store_true", help="every demo (the default when no NAME is given)")
    common(vf)
    vf.set_defaults(func=cmd_verify)


def _known(names: list[str]) -> None:
    from agent.demos import demo_names, load

    for n in names:
        if n not in demo_names():
            load(n)  # raises a UserError naming the closest demo


def cmd_list(args: argparse.Namespace) -> int:
    from agent.demos import demo_names, info

    infos = [info(n) for n in demo_names()]
    if args.json:
        print(json.dumps([{"name": i.name, "title": i.title, "concepts": list(i.concepts),
                           "questions": list(i.questions)} for i in infos], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{len(infos)} demos (viva demo run NAME)")
    for col in ("name", "title", "questions"):
        t.add_column(col, overflow="fold")
    for i in infos:
        t.add_row(i.name, i.title, ", ".join(i.questions))
    Console().print(t)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from agent.demos import info, source

    _known([args.name])
    text = source(args.name)
    if args.plain or not sys.stdout.isatty():
        print(text, end="")
        return 0
    from rich.console import Console
    from rich.syntax import Syntax

    Console().print(Syntax(text, "python", line_numbers=True, theme="monokai"),
                    f"[dim]{info(args.name).title}[/dim]")
    return 0


def _print_report(rep, console, show_result: bool) -> None:
    from rich.table import Table

    dev = rep.device
    if rep.result is not None and show_result:
        res = rep.result
        console.rule(f"[bold]{rep.name}[/bold]  ({dev}, {rep.run_s:.2f} s)")
        console.print(res.narration)
        if res.numbers:
            t = Table(show_header=False, box=None, padding=(0, 2))
            for k, v in res.numbers.items():
                t.add_row(k, str(v))
            console.print(t)
        for tab in res.tables:
            t = Table(title=tab.title)
            for c in tab.columns:
                t.add_column(str(c))
            for row in tab.rows:
                t.add_row(*[str(x) for x in row])
            console.print(t)
    for c in rep.checks:
        mark = "[green]PASS[/green]" if c.passed else "[red]FAIL[/red]"
        console.print(f"  {mark} {rep.name}: {c.name}  [dim]{c.detail}[/dim]", highlight=False)
    if rep.checks:
        console.print(f"  [dim]{len(rep.checks)} checks in {rep.verify_s:.2f} s, seed {rep.seed}[/dim]")
    if rep.error:
        console.print(f"  [red]ERROR[/red] {rep.name}: {rep.error}", highlight=False)


def _execute(names: list[str], args: argparse.Namespace, do_run: bool, do_verify: bool) -> int:
    from rich.console import Console

    from agent.demos._runner import run_in_child

    console = Console(highlight=False)
    reports = []
    for rep in run_in_child(names, args.device, do_run=do_run, do_verify=do_verify, seed=args.seed,
                            timeout=args.timeout):
        reports.append(rep)
        if not args.json:
            _print_report(rep, console, show_result=do_run)
    failed = [r for r in reports if not r.passed]
    if args.json:
        print(json.dumps({"ok": not failed, "demos": [r.to_dict() for r in reports]}, indent=2))
    elif len(names) > 1 or failed:
        n_checks = sum(len(r.checks) for r in reports)
        n_bad = sum(1 for r in reports for c in r.checks if not c.passed)
        console.print(f"{len(reports)} demos, {n_checks} checks: {n_bad} failed checks, "
                      f"{sum(1 for r in reports if r.error)} demos with errors")
        seeds = sorted({r.seed for r in failed if r.seed is not None})
        if seeds:
            console.print(f"reproduce with --seed {' / '.join(map(str, seeds))}")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    _known([args.name])
    return _execute([args.name], args, do_run=True, do_verify=not args.no_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from agent.demos import demo_names
    from agent.errors import UserError

    if args.all and args.names:
        raise UserError("give either --all or demo names, not both")
    names = args.names or demo_names()
    _known(names)
    return _execute(names, args, do_run=False, do_verify=True)
