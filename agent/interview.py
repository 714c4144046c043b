"""The interview session: a small state machine over the bank, driven by the TUI or `viva interview --text`.

Pure and UI-free: no printing, no Textual. The same bank, config (seed included) and grades always give the
same questions. Each recorded turn is committed to the :class:`agent.store.Store` at once, together with
what the session is asking next, so a killed process resumes exactly where it stopped. The session itself
is stored with its first answer: one left before any answer leaves nothing "open" behind.

Modes:

* ``mock``: ``n_questions`` topics walked through the bank graph with adaptive follow-ups (at most two per
  topic), optionally under a time limit; one attempt per question.
* ``practice``: one topic or section; retries and hints allowed (later attempts are not "cold").
* ``drill``: the questions due by spaced repetition, most overdue first (new questions when none is due).

An answer is *cold* when it is the first attempt at the question, with no hint and no model answer shown.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from agent.answer import Answer
from agent.errors import UserError
from agent.models import Grade, Question, Rubric, Turn
from agent.policy import (
    END,
    FollowUpChoice,
    Policy,
    PolicyState,
    asked_question,
    concept_hints,
    derive,
    validate_proposal,
)
from agent.session_config import MODES, Mode, SessionConfig

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.grading.base import Scorer
    from agent.grading.judge import Judge, JudgeResult
    from agent.store import Store

log = logging.getLogger(__name__)

#: an optional proposer of extra follow-ups (e.g. LLM-written), validated before it is offered:
#: called with (question, rubric, answer, grade) and returning a prompt and the concept it probes, or None.
Proposer = Callable[[Question, Rubric, str, Grade], "tuple[str, str] | None"]

__all__ = ["MODES", "FollowUpChoice", "Interview", "InterviewError", "Mode", "SessionConfig"]


class InterviewError(UserError):
    """A call that does not fit the session's state (answering after the end, a second mock attempt ...)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Interview:
    """One session. ``start()``, then per question ``answer`` (and, with the LLM judge on, ``refine_turn`` or
    ``apply_judge``), ``next_choices`` and ``advance`` until it returns None.

    Which grade is stored: a turn is recorded with the session scorer's grade. When an LLM judge result
    arrives (:meth:`apply_judge`; :meth:`refine_turn` runs the judge and applies it), the stored grade
    becomes the blend of the scorer's grade and the judge's result (:func:`agent.grading.blend.blend`), the
    scorer's grade is kept as ``Turn.offline_grade``, and the turn's verdict rows and spaced-repetition
    review follow the new grade. A failed judge result is stored and the scorer's grade stands. The CLI and
    the app both go through these calls, so history, mastery and review scheduling do not depend on the
    front end."""

    def __init__(self, bank: Bank, config: SessionConfig | None = None, store: Store | None = None,
                 scorer: Scorer | None = None, *, clock: Callable[[], datetime] = _now,
                 proposer: Proposer | None = None):
        self.bank = bank
        self.config = config or SessionConfig()
        self.store = store
        self._scorer = scorer
        self.clock = clock
        self.proposer = proposer
        self.session_id: str = uuid.uuid4().hex[:12]
        self.started_at: datetime | None = None
        self.stored = False  # the session's row exists: written with its first answer, never before
        self.current: Question | None = None
        self.current_choice: FollowUpChoice | None = None
        self.finished = False
        self.turns: list[Turn] = []
        self.state = PolicyState()
        self.notice: str | None = None  # something the UI should say once (e.g. "nothing due; new questions")
        self._derived: dict[str, tuple[Question, Rubric, str]] = {}
        self._attempts = 0
        self._hinted = False
        self._shown = False
        self._hints_given = 0
        self._last_grade: Grade | None = None
        self._last_answer: str | None = None
        self._judge: Judge | None = None
        self.policy = self._make_policy()

    # ------------------------------------------------------------------ setup

    def _make_policy(self) -> Policy:
        cfg = self.config
        pool = [q.id for q in self.bank.select(section=cfg.section, topic=cfg.topic) if q.id in self.bank.rubrics]
        if (cfg.section or cfg.topic) and not pool:
            what = " and ".join(f"{k} {v!r}" for k, v in (("section", cfg.section), ("topic", cfg.topic)) if v)
            raise UserError(f"no question matches {what}; `viva bank list` shows the sections and topics")
        if not pool:
            raise UserError("the question bank is empty; add questions/ and rubrics/ (see `viva bank check`)")
        return Policy(self.bank, mode=cfg.mode, n_questions=cfg.n_questions, max_depth=cfg.max_depth,
                      seed=cfg.seed, pool=sorted(pool))

    def _practice_pool(self) -> None:
        """Practice stays on one topic: the section/topic asked for, else the first question's section."""
        if self.config.mode != "practice" or self.config.section or self.config.topic:
            return
        first = self.policy.first(self.state)
        if first is not None and first.question is not None:
            sec = first.question.section
            self.policy.pool = sorted(q.id for q in self.bank.select(section=sec) if q.id in self.bank.rubrics)

    def _drill_queue(self) -> None:
        if self.config.mode != "drill":
            return
        now = self.clock()
        pool = set(self.policy.pool or [])
        queue: list[str] = []
        reasons: dict[str, str] = {}
        if self.store is not None:
            from agent.srs import RATING_NAMES

            for item in self.store.due(now):
                if item.question_id in pool:
                    queue.append(item.question_id)
                    reasons[item.question_id] = (f"due for review since {item.due:%Y-%m-%d %H:%M} "
                                                 f"(last rated {RATING_NAMES.get(item.rating, '?')})")
            seen = {d.question_id for d in self.store.scheduled()}
        else:
            seen = set()
        n_due = len(queue)
        if n_due < self.config.n_questions:
            import random

            fresh = sorted(q for q in pool if q not in seen)
            random.Random(f"{self.config.seed}:drill").shuffle(fresh)
            for q in fresh[: self.config.n_questions - n_due]:
                queue.append(q)
                reasons[q] = "a new question (never reviewed)"
            if n_due == 0:
                self.notice = "Nothing is due for review; drilling new questions instead."
            else:
                self.notice = f"{n_due} question(s) due; topped up with new ones."
        queue = queue[: self.config.n_questions]
        if not queue:
            self.notice = "Nothing is due and every question has been reviewed; come back later."
        self.policy.queue = queue
        self.policy.due_reasons = reasons

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            from agent.grading.base import get_scorer

            self._scorer = get_scorer()
        return self._scorer

    # ------------------------------------------------------------------ questions and rubrics

    def rubric_for(self, question: Question | str) -> Rubric:
        qid = question if isinstance(question, str) else question.id
        if qid in self.bank.rubrics:
            return self.bank.rubrics[qid]
        got = self._resolve_derived(qid)
        if got is None:
            return self.bank.rubric(qid)  # raises with a suggestion
        return got[1]

    @property
    def rubric(self) -> Rubric | None:
        return self.rubric_for(self.current) if self.current is not None else None

    def parent_of(self, question: Question | str) -> str | None:
        """The bank question an inline follow-up belongs to (None for bank questions)."""
        qid = question if isinstance(question, str) else question.id
        if qid in self.bank.questions:
            return None
        got = self._resolve_derived(qid)
        return got[2] if got else None

    def _resolve_derived(self, qid: str) -> tuple[Question, Rubric, str] | None:
        if qid not in self._derived:
            got = derive(self.bank, qid)
            if got is None:
                return None
            self._derived[qid] = got
        return self._derived[qid]

    def question(self, qid: str) -> Question:
        if qid in self.bank.questions:
            return self.bank.questions[qid]
        got = self._resolve_derived(qid)
        if got is None:
            return self.bank.question(qid)
        return got[0]

    # ------------------------------------------------------------------ the flow

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self.started_at is None else (self.clock() - self.started_at).total_seconds()

    @property
    def time_up(self) -> bool:
        lim = self.config.time_limit_s
        return lim is not None and self.elapsed_s >= lim

    @property
    def topic_number(self) -> int:
        """1-based number of the current topic (follow-ups share their topic's number)."""
        return len(self.state.roots)

    @property
    def question_number(self) -> int:
        """1-based number of the current question among all asked so far, follow-ups included."""
        return len(self.state.asked)

    @property
    def progress(self) -> str:
        """Where the session is, said the same way by the app and the CLI: 'Topic 2/3 · question 4'.

        ``n_questions`` (--n, the home screen's count) counts topics: a topic is a question and its
        follow-ups, so the questions asked may outnumber it. A drill has no follow-ups: one count."""
        total = self.config.n_questions
        if self.config.mode == "drill":
            return f"Question {self.topic_number}/{total}"
        return f"Topic {self.topic_number}/{total} · question {self.question_number}"

    def start(self) -> Question:
        """Open the session and return the first question."""
        if self.started_at is not None:
            if self.current is None:
                raise InterviewError("this session is over; start a new one")
            return self.current
        self.started_at = self.clock()
        self._practice_pool()
        self._drill_queue()
        first = self.policy.first(self.state)
        if first is None or first.question is None:
            if self.config.mode == "drill":  # nothing to review is not a failure
                raise InterviewError(self.notice or "nothing to review", exit_code=0)
            raise InterviewError("no question to ask; check the section/topic filters")
        self._ask(first)
        return first.question

    def _ask(self, choice: FollowUpChoice) -> None:
        q = choice.question
        assert q is not None
        if choice.is_follow_up:
            self.state.depth += 1
        else:
            self.state.roots.append(q.id)
            self.state.new_topic()
        if choice.concept:
            parent = self.parent_of(q) or (self.current and (self.parent_of(self.current) or self.current.id))
            self.state.probed.append(f"{parent}:{choice.concept}")
        self.state.asked.append(q.id)
        self.current, self.current_choice = q, choice
        self._attempts, self._hinted, self._shown, self._hints_given = 0, False, False, 0
        self._last_grade, self._last_answer = None, None
        self._save()

    def _store_session(self) -> None:
        """Write the session's row, once, with its first answer: a session left before any answer (quit, home,
        another session started, a crash) leaves nothing behind, so none lingers as "open"."""
        if self.store is None or self.stored:
            return
        assert self.started_at is not None
        info = self.store.create_session(self.config.mode, self.config.to_dict(), session_id=self.session_id,
                                         now=self.started_at)
        self.session_id, self.stored = info.id, True

    def _save(self) -> None:
        if self.store is None or not self.stored:
            return
        self.store.save_state(self.session_id, {
            "policy": self.state.to_dict(),
            "current": self.current.id if self.current is not None else None,
            "choice": self.current_choice.to_dict() if self.current_choice is not None else None,
            "hinted": self._hinted, "shown": self._shown, "hints": self._hints_given,
            "queue": self.policy.queue, "pool": self.policy.pool, "reasons": self.policy.due_reasons,
            "notice": self.notice,
        })

    def _require_current(self) -> Question:
        if self.finished or self.current is None:
            raise InterviewError("the session is over; start a new one (or `viva resume` an unfinished one)")
        return self.current

    @property
    def cold(self) -> bool:
        """Whether an answer now would count as cold."""
        return self._attempts == 0 and not self._hinted and not self._shown

    @property
    def answered(self) -> bool:
        """Whether the current question already has a recorded answer (e.g. just before a crash)."""
        return self._attempts > 0

    @property
    def can_retry(self) -> bool:
        return self.config.mode == "practice"

    def grade(self, answer: str) -> Grade:
        """Grade an answer to the current question (no side effects; safe to run in a worker thread)."""
        q = self._require_current()
        return self.scorer.score(q, self.rubric_for(q), answer)

    def answer(self, answer: Answer, grade: Grade | None = None) -> Turn:
        """Record an answer to the current question as a :class:`Turn`, committed to the history at once.

        ``grade`` is the grade already computed with :meth:`grade` (the app grades in a worker); None grades
        it here with the session's scorer. The stored grade is the scorer's until a judge result is applied
        (:meth:`apply_judge`)."""
        q = self._require_current()
        if self._attempts and not self.can_retry:
            raise InterviewError(f"{self.config.mode} mode allows one answer per question; advance() to move on "
                                 "(practice mode allows retries)")
        if grade is None:
            grade = self.grade(answer.text)
        index = len(self.turns)
        parent = self.parent_of(q)
        source_q = self.bank.questions.get(parent or q.id)
        turn = Turn(
            session_id=self.session_id, index=index, question_id=q.id, parent_id=parent, prompt=q.prompt,
            section=q.section, topic=q.topic, seed=source_q.source.seed if source_q else q.source.seed,
            answer=answer.text, source=answer.source if answer.source in ("typed", "voice") else "typed",
            transcript=answer.transcript, words=answer.words, audio_path=self._keep_audio(answer.audio_path, index),
            grade=grade, insights=answer.insights, cold=self.cold, hinted=self._hinted,
            model_answer_shown=self._shown, attempt=self._attempts + 1,
            choice=self.current_choice.to_dict() if self.current_choice is not None else None,
            created_at=self.clock(),
        )
        if self.store is not None:
            self._store_session()
            self.store.add_turn(turn)
        self.turns.append(turn)
        self._attempts += 1
        self._last_grade, self._last_answer = grade, answer.text
        self.policy.note(self.state, q, grade, answer.text, parent)
        self._save()
        return turn

    def _turn_pos(self, index: int | None) -> int:
        if not self.turns:
            raise InterviewError("no answer has been recorded in this session yet")
        if index is None:
            return len(self.turns) - 1
        pos = next((i for i, t in enumerate(self.turns) if t.index == index), -1)
        if pos < 0:
            raise InterviewError(f"this session has no answer numbered {index + 1}")
        return pos

    def _asked_as(self, turn: Turn) -> Question:
        """The question of a recorded turn as it was put (a written follow-up keeps its prompt)."""
        q = self.question(turn.question_id)
        return q if not turn.prompt or q.prompt == turn.prompt else q.model_copy(update={"prompt": turn.prompt})

    def apply_judge(self, index: int, result: JudgeResult) -> Turn:
        """Apply an LLM judge result to the recorded turn numbered ``index``: the stored grade becomes
        ``blend(scorer's grade, result, rubric)`` and the scorer's grade is kept as ``offline_grade``; the
        result is stored in ``judge``; the history's score, verdict rows and the review the turn made follow.
        Applying again re-blends from the scorer's grade (idempotent). A failed result (``result.ok`` False)
        is stored as ``{"ok": False, "failure": ...}`` and the scorer's grade stands.

        In memory: the session's turn, the grade the follow-ups are chosen from (when it is the current
        question's latest answer) and the policy's record of the session's grades and, for the current topic,
        its covered concepts (a concept the blend newly covers is added; one it takes away stays noted)."""
        from agent.grading.blend import blend

        pos = self._turn_pos(index)
        old = self.turns[pos]
        offline = old.offline_grade if old.offline_grade is not None else old.grade
        if result.ok and result.effective_grade is not None:
            try:
                rubric: Rubric | None = self.rubric_for(old.question_id)
            except KeyError:
                rubric = None
            grade, kept = blend(offline, result, rubric), offline
            judge = result.model_dump(mode="json")
        else:
            grade, kept = offline, None
            judge = {"ok": False, "failure": result.failure or "the LLM judge gave no result",
                     "failure_kind": result.failure_kind, "model": result.model}
        turn = old.model_copy(update={"grade": grade, "offline_grade": kept, "judge": judge})
        if self.store is not None and self.stored:
            self.store.regrade_turn(turn)
        self.turns[pos] = turn
        if pos == len(self.turns) - 1 and self.current is not None and turn.question_id == self.current.id:
            self._last_grade = grade
        if len(self.state.scores) == len(self.turns):
            self.state.scores[pos] = float(grade.score)
        root = self.state.root
        if root is not None and root in self.state.asked:
            topic = self.state.asked[len(self.state.asked) - 1 - self.state.asked[::-1].index(root):]
            if turn.question_id in topic:
                source = turn.parent_id or turn.question_id
                for cid in grade.covered:
                    if f"{source}:{cid}" not in self.state.covered:
                        self.state.covered.append(f"{source}:{cid}")
        self._save()
        return turn

    def refine_turn(self, index: int | None = None) -> Turn:
        """Run the session's LLM judge on a recorded turn (the latest by default) and apply its result
        (:meth:`apply_judge`); blocking. With the judge off the turn is returned as it is. A judge that is
        missing turns the judge off and says so in ``notice``; one that fails unexpectedly leaves the
        scorer's grade and says so too (endpoint failures come back as a failed result and are stored)."""
        pos = self._turn_pos(index)
        turn = self.turns[pos]
        if not self.config.judge:
            return turn
        try:
            if self._judge is None:
                from agent.grading.judge import Judge

                self._judge = Judge()
            result = self._judge.judge(self._asked_as(turn), self.rubric_for(turn.question_id), turn.answer)
        except UserError as e:  # e.g. the judge extra is not installed
            self.notice = f"LLM judge off: {e}"
            self.config.judge = False
            return turn
        except Exception as e:  # the judge module reports endpoint failures itself; this is anything else
            log.warning("LLM judge failed (%s); keeping the offline grade", e)
            self.notice = f"LLM judge failed ({type(e).__name__}); keeping the offline grade"
            return turn
        return self.apply_judge(turn.index, result)

    def _keep_audio(self, audio_path: str | Path | None, index: int) -> str | None:
        """Copy a recording next to the history when the keep_audio setting is on; else keep nothing."""
        if audio_path is None:
            return None
        from agent.config import get_settings

        if not get_settings().keep_audio or self.store is None:
            return None
        src = Path(audio_path)
        if not src.is_file():
            log.warning("recording %s is gone; the turn is saved without audio", src)
            return None
        dest_dir = self.store.audio_dir(self.session_id)
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{index:03d}{src.suffix or '.wav'}"
        shutil.copyfile(src, dest)
        return str(dest)

    def hint(self) -> str:
        """A nudge toward the key concepts not yet covered, heaviest first, each from its vaguest hint to its
        most specific (the rubric's hints; a neutral nudge when it has none). The attempt stops being cold."""
        q = self._require_current()
        rubric = self.rubric_for(q)
        covered = set(self._last_grade.covered) if self._last_grade is not None else set()
        todo = [c for c in sorted(rubric.concepts, key=lambda c: -c.weight) if c.id not in covered]
        plan = [h for k, c in enumerate(todo) for h in concept_hints(c, k)]
        self._hinted = True
        if self._hints_given >= len(plan):
            self._save()
            return "No more hints: show the model answer to see it whole."
        text = plan[self._hints_given]
        self._hints_given += 1
        self._save()
        return f"Hint {self._hints_given}/{len(plan)}: {text}"

    def reveal_model_answer(self) -> str:
        q = self._require_current()
        self._shown = True
        self._save()
        return q.model_answer

    def next_choices(self, n: int = 3) -> list[FollowUpChoice]:
        """What could come next, best first; the first is the policy's pick. Each carries its reason."""
        q = self._require_current()
        parent = self.parent_of(q)
        choices = self.policy.rank(q, self._last_grade, self.state, parent_id=parent, time_up=self.time_up, n=n)
        proposed = self._proposed(q, parent)
        if proposed is not None and choices and not choices[0].ends:
            choices = [choices[0], proposed, *choices[1:]][:n]
        return choices

    def _proposed(self, q: Question, parent: str | None) -> FollowUpChoice | None:
        """A follow-up written for this answer (by ``proposer``, else by the LLM judge when it is on),
        offered only when it probes a concept of the rubric that has not been probed yet."""
        if self._last_grade is None or self._last_answer is None or parent is not None:
            return None
        if self.state.depth >= (self.policy.max_depth or 0):
            return None
        rubric = self.rubric_for(q)
        prompt: str | None = None
        concept: str | None = None
        source = "a follow-up written for your answer"
        if self.proposer is not None:
            try:
                got = self.proposer(q, rubric, self._last_answer, self._last_grade)
            except Exception as e:  # a failing proposer never blocks the interview
                log.warning("follow-up proposer failed (%s); using the bank's follow-ups", e)
                got = None
            if got:
                prompt, concept = got
                if concept not in {c.id for c in rubric.concepts} or \
                        validate_proposal(q, rubric, prompt, [concept]) is None:
                    log.info("proposed follow-up rejected: %r does not probe a concept of %s", concept, q.id)
                    prompt = concept = None
        if prompt is None and self.config.judge:
            judge = self.turns[-1].judge if self.turns and self.turns[-1].question_id == q.id else None
            if isinstance(judge, dict) and judge.get("ok") and judge.get("follow_up"):
                weak = [c.get("concept_id") for c in judge.get("concepts", [])
                        if isinstance(c, dict) and c.get("verdict") in ("missing", "partial")]
                weak += self._last_grade.missing
                concept = validate_proposal(q, rubric, judge["follow_up"], weak)
                if concept is not None:
                    prompt, source = judge["follow_up"], "the judge's follow-up on your answer"
                else:
                    log.info("judge follow-up rejected for %s: it matches no rubric concept", q.id)
        if prompt is None or concept is None or f"{q.id}:{concept}" in self.state.probed:
            return None
        derived, _ = asked_question(q, rubric, concept, prompt)
        if derived.id in self.state.asked:
            return None
        choice = FollowUpChoice(derived, derived.prompt, concept, "probe", source)
        if self.policy.already_covered(choice, q.id, self.state, self._last_grade):
            return None
        return choice

    def advance(self, choice: FollowUpChoice | None = None) -> Question | None:
        """Move to ``choice`` (default: the policy's pick). Returns the next question, or None at the end."""
        self._require_current()
        if choice is None:
            choices = self.next_choices(1)
            choice = choices[0] if choices else FollowUpChoice(None, None, None, END, "nothing left to ask")
        if choice.ends or choice.question is None:
            self.finish()
            return None
        if choice.question.id in self.state.asked:
            raise InterviewError(f"{choice.question.id!r} was already asked in this session")
        if choice.prompt and choice.question.id not in self.bank.questions:
            self._derived[choice.question.id] = (choice.question, self._derived_rubric(choice),
                                                 self.parent_of(self.current) or self.current.id)
        self._ask(choice)
        return self.current

    def _derived_rubric(self, choice: FollowUpChoice) -> Rubric:
        got = derive(self.bank, choice.question.id)
        if got is not None:
            return got[1]
        return self.rubric_for(self.current)

    def skip_followup(self) -> Question | None:
        """Decline the follow-ups offered after an answer: open a new topic (or end, when the topics are done)."""
        self._require_current()
        moves = [c for c in self.next_choices(12) if not c.is_follow_up]
        return self.advance(moves[0] if moves else FollowUpChoice(None, None, None, END, "no follow-up wanted"))

    def skip(self) -> Question | None:
        """Leave the current question unanswered and open a new topic (None: the session is over)."""
        q = self._require_current()
        if not self._attempts:
            self.state.skipped.append(q.id)
        grade = self._last_grade
        self._last_grade = None  # skipping moves on to a new topic
        try:
            choices = self.policy.rank(q, None, self.state, parent_id=self.parent_of(q), time_up=self.time_up)
        finally:
            self._last_grade = grade
        return self.advance(choices[0] if choices else None)

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.current, self.current_choice = None, None
        if self.store is not None and self.stored:
            self._save()
            self.store.finish_session(self.session_id, now=self.clock())

    # ------------------------------------------------------------------ resume

    @classmethod
    def resume(cls, bank: Bank, store: Store, session_id: str, scorer: Scorer | None = None, *,
               clock: Callable[[], datetime] = _now, proposer: Proposer | None = None) -> Interview:
        """Continue an unfinished session from the history database."""
        info = store.session(session_id)
        if info.finished:
            raise InterviewError(f"session {info.id} is finished; `viva report {info.id}` shows it, "
                                 "`viva interview` starts a new one")
        it = cls(bank, SessionConfig.from_dict(info.config), store, scorer, clock=clock, proposer=proposer)
        it.session_id = info.id
        it.stored = True
        it.started_at = info.started_at
        it.turns = store.turns(info.id)
        st = store.load_state(info.id)
        it.state = PolicyState.from_dict(st.get("policy", {}))
        it.policy.queue = st.get("queue")
        if st.get("pool") is not None:
            it.policy.pool = st["pool"]
        it.policy.due_reasons = st.get("reasons") or {}
        cur = st.get("current")
        if cur is None:
            raise InterviewError(f"session {info.id} has nothing left to ask; `viva report {info.id}` shows it")
        try:
            it.current = it.question(cur)
        except KeyError:
            raise InterviewError(f"session {info.id} was asking {cur!r}, which is no longer in the bank") from None
        ch = st.get("choice") or {}
        it.current_choice = FollowUpChoice(it.current, ch.get("prompt"), ch.get("concept"),
                                           ch.get("kind", "new-topic"), ch.get("reason", "resumed"))
        if ch.get("prompt") and cur not in bank.questions and it.current.prompt != ch["prompt"]:
            it.current = it.current.model_copy(update={"prompt": ch["prompt"]})  # a written follow-up
            got = it._derived[cur]
            it._derived[cur] = (it.current, got[1], got[2])
        it._hinted, it._shown, it._hints_given = bool(st.get("hinted")), bool(st.get("shown")), int(st.get("hints", 0))
        mine = [t for t in it.turns if t.question_id == cur]
        trailing = 0
        for t in reversed(it.turns):
            if t.question_id != cur:
                break
            trailing += 1
        it._attempts = trailing
        if mine and trailing:
            it._last_grade, it._last_answer = mine[-1].grade, mine[-1].answer
        return it
