"""`viva history [SESSION] [--json]`: past sessions, mastery per section, and the cold-answer goal."""

from __future__ import annotations

import argparse
import json

ORDER = 12


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="past sessions, mastery per section and concept, the cold-answer goal")
    p.add_argument("session", nargs="?", help="review one session: every question, the answer, the grade, the "
                   "evidence and the coaching (id, unique prefix or 'last')")
    p.add_argument("--limit", type=int, default=20, help="sessions to list (default 20)")
    p.add_argument("--concepts", action="store_true", help="also list mastery per concept")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from agent.commands.interview import bank_or_none, open_store

    store = open_store()
    bank = bank_or_none()
    if args.session:
        return _one(store, args)
    sessions = store.sessions(limit=args.limit)
    mastery = store.mastery(bank)
    goal = store.goal(bank)
    due = store.due()
    if args.json:
        print(json.dumps({
            "sessions": [s.model_dump(mode="json") for s in sessions],
            "sections": [s.__dict__ for s in mastery.sections],
            "concepts": [c.__dict__ for c in mastery.concepts],
            "goal": {"done": goal.done, "target": goal.target, "total": goal.total, "in_bank": goal.in_bank,
                     "question_ids": goal.question_ids},
            "due": [d.question_id for d in due],
        }, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    c = Console()
    if not sessions:
        c.print("No sessions yet: `viva interview` starts one.")
    else:
        t = Table(title=f"sessions ({len(sessions)} shown)")
        for col in ("id", "mode", "started", "answers", "mean", "status"):
            t.add_column(col)
        for s in sessions:
            t.add_row(s.id, s.mode, f"{s.started_at:%Y-%m-%d %H:%M}", str(s.n_turns),
                      "" if s.mean_grade is None else f"{s.mean_grade:.2f}",
                      "done" if s.finished else ("open" if s.n_turns else "no answers"))
        c.print(t)
    t = Table(title="mastery per section")
    for col in ("section", "questions seen", "concepts", "mastery"):
        t.add_column(col)
    for s in mastery.sections:
        total = f"/{s.questions_total}" if s.questions_total is not None else ""
        label = bank.section_label(s.section) if bank is not None else s.section
        t.add_row(label, f"{s.questions_seen}{total}", str(s.concepts), _bar(s.mastery) if s.concepts else "-")
    c.print(t)
    if args.concepts and mastery.concepts:
        t = Table(title="mastery per concept")
        for col in ("question", "concept", "attempts", "mastery"):
            t.add_column(col)
        for cm in mastery.concepts:
            t.add_row(cm.question_id, cm.name, str(cm.attempts), _bar(cm.mastery))
        c.print(t)
    c.print(f"Goal: {_bar(goal.done / goal.target, 25)} {goal}")
    c.print(f"Due for review now: {len(due)}" + (" (`viva interview --mode drill`)" if due else ""))
    return 0


def _bar(x: float, width: int = 10) -> str:
    x = max(0.0, min(1.0, x))
    full = round(x * width)
    return "#" * full + "." * (width - full) + f" {x:.0%}"


def _one(store, args: argparse.Namespace) -> int:
    """One session for review: every question, the answer as given, the grade, the evidence, the coaching."""
    from agent.commands.interview import bank_or_none
    from agent.review import review_session

    rev = review_session(store, args.session, bank_or_none())
    if args.json:
        print(json.dumps({"session": rev.session.model_dump(mode="json"),
                          "turns": [i.turn.model_dump(mode="json") for i in rev.items],
                          "coaching": [i.coaching.to_dict() for i in rev.items]}, indent=2))
        return 0
    print("\n".join(rev.lines()))
    return 0
