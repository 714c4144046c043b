"""`viva interview [--text] [--voice] [--mode mock|practice|drill] [--n N] [--section S] [--topic T] [--seed N]`.

With ``--text`` (or when the terminal cannot run the app) the session runs in the plain terminal: each
question is printed, the answer is read from standard input until a blank line or the end of input, and
the grade, the per-concept verdicts with their evidence and the follow-up with its reason are printed.
Lines of their own starting with ':' are commands (:hint, :answer, :skip, :quit, and with voice on
:voice, which records a spoken answer from the microphone until a pause or Enter). Every graded answer is
saved at once; `viva resume` continues a session that was interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from agent.answer import Answer

if TYPE_CHECKING:
    from agent.interview import Interview
    from agent.models import Rubric, Turn
    from agent.speech.stt import Transcriber

# records one spoken answer to a question (its id), ending early when the event is set
Capture = Callable[[str | None, threading.Event], Answer]

ORDER = 10

COMMANDS = {":hint": "a hint (the answer stops counting as cold)", ":answer": "show the model answer",
            ":skip": "skip this question", ":quit": "stop here (the session can be resumed)"}
VOICE_COMMAND = ":voice"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interview", help="run a mock interview, practice or drill session",
                       description="Run an interview session. Without --text the interactive app opens when "
                       "the terminal supports it.")
    p.add_argument("--text", action="store_true", help="plain-terminal mode: answers from standard input")
    p.add_argument("--voice", action=argparse.BooleanOptionalAction, default=None,
                   help="answer aloud from the microphone (in --text mode with the :voice command); "
                   "default from the voice setting")
    p.add_argument("--mode", choices=["mock", "practice", "drill"], default="mock",
                   help="mock: N topics with follow-ups; practice: one topic, retries and hints; "
                   "drill: questions due for review (default: mock)")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="topics (mock, practice) or questions (drill); default from settings (5)")
    p.add_argument("--section", help="only questions of this section (e.g. A, or a topic tag)")
    p.add_argument("--topic", help="only questions whose topic contains this text")
    p.add_argument("--seed", type=int, default=0, help="seed for the question order (default 0)")
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN", help="end after this many minutes")
    p.add_argument("--depth", type=int, default=None, help="follow-ups per topic (default: mock 2, practice 3)")
    p.add_argument("--judge", action="store_true",
                   help="refine each grade with the LLM judge (settings: judge_model, judge_base_url)")
    p.set_defaults(func=cmd_interview)


def cmd_interview(args: argparse.Namespace) -> int:
    from agent.config import get_settings
    from agent.session_config import SessionConfig  # not agent.interview: the app's first paint need not wait

    settings = get_settings()
    cfg = SessionConfig(mode=args.mode, n_questions=args.n or settings.questions_per_session,
                        section=args.section, topic=args.topic,
                        time_limit_s=SessionConfig.seconds(args.time_limit), seed=args.seed,
                        voice=settings.voice if args.voice is None else args.voice,
                        judge=args.judge or settings.judge, max_depth=args.depth)
    if not args.text and _tui_possible():
        from tui.app import run_app

        # the app answers by voice when --voice or the `voice` setting says so (it falls back to typing
        # without a microphone)
        return run_app(options=cfg) or 0
    from agent.bank import default_bank
    from agent.interview import Interview

    store = open_store()
    iv = Interview(default_bank(), cfg, store=store)
    return run_text(iv, sys.stdin, sys.stdout)


def _tui_possible() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def open_store() -> Any:
    """The history store; says so when a corrupt database had to be set aside."""
    from agent.store import Store

    store = Store()
    message = store.recovery_message()
    if message is not None:
        print(f"viva: {message}", file=sys.stderr)
    return store


def bank_or_none() -> Any:
    """The bank for figures that only refine the history (section totals); a broken bank is said, not fatal."""
    from agent.bank import BankError, default_bank

    try:
        return default_bank()
    except BankError as e:
        print(f"viva: the question bank has {len(e.problems)} problem(s) (`viva bank check` lists them); "
              "showing the history without section totals", file=sys.stderr)
        return None


# --------------------------------------------------------------------------- the text-mode loop


def _read_answer(stdin: TextIO, out: TextIO, blank_ends: bool = False) -> tuple[str, bool]:
    """Lines until a blank line or end of input: (text, reached_eof). A leading blank line is skipped,
    or returned as "" when ``blank_ends``."""
    lines: list[str] = []
    while True:
        out.write("> " if not lines else ". ")
        out.flush()
        line = stdin.readline()
        if not line:
            out.write("\n")
            return "\n".join(lines).strip(), True
        line = line.rstrip("\n")
        if not line.strip():
            if lines or blank_ends:
                return "\n".join(lines).strip(), False
            continue  # leading blank lines are ignored
        if not lines and (line.strip().lower() in COMMANDS or line.strip().lower() == VOICE_COMMAND):
            return line.strip().lower(), False
        lines.append(line)


def microphone_capture(bank: Any) -> Capture:
    """The default capture: the microphone, endpointed by a pause (or ended by the loop's ``stop``), with
    Whisper loaded on the first answer and kept for the next."""
    transcriber: list[Transcriber] = []

    def capture(question_id: str | None, stop: threading.Event) -> Answer:
        import os

        from agent.speech.capture import capture_answer
        from agent.speech.stt import Transcriber

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if not transcriber:
            transcriber.append(Transcriber())
        return capture_answer(question_id, bank, transcriber[0], stop=stop)

    return capture


class VoiceInput:
    """Spoken answers in the text loop: ``:voice`` records one; what is wrong (no microphone, nothing heard)
    is said and typing goes on. ``capture`` records an answer (default: the microphone)."""

    def __init__(self, iv: Interview, out: TextIO, capture: Capture | None = None) -> None:
        self.out = out
        self.on = bool(iv.config.voice)
        self.capture = capture
        if self.on and capture is None:
            from agent.speech.capture import microphone_available

            reason = microphone_available()
            if reason is not None:
                self._off(reason)
            else:
                self.capture = microphone_capture(iv.bank)

    def _off(self, reason: str) -> None:
        self.on = False
        reason = reason.rstrip(". ")
        self.out.write(f"Voice is off: {reason}{'' if 'type' in reason else '; type your answers'}.\n")
        self.out.flush()

    def instructions(self) -> str:
        return (f"Voice is on: type {VOICE_COMMAND} on a line of its own and speak your answer; a pause (or Enter) "
                "ends the recording.\n")

    def take(self, question_id: str | None, stdin: TextIO) -> Answer | None:
        """Record and transcribe one spoken answer and print what was heard; None when there is none (the
        reason is printed, and the candidate types instead)."""
        from agent.speech.capture import CaptureUnavailable, NothingHeard, repair_lines

        out = self.out
        if not self.on or self.capture is None:
            out.write("  (voice is off: type your answer)\n")
            out.flush()
            return None
        out.write("  ● recording: speak now; a pause (or Enter) ends the answer ...\n")
        out.flush()
        try:
            answer = _run_capture(self.capture, question_id, stdin)
        except NothingHeard as e:
            out.write(f"  {e}\n")
            out.flush()
            return None
        except CaptureUnavailable as e:
            self._off(str(e))
            return None
        for line in repair_lines(answer):
            out.write(f"  {line}\n")
        out.flush()
        return answer


def _run_capture(capture: Capture, question_id: str | None, stdin: TextIO) -> Answer:
    """Run ``capture`` in a thread; on a terminal, Enter stops the recording (a pause stops it anyway)."""
    import select

    stop = threading.Event()
    result: list[Answer] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(capture(question_id, stop))
        except BaseException as e:  # handed to the loop's thread
            error.append(e)

    worker = threading.Thread(target=run, name="viva-capture", daemon=True)
    worker.start()
    watch = stdin.isatty() if hasattr(stdin, "isatty") else False
    try:
        while worker.is_alive():
            if watch and not stop.is_set():
                ready, _, _ = select.select([stdin], [], [], 0.1)
                if ready:
                    stdin.readline()
                    stop.set()
            else:
                worker.join(0.1)
    except KeyboardInterrupt:
        stop.set()
        worker.join(5.0)
        raise
    if error:
        raise error[0]
    return result[0]


def print_grade(turn: Turn, out: TextIO, rubric: Rubric | None = None) -> None:
    """The grade, one line per concept with its evidence, misconceptions, feedback and, with the rubric, the
    coaching (what a strong answer adds; for a spoken answer the delivery notes, ranked): the lines of
    :func:`agent.grade_view.text_lines`, which the session review prints too."""
    from agent.grade_view import grade_view, text_lines

    view = grade_view(turn.grade, turn, rubric)
    out.write(f"\n{view.headline}\n")
    for line in text_lines(view, evidence_chars=90):
        out.write(f"  {line}\n")
    out.flush()


def _rubric_or_none(iv: Interview, qid: str) -> Rubric | None:
    try:
        return iv.rubric_for(qid)
    except KeyError:
        return None


def _clip(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _header(iv: Interview, out: TextIO) -> None:
    q = iv.current
    assert q is not None
    ch = iv.current_choice
    label = f"[{iv.progress}]"
    if ch is not None and ch.is_follow_up:
        label += f" follow-up ({ch.kind})"
    out.write(f"\n{label} {q.id} · section {iv.bank.section_label(q.section)} · {q.topic} · {q.difficulty}\n")
    if ch is not None and ch.is_follow_up:
        out.write(f"  why: {ch.reason}\n")
    elif ch is not None and ch.kind == "review":
        out.write(f"  {ch.reason}\n")
    out.write(f"Q: {q.prompt}\n")
    out.flush()


def run_text(iv: Interview, stdin: TextIO, out: TextIO, *, resumed: bool = False,
             capture: Capture | None = None) -> int:
    """Drive a session in the plain terminal. Returns the exit code (0; an interrupted session stays open).
    With voice on (the session's config), ``:voice`` answers aloud through ``capture`` (default: the
    microphone); without a microphone that is said once and answers are typed."""
    if resumed:
        out.write(f"Resuming session {iv.session_id} ({iv.config.mode}): {len(iv.turns)} answer(s) so far.\n")
    else:
        iv.start()
        out.write(f"viva {iv.config.mode} session {iv.session_id}: {iv.config.n_questions} "
                  f"{'questions' if iv.config.mode == 'drill' else 'topics'}, seed {iv.config.seed}. "
                  f"Resume later with `viva resume {iv.session_id}`.\n")
    if iv.notice:
        out.write(f"{iv.notice}\n")
    out.write("Answer over as many lines as you like; a blank line (or end of input) submits. Commands on a "
              "line of their own: " + ", ".join(COMMANDS) + ".\n")
    voice = VoiceInput(iv, out, capture)
    if voice.on:
        out.write(voice.instructions())
    out.flush()
    loaded = False
    eof = False
    if resumed and iv.answered and iv.current is not None:  # stopped between an answer and the next question
        out.write(f"Your answer to {iv.current.id} was saved.\n")
        pick = iv.next_choices(3)[0]
        out.write(f"\nThat's the end: {pick.reason}.\n" if pick.ends else f"Next ({pick.kind}): {pick.reason}\n")
        iv.advance(pick)
    while iv.current is not None and not eof:
        _header(iv, out)
        answered = False
        retry = False
        while True:
            text, eof = _read_answer(stdin, out, blank_ends=retry)
            if text == ":quit" or (eof and not text and not answered):
                return _paused(iv, out)
            if not text or text == ":skip":
                break
            if text == ":hint":
                out.write(f"  {iv.hint()}\n")
                continue
            if text == ":answer":
                out.write(f"  Model answer: {iv.reveal_model_answer()}\n")
                continue
            if text == VOICE_COMMAND:
                spoken = voice.take(iv.current.id if iv.current is not None else None, stdin)
                if spoken is None:  # said why; the answer is typed instead
                    continue
                answer = spoken
            else:
                answer = Answer.typed(text)
            if not loaded:
                out.write("  (loading the grader ...)\n")
                out.flush()
                loaded = True
            turn = _grade_and_record(iv, answer, stdin, out)
            if answer.spoken:
                from agent.speech.capture import discard_recording

                discard_recording(answer)  # the history has kept its copy (keep_audio setting)
            if turn is None:  # grading kept failing and the candidate moved on
                break
            answered = True
            print_grade(turn, out, _rubric_or_none(iv, turn.question_id))
            if eof or not iv.can_retry or turn.grade.score >= 4.5:
                break
            out.write("Another attempt? Type it, or a blank line to move on.\n")
            out.flush()
            retry = True
        if not answered:
            iv.skip()
            out.write("  skipped.\n")
            continue
        choices = iv.next_choices(3)
        pick = choices[0]
        if pick.ends:
            out.write(f"\nThat's the end: {pick.reason}.\n")
        else:
            out.write(f"\nNext ({pick.kind}): {pick.reason}\n")
        for alt in choices[1:]:
            what = "end here" if alt.ends else f"{alt.kind}: {alt.question.prompt if alt.question else ''}"
            out.write(f"  also possible ({_clip(what, 100)}): {alt.reason}\n")
        if iv.advance(pick) is None:
            break
    if iv.current is None:
        return _summary(iv, out)
    return _paused(iv, out)


def _grade_and_record(iv: Interview, answer: Answer, stdin: TextIO, out: TextIO) -> Turn | None:
    """Grade and save an answer, typed or spoken (:meth:`Interview.answer`), then, with the judge on, refine the
    saved turn with it (:meth:`Interview.refine_turn`): the turn returned carries the grade that is stored. When
    grading fails the answer is kept and the grading can be retried."""
    from agent.errors import UserError

    text = answer.text
    while True:
        try:
            turn = iv.answer(answer)
        except (UserError, KeyboardInterrupt):
            raise
        except Exception as e:  # the grader failed: say so, keep the answer, let the candidate decide
            out.write(f"  grading failed: {type(e).__name__}: {e}\n  Your answer is kept. Press Enter to grade "
                      "it again, or type :skip to move on.\n")
            out.flush()
            line = stdin.readline()
            if not line or line.strip().lower() in (":skip", ":quit"):
                out.write(f"  (unsaved answer: {_clip(text, 400)})\n")
                return None
            continue
        break
    if iv.config.judge:
        out.write("  (asking the LLM judge ...)\n")
        out.flush()
        turn = iv.refine_turn(turn.index)
        if iv.notice and iv.notice.startswith("LLM judge"):
            out.write(f"  {iv.notice}\n")
            iv.notice = None
    return turn


def _paused(iv: Interview, out: TextIO) -> int:
    if not iv.turns:
        out.write("\nStopped before any answer; nothing was saved.\n")
    else:
        out.write(f"\nStopped after {len(iv.turns)} answer(s); everything graded is saved. "
                  f"Continue with `viva resume {iv.session_id}`.\n")
    out.flush()
    return 0


def _summary(iv: Interview, out: TextIO) -> int:
    iv.finish()
    turns = iv.turns
    out.write(f"\nSession {iv.session_id} finished: {len(turns)} answer(s)")
    if turns:
        mean = sum(t.grade.score for t in turns) / len(turns)
        out.write(f", mean grade {mean:.2f}/5")
    out.write(".\n")
    if iv.store is not None:
        goal = iv.store.goal(iv.bank)
        out.write(f"Goal: {goal}.\n")
        if turns:  # a session without an answer is not stored
            out.write(f"Report: `viva report {iv.session_id}`.\n")
    out.flush()
    return 0
