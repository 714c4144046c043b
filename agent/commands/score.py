"""`viva score QUESTION_ID [ANSWER]` and `viva score --question TEXT --reference TEXT [ANSWER]`.

The answer comes from the argument, ``--file F``, or stdin (``-`` or piped). Prints a table per concept
(verdict, similarity, evidence, feedback), misconceptions, flags and the grade; ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.commands._judge_opts import apply_judge, grader_names, judged_command

if TYPE_CHECKING:
    from agent.models import Grade, Question, Rubric

ORDER = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    with judged_command(
        sub, "score", cmd_score,
        help="grade one answer against a bank question's rubric (or an ad-hoc reference)",
        description="Grade one answer. The answer is ANSWER, the contents of --file, or stdin ('-' or piped). "
        "Ad hoc: --question TEXT --reference TEXT (repeat --reference for alternatives).",
    ) as p:
        p.add_argument("question_id", nargs="?", metavar="QUESTION_ID",
                       help="a bank question id (see `viva bank list`)")
        p.add_argument("answer", nargs="?", metavar="ANSWER", help="the answer text ('-' reads stdin)")
        p.add_argument("--file", "-f", metavar="F", help="read the answer from this UTF-8 text file")
        p.add_argument("--audio", metavar="FILE", help="a spoken answer (WAV, FLAC, MP3, OGG): transcribed, biased "
                       "to the rubric's terms, then graded")
        p.add_argument("--question", dest="question_text", metavar="TEXT", help="ad hoc: the question text")
        p.add_argument("--reference", action="append", metavar="TEXT", help="ad hoc: a reference answer (repeatable)")
        p.add_argument("--concept", action="append", metavar="TEXT", help="ad hoc: a key concept the answer should "
                       "contain (repeatable; default: from the reference)")
        p.add_argument("--json", action="store_true", help="print the Grade as JSON")


def read_text_file(path: str, what: str = "file") -> str:
    from agent.errors import UserError

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such {what}; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a {what}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte {e.start}); save the file as UTF-8") from None


def _read_stdin() -> str:
    from agent.errors import UserError

    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"stdin: not valid UTF-8 (byte {e.start}); send UTF-8 text") from None


def _transcribe_audio(args: argparse.Namespace) -> str:
    """Transcribe ``--audio`` (biased to the bank question's rubric terms); the transcript and voice
    insights go to stderr so that ``--json`` output stays clean."""
    from agent.errors import UserError
    from agent.speech.audio import require_voice

    require_voice("scoring a spoken answer")
    from agent.speech.stt import transcribe_for_question

    qid = None if args.question_text else args.question_id
    text, tr, ins = transcribe_for_question(args.audio, qid)
    if not text:
        raise UserError(f"no speech found in {args.audio} ({tr.duration:.1f} s of audio); check the recording")
    print(f"transcript: {text}", file=sys.stderr)
    for r in tr.repairs:
        print(f"  ({r})", file=sys.stderr)
    print(f"voice: {ins.summary()}", file=sys.stderr)
    return text


def _answer(args: argparse.Namespace, positional: str | None) -> str:
    from agent.errors import UserError

    if getattr(args, "audio", None):
        if args.file or positional is not None:
            raise UserError("give the answer once: --audio FILE, --file F or an argument")
        return _transcribe_audio(args)
    if args.file and positional not in (None,):
        raise UserError("give the answer once: as an argument or with --file, not both")
    if args.file:
        return read_text_file(args.file)
    if positional == "-" or (positional is None and not sys.stdin.isatty()):
        return _read_stdin()
    if positional is None:
        raise UserError("no answer given: pass it as an argument, with --file F, or on stdin ('-' or a pipe)")
    return positional


def resolve(args: argparse.Namespace) -> tuple[Question, Rubric, str]:
    """The question, rubric and answer the arguments name (bank or ad hoc)."""
    from agent.errors import UserError

    if args.question_text or args.reference:
        if not (args.question_text and args.reference):
            raise UserError("ad-hoc scoring needs both --question TEXT and --reference TEXT")
        from agent.grading.adhoc import adhoc_rubric

        # in ad-hoc mode a lone positional is the answer
        positional = args.answer if args.answer is not None else args.question_id
        if args.answer is not None and args.question_id is not None:
            raise UserError("ad-hoc scoring takes no QUESTION_ID; give only the answer")
        q, r = adhoc_rubric(args.question_text, args.reference, key_concepts=args.concept)
        return q, r, _answer(args, positional)
    if not args.question_id:
        raise UserError("name a question (`viva bank list` shows the ids) or use --question/--reference")
    from agent.bank import default_bank

    bank = default_bank()
    q = bank.question(args.question_id)
    try:
        r = bank.rubric(q.id)
    except KeyError as e:
        raise UserError(str(e).strip("'\"")) from None
    return q, r, _answer(args, args.answer)


def cmd_score(args: argparse.Namespace) -> int:
    from agent.grading import get_scorer

    q, r, answer = resolve(args)
    items = [(q, r, answer)]
    grades = get_scorer(grader_names(args)[0]).score_many(items)
    grades, summary = apply_judge(args, items, grades)
    g = grades[0]
    if args.json:
        print(json.dumps(g.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print_grade(q, g)
        if summary is not None:
            # the counts always; a failure's reason is already on the grade as a note, so it is said once
            lines = summary.lines()
            print(lines[0].rstrip(":") if summary.failed else "\n".join(lines), file=sys.stderr)
    return 0


def print_grade(question: Question, g: Grade) -> None:
    """The grade as a table, one row per concept of :func:`agent.grade_view.grade_view`, then the
    misconceptions, flags, notes and the grade."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from agent.grade_view import grade_view

    view = grade_view(g)
    c = Console()
    c.print(Text(f"{question.id}: {question.prompt}", style="bold"))
    t = Table(show_lines=False)
    learned = any(r.p_states is not None or r.p_partly is not None for r in view.concepts)
    signal = ("p(states)", "sim") if learned else ("sim", "lex")  # the entailment model's reading, or similarity
    for col, kw in (("concept", {}), ("verdict", {}), (signal[0], {"justify": "right"}),
                    (signal[1], {"justify": "right"}), ("evidence", {"overflow": "fold"}),
                    ("feedback", {"overflow": "fold"})):
        t.add_column(col, **kw)
    style = {"covered": "green", "partial": "yellow", "missing": "red"}
    for r in view.concepts:
        ev = r.evidence or ""
        if len(ev) > 160:
            ev = ev[:157] + "..."
        if learned:
            partly = f" (partly {r.p_partly:.2f})" if (r.p_partly or 0.0) >= 0.2 else ""
            nums = (f"{r.p_states or 0.0:.2f}{partly}", f"{r.similarity:.2f}")
        else:
            nums = (f"{r.similarity:.2f}", f"{r.lexical:.2f}")
        t.add_row(Text(r.name), Text(r.verdict, style=style[r.verdict]), *nums, Text(ev), Text(r.feedback or ""))
    c.print(t)
    for m in view.misconceptions:
        state = "corrected by the answer" if m.corrected else "stated"
        p = f", p={m.probability:.2f}" if m.probability is not None else ""
        c.print(Text(f"misconception ({state}{p}): {m.claim}", style="green" if m.corrected else "red"))
        c.print(Text(f"  correction: {m.correction}"))
        if m.evidence:
            c.print(Text(f"  evidence: {m.evidence[:200]}"))
    if view.flags:
        c.print(Text("flags: " + ", ".join(view.flags), style="magenta"))
    for n in view.notes:
        c.print(Text(f"note: {n}", style="dim"))
    c.print(Text(f"grade {view.display:g}/5 ({view.score:.2f}) · {view.grader}", style="bold"))
