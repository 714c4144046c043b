"""`viva report SESSION [--out DIR]`: a Markdown report and one self-contained HTML file for a session."""

from __future__ import annotations

import argparse

ORDER = 13


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a session's report (Markdown + one self-contained HTML file)")
    p.add_argument("session", help="session id, a unique prefix, or 'last'")
    p.add_argument("--out", default=".", help="folder to write into (default: the current folder)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from agent import report
    from agent.commands.interview import bank_or_none, open_store

    store = open_store()
    md, page = report.write(store, args.session, args.out, bank_or_none())
    print(f"wrote {md}")
    print(f"wrote {page}")
    return 0
