"""`viva resume [SESSION] [--text]`: continue an interrupted session where it stopped."""

from __future__ import annotations

import argparse
import sys

ORDER = 11


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resume", help="continue an interrupted session (the latest unfinished one by default)")
    p.add_argument("session", nargs="?", help="session id or a unique prefix (`viva history` lists them)")
    p.add_argument("--text", action="store_true", help="plain-terminal mode: answers from standard input")
    p.set_defaults(func=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    from agent.bank import default_bank
    from agent.commands.interview import _tui_possible, open_store, run_text
    from agent.errors import UserError
    from agent.interview import Interview

    store = open_store()
    if args.session:
        sid = store.resolve(args.session)
    else:
        info = store.latest_unfinished()
        if info is None:
            raise UserError("no unfinished session to resume; start one with `viva interview`", exit_code=1)
        sid = info.id
    iv = Interview.resume(default_bank(), store, sid)
    if not args.text and _tui_possible():
        from tui.app import run_app

        return run_app(interview=iv) or 0
    return run_text(iv, sys.stdin, sys.stdout, resumed=True)
