"""Small stand-ins for the TUI's fast pilot tests (the real grader, Whisper and store run in the slow and
end-to-end tests). ``LexicalScorer`` marks a concept covered when one of its terms is in the answer, with
the evidence span, so results are deterministic and instant."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit, half_point
from tui.services import DemoInfo, Progress, SessionRow, Unavailable

FIXED = datetime(2026, 1, 2, 9, 30, tzinfo=timezone.utc)


class LexicalScorer:
    name = "lexical-fake"
    version = "1"

    def score(self, question, rubric, answer: str) -> Grade:
        low = answer.lower()
        verdicts, total = [], 0.0
        for c in rubric.concepts:
            hit = None
            for term in sorted(c.terms, key=len, reverse=True):
                i = low.find(term.lower())
                if i >= 0:
                    hit = Evidence(start=i, end=i + len(term), text=answer[i:i + len(term)])
                    break
            verdict = "covered" if hit else "missing"
            score = 1.0 if hit else 0.0
            total += score * c.weight
            verdicts.append(ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, verdict=verdict,
                                           similarity=score, lexical=score, score=score, evidence=hit))
        mis = []
        for m in rubric.misconceptions:
            if "only" in low and "last" in low:
                i = low.find("only")
                mis.append(MisconceptionHit(misconception_id=m.id, claim=m.claim, correction=m.correction,
                                            similarity=0.9, evidence=Evidence(start=i, end=i + 4, text=answer[i:i + 4])))
        s = 5 * total / rubric.total_weight
        return Grade(question_id=question.id, score=s, display=half_point(s), verdicts=verdicts,
                     misconceptions=mis, feedback=[f"You did not mention {v.name}." for v in verdicts
                                                   if v.verdict == "missing"],
                     grader="lexical-fake", grader_version="1", model="none", answer_chars=len(answer))


class FakeChoice:
    def __init__(self, question, prompt, concept, kind, reason):
        self.question, self.prompt, self.concept, self.kind, self.reason = question, prompt, concept, kind, reason


class FakeTurn:
    def __init__(self, index, question, answer, grade, source):
        self.index, self.question_id, self.answer, self.grade, self.source = index, question.id, answer, grade, source


class FakeConfig:
    def __init__(self, n):
        self.n_questions = n


class FakeInterview:
    """The agreed interview API over the real bank, in memory."""

    def __init__(self, bank, n: int = 3, scorer=None):
        self.bank = bank
        self.config = FakeConfig(n)
        self.scorer = scorer or LexicalScorer()
        ids = sorted(q for q in bank.questions if q in bank.rubrics)
        self.order = ["clm-loss"] + [q for q in ids if q != "clm-loss"]
        self.pos = 0
        self.current = None
        self.turns: list[FakeTurn] = []
        self.finished = False
        self.session_id = "s-fixed"
        self.skipped: list[str] = []
        self.grade_calls = 0

    def start(self):
        self.current = self.bank.question(self.order[0])
        return self.current

    def grade(self, answer: str):
        self.grade_calls += 1
        return self.scorer.score(self.current, self.bank.rubric(self.current.id), answer)

    def record(self, answer, grade, *, source="typed", transcript=None, insights=None, audio_path=None):
        t = FakeTurn(len(self.turns), self.current, answer, grade, source)
        t.insights = insights
        self.turns.append(t)
        return t

    def hint(self):
        return "think about " + self.bank.rubric(self.current.id).concepts[0].name

    def reveal_model_answer(self):
        return self.current.model_answer

    def next_choices(self, n=3):
        if len(self.turns) >= self.config.n_questions:
            return []
        out = []
        last = self.turns[-1].grade if self.turns else None
        missing = last.missing if last else []
        for qid in self.order[self.pos + 1:self.pos + 1 + n]:
            q = self.bank.question(qid)
            why = f"you did not mention {missing[0]}" if missing and not out else f"next in section {q.section}"
            out.append(FakeChoice(q, q.prompt, None, "probe" if not out else "next", why))
        return out

    def _goto(self, q):
        if q is None or len(self.turns) >= self.config.n_questions:
            self.finished = True
            self.current = None
            return None
        self.pos = self.order.index(q.id)
        self.current = q
        return q

    def advance(self, choice=None):
        if choice is None:
            nxt = self.order[self.pos + 1] if self.pos + 1 < len(self.order) else None
            return self._goto(self.bank.question(nxt) if nxt else None)
        return self._goto(choice.question)

    def skip(self):
        self.skipped.append(self.current.id)
        nxt = self.order[self.pos + 1] if self.pos + 1 < len(self.order) else None
        return self._goto(self.bank.question(nxt) if nxt else None)


class FakeServices:
    """Services over the real bank with a lexical scorer, a canned history, and audio 'transcribed' from a
    text file next to it (``x.wav`` -> ``x.txt``) for the fast voice-flow test."""

    def __init__(self, bank, *, n: int = 3, judge: dict | None = None, voice_ok: bool = True):
        self._bank = bank
        self.n = n
        self.judge_result = judge
        self.voice_ok = voice_ok
        self.spoken: list[str] = []
        self.interviews: list[FakeInterview] = []
        self.judge_gate = threading.Event()
        self.judge_gate.set()

    def bank(self):
        return self._bank

    def sections(self):
        return self._bank.sections()

    def rubric(self, q):
        return self._bank.rubrics.get(q.id)

    def warm_grader(self):
        return "lexical fake"

    def new_interview(self, opts):
        iv = FakeInterview(self._bank, n=opts.n_questions)
        self.interviews.append(iv)
        return iv

    def judge_available(self):
        return None if self.judge_result is not None else "no judge configured"

    def judge(self, question, rubric, answer, grade):
        self.judge_gate.wait(10)
        if "error" in (self.judge_result or {}):
            raise Unavailable(self.judge_result["error"])
        return dict(self.judge_result or {})

    def progress(self):
        return Progress(
            sessions=[SessionRow("s1", "mock", "2026-01-01 10:00", 5, 3.5),
                      SessionRow("s2", "practice", "2026-01-02 09:30", 3, 2.0)],
            mastery=[("section", "A", 0.62, 4), ("concept", "cross-entropy on the next token", 0.9, 3),
                     ("concept", "every position is a target", 0.4, 2)],
            grades=[1.0, 2.5, 3.0, 2.0, 3.5, 4.0, 4.5, 3.5], cold=7, cold_goal=25, cold_of=40)

    def speak(self, text):
        if not self.voice_ok:
            raise Unavailable("no audio output device; questions are shown in text")
        self.spoken.append(text)

    def record(self, on_level, stop):
        raise Unavailable("no microphone found")

    def transcribe(self, audio: Path, on_segment):
        text = Path(audio).with_suffix(".txt").read_text().strip()
        for sentence in text.split(". "):
            on_segment(sentence)
        return text, {"wpm": 142.0, "fillers": {"um": 2, "like": 1}, "pauses": [1.2],
                      "pace_series": [120, 135, 150, 160, 140, 138]}

    def demo_info(self, name):
        return DemoInfo(name=name, title=f"{name} demo", source="def run():\n    return 1 + 1\n",
                        concepts=["causal-mask"])

    def run_demo(self, name):
        import json

        yield json.dumps({"event": "ready", "device": "cpu"})
        yield "plain output from the demo"
        yield json.dumps({"event": "result", "run_s": 0.01,
                          "result": {"narration": "Masked positions get zero attention.",
                                     "numbers": {"max leak": 0.0}, "tables": []}})
        yield json.dumps({"event": "check", "name": "no future leakage", "passed": True, "detail": "0.0"})
        yield json.dumps({"event": "check", "name": "rows sum to one", "passed": False, "detail": "gap 1e-3"})
        yield json.dumps({"event": "done", "seed": 7, "passed": False})
        yield "\x00exit 0"
