"""`viva forget SESSION | --all`: delete sessions, their answers, kept recordings and review history."""

from __future__ import annotations

import argparse
import sys

ORDER = 42


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forget", help="delete a session (or the whole history) from this machine")
    p.add_argument("session", nargs="?", help="session id or a unique prefix")
    p.add_argument("--all", action="store_true", help="delete every session and all review history")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_forget)


def cmd_forget(args: argparse.Namespace) -> int:
    from agent.commands.interview import open_store
    from agent.errors import UserError

    if bool(args.session) == bool(args.all):
        raise UserError("say which session to forget (`viva history` lists them), or --all for everything")
    store = open_store()
    if args.all:
        what = "the whole history (every session, answer, recording and review)"
    else:
        sid = store.resolve(args.session)
        info = store.session(sid)
        what = f"session {sid} ({info.mode}, {info.started_at:%Y-%m-%d %H:%M}, {info.n_turns} answers)"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"refusing to delete {what} without confirmation; add --yes")
        reply = input(f"Delete {what}? Type 'yes' to confirm: ")
        if reply.strip().lower() != "yes":
            print("Nothing deleted.")
            return 1
    n = store.forget(all=True) if args.all else store.forget(sid)
    print(f"Deleted {n} session(s).")
    return 0
