"""Small stand-ins for the TUI's fast pilot tests (the real grader, Whisper and store run in the slow and
end-to-end tests). ``LexicalScorer`` marks a concept covered when one of its terms is in the answer, with
the evidence span, so results are deterministic and instant."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from agent.answer import Answer
from agent.grading.judge import CheckedConcept, JudgeResult
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit, half_point
from tui.services import Services, Unavailable

FIXED = datetime(2026, 1, 2, 9, 30, tzinfo=timezone.utc)


def judged(grade: float, feedback: str, *, follow_up: str | None = None,
           missing: tuple[str, ...] = ()) -> JudgeResult:
    """A canned LLM judge result (the real judge is driven over HTTP in test_turn_rule.py)."""
    return JudgeResult(ok=True, model="judge-stand-in", grade=grade, effective_grade=grade, feedback=feedback,
                       follow_up=follow_up,
                       concepts=[CheckedConcept(concept_id=c, verdict="missing", verified=True) for c in missing])


def judge_failed(failure: str) -> JudgeResult:
    return JudgeResult(ok=False, model="judge-stand-in", failure=failure, failure_kind="server_error")


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
        for m in rubric.misconceptions[:1]:
            if "only" in low and "last" in low:
                i = low.find("only")
                mis.append(MisconceptionHit(misconception_id=m.id, claim=m.claim, correction=m.correction,
                                            similarity=0.9, evidence=Evidence(start=i, end=i + 4, text=answer[i:i + 4])))
        s = 5 * total / rubric.total_weight
        return Grade(question_id=question.id, score=s, display=half_point(s), verdicts=verdicts,
                     misconceptions=mis, feedback=[f"You did not mention {v.name}." for v in verdicts
                                                   if v.verdict == "missing"],
                     grader="lexical-fake", grader_version="1", model="none", answer_chars=len(answer))


class FakeServices(Services):
    """The real Services (real bank, real Interview, real SQLite store) with a lexical scorer, a canned
    judge, and voice answers 'transcribed' from a text file next to the audio (``x.wav`` -> ``x.txt``)."""

    def __init__(self, bank, db: Path, *, judge: JudgeResult | None = None, voice_ok: bool = True):
        super().__init__()
        self._bank = bank
        self.db = db
        self.judge_result = judge
        self.voice_ok = voice_ok
        self.spoken: list[str] = []
        self.interviews: list = []
        self.judge_gate = threading.Event()
        self.judge_gate.set()
        self.grade_calls = 0
        self.segment_pause = 0.0  # seconds between the transcript's updates while 'speaking'

    def store(self):
        from agent.store import Store

        with self._lock:
            if self._store is None:
                self._store = Store(self.db)
            return self._store

    def warm_grader(self):
        return "lexical stand-in"

    def warm_whisper(self):
        return "whisper stand-in"

    def new_interview(self, config):
        from agent.interview import Interview

        svc = self

        class Counting(LexicalScorer):
            def score(self, q, r, a):
                if a != "warming up":  # the screen's background warm-up grade
                    svc.grade_calls += 1
                return super().score(q, r, a)

        iv = Interview(self._bank, config, store=self.store(), scorer=Counting(), clock=lambda: FIXED)
        self.interviews.append(iv)
        return iv

    def judge_available(self):
        return None if self.judge_result is not None else "no judge configured"

    def judge(self, question, rubric, answer):
        self.judge_gate.wait(10)
        assert self.judge_result is not None
        return self.judge_result

    def speak(self, text, on_status=None):
        if not self.voice_ok:
            if on_status:
                on_status("no audio output device; questions are shown in text")
            return
        self.spoken.append(text)

    def listen(self, question_id, on_level, on_text, stop, audio_file=None):
        if audio_file is None:
            raise Unavailable("no microphone found; you can type your answer instead.")
        on_level(0.5)
        text = Path(audio_file).with_suffix(".txt").read_text().strip()
        if not text:  # as the real capture says of a silent recording
            from agent.speech.capture import NothingHeard

            raise NothingHeard()
        sentences = text.split(". ")
        for i in range(len(sentences)):  # the whole transcript so far, as the real streamer reports it
            on_text(". ".join(sentences[: i + 1]))
            time.sleep(self.segment_pause)
        insights = {
            "wpm": 142.0, "filler_count": 3, "fillers": [{"text": "um", "start": 1.0}] * 3,
            "pauses": [{"start": 2.0, "end": 4.5, "duration": 2.5}],
            "wpm_over_time": [[0, 15, 120.0], [15, 30, 135.0], [30, 45, 150.0], [45, 50, 160.0]]}
        heard = text
        voice = Path(audio_file).with_suffix(".voice.json")  # optional: what was heard and the repaired terms
        if voice.exists():
            import json

            doc = json.loads(voice.read_text())
            heard, insights["repairs"] = doc["heard"], doc["repairs"]
        return Answer(text=text, source="voice", transcript=heard, audio_path=str(audio_file), insights=insights)

    def demo_info(self, name):
        from agent.demos import DemoInfo

        path = Path(self.db).parent / f"{name}.py"
        path.write_text("def run():\n    return 1 + 1\n", encoding="utf-8")
        return DemoInfo(name=name, title=f"{name} demo", concepts=("causal-mask",), questions=(), path=path)

    def run_demo(self, name):
        from agent.demos import Check, DemoResult, RunReport
        from agent.demos._runner import Finished, Output, Ran, Started

        yield Started(device="cpu", import_s=0.1)
        yield Output("plain output from the demo")
        result = DemoResult(narration="Masked positions get zero attention.", numbers={"max leak": 0.0})
        yield Ran(name=name, result=result, run_s=0.01)
        yield Finished(RunReport(name=name, device="cpu", result=result, seed=7, run_s=0.01, verify_s=0.01,
                                 checks=[Check("no future leakage", True, "0.0"),
                                         Check("rows sum to one", False, "gap 1e-3")]))
