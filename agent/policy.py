"""The follow-up policy: what to ask next, and why.

Given the question just answered, its grade and what the session has asked so far, the policy ranks the
possible next questions:

* an uncorrected misconception -> a corrective follow-up: the claim put back to the candidate ("is that
  right?"), graded against the rubric's correction, under the concept the correction is about;
* a missing key concept -> probe it (the question's own follow-up for that concept, else an inline probe);
  a partially covered one comes next;
* a strong answer -> go deeper (the question's deeper / contrast follow-ups); never deeper after an answer
  graded under 3;
* a weak answer -> step back to a prerequisite, or move on; two answers under 3 in a row step back to a
  prerequisite (the question's own link, else an easier question of its section) before anything else;
* never a follow-up on what the topic's answers already covered (a concept graded covered, or a bank
  question whose key concepts the answers already named);
* never the same question twice in a session; at most ``max_depth`` follow-ups on one topic, then a
  new topic; the session ends after ``n_questions`` topics or when its time is up.

Every choice carries its reason in words, in the candidate's terms ("you covered the mask; one part is
still open"), and never names a concept the candidate has not yet given: probes use the rubric's ``probe``
and hints its ``hints``; a rubric without them gets neutral wording. The policy is pure: the same bank, grade, state and seed always
give the same ranking. Inline follow-ups become *derived* questions with stable ids
(``<parent>-fuN``, ``<parent>-probe-<concept>``, ``<parent>-fix-<misconception>``, and
``<parent>-ask-<concept>`` for a follow-up written by the LLM judge), each with a
one-concept rubric taken from the parent's, so they are graded like any other question and can be
rebuilt from their id when a session is resumed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.bank import leaked_terms
from agent.models import Concept, FollowUp, Grade, Question, Rubric

if TYPE_CHECKING:
    from agent.bank import Bank

#: a grade at or above this (with nothing missing and no misconception) is "strong"
STRONG_AT = 4.0
#: a grade under this (or a don't-know / empty answer) is "weak"
WEAK_BELOW = 1.5
#: under this grade an answer is "thin": no deeper question follows it, and two in a row step back
DEEPER_FROM = 3.0
DEFAULT_DEPTH = {"mock": 2, "practice": 3, "drill": 0}
DIFFICULTY_RANK = {"easy": 0, "medium": 1, "hard": 2}

# kinds of choice
CORRECTIVE, PROBE, DEEPER, PREREQUISITE, CONTRAST = "corrective", "probe", "deeper", "prerequisite", "contrast"
NEW_TOPIC, REVIEW, END = "new-topic", "review", "end"


@dataclass
class FollowUpChoice:
    """One possible next step. ``question`` is what would be asked (a bank or derived question); ``prompt``
    is set for inline follow-ups; ``kind`` is corrective, probe, deeper, prerequisite, contrast, new-topic,
    review or end; ``reason`` says why, in words a candidate understands."""

    question: Question | None
    prompt: str | None
    concept: str | None
    kind: str
    reason: str

    @property
    def question_id(self) -> str | None:
        return self.question.id if self.question is not None else None

    @property
    def ends(self) -> bool:
        return self.kind == END

    @property
    def is_follow_up(self) -> bool:
        return self.kind not in (NEW_TOPIC, REVIEW, END)

    def to_dict(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "prompt": self.prompt, "concept": self.concept,
                "kind": self.kind, "reason": self.reason}


@dataclass
class PolicyState:
    """What the session has done so far, as the policy needs it (saved with the session for resume)."""

    asked: list[str] = field(default_factory=list)  # every question id put to the candidate, in order
    roots: list[str] = field(default_factory=list)  # the topic-opening questions, in order
    depth: int = 0  # follow-ups taken since the current topic opened
    probed: list[str] = field(default_factory=list)  # "<parent>:<concept>" probed in the current topic
    skipped: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # every recorded grade of the session, in order
    covered: list[str] = field(default_factory=list)  # "<question>:<concept>" graded covered in this topic
    said: list[str] = field(default_factory=list)  # the answers given in this topic

    def to_dict(self) -> dict[str, Any]:
        return {"asked": self.asked, "roots": self.roots, "depth": self.depth, "probed": self.probed,
                "skipped": self.skipped, "scores": self.scores, "covered": self.covered, "said": self.said}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PolicyState:
        return cls(asked=list(d.get("asked", [])), roots=list(d.get("roots", [])), depth=int(d.get("depth", 0)),
                   probed=list(d.get("probed", [])), skipped=list(d.get("skipped", [])),
                   scores=[float(x) for x in d.get("scores", [])], covered=list(d.get("covered", [])),
                   said=list(d.get("said", [])))

    def new_topic(self) -> None:
        self.depth = 0
        self.probed, self.covered, self.said = [], [], []

    @property
    def root(self) -> str | None:
        return self.roots[-1] if self.roots else None


# --------------------------------------------------------------------------- derived questions

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the of to in on and or is are be it its that this for with as by at from than "
                  "not no so we you they model models token tokens".split())


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def related_concept(rubric: Rubric, text: str) -> Concept:
    """The rubric concept sharing most words with ``text`` (ties: the heavier, then the first)."""
    target = _words(text)

    def overlap(c: Concept) -> tuple[int, float]:
        mine = _words(" ".join([c.name, c.description, *c.exemplars, *c.terms]))
        return (len(target & mine), c.weight)

    best = max(enumerate(rubric.concepts), key=lambda ic: (*overlap(ic[1]), -ic[0]))
    return best[1]


def _derived_question(parent: Question, qid: str, prompt: str, model_answer: str, concept: str) -> Question:
    return Question(id=qid, section=parent.section, topic=parent.topic, prompt=prompt, model_answer=model_answer,
                    key_concepts=[concept], follow_ups=[], difficulty=parent.difficulty, source=parent.source,
                    tags=[*parent.tags, "follow-up"])


def inline_follow_up(parent: Question, rubric: Rubric, i: int) -> tuple[Question, Rubric]:
    """The parent's ``i``-th (0-based) follow-up, when it is an inline prompt, as a question + rubric."""
    fu = parent.follow_ups[i]
    assert fu.prompt is not None
    c = rubric.concept(fu.concept)
    q = _derived_question(parent, f"{parent.id}-fu{i + 1}", fu.prompt, c.description, c.id)
    return q, Rubric(question_id=q.id, version=rubric.version, concepts=[c], misconceptions=rubric.misconceptions)


#: neutral wordings for a rubric without probes or hints (a user's bank): they name nothing
NEUTRAL_PROBES = (
    "Your answer left one part of the question open. What else would a complete answer say, and why?",
    "There is one more part to this. What else would you add?",
)
NEUTRAL_PARTIAL = (
    "You started on one part of this but left it unfinished. Can you take that part further?",
    "Can you take the last part of your answer further?",
)
NEUTRAL_HINTS = (
    "Think about what the question asks that your answer has not reached yet: how it works, and why it is needed.",
    "Ask yourself what would go wrong without the missing piece.",
)


def _neutral(concept: Concept, options: tuple[str, ...]) -> str:
    return next((o for o in options if not leaked_terms(concept, o)), options[-1])


def probe_prompt(concept: Concept, partial: bool = False) -> str:
    """The interviewer's question for a concept: the rubric's probe, else a neutral one that names nothing."""
    if concept.probe and concept.probe.strip():
        return concept.probe.strip()
    return _neutral(concept, NEUTRAL_PARTIAL if partial else NEUTRAL_PROBES)


def concept_hints(concept: Concept, k: int = 0) -> list[str]:
    """The hints for a concept, vague to specific: the rubric's; else its probe as a question to ask oneself;
    else one neutral nudge (the ``k``-th concept of a list gets the ``k``-th wording, so two differ)."""
    hints = [h.strip() for h in concept.hints if h.strip()]
    if hints:
        return hints
    if concept.probe and concept.probe.strip():
        return [f"Ask yourself: {concept.probe.strip()}"]
    n = len(NEUTRAL_HINTS)
    return [_neutral(concept, tuple(NEUTRAL_HINTS[(k + i) % n] for i in range(n)))]


def probe_question(parent: Question, rubric: Rubric, concept_id: str, partial: bool = False) -> tuple[Question, Rubric]:
    c = rubric.concept(concept_id)
    prompt = probe_prompt(c, partial)
    q = _derived_question(parent, f"{parent.id}-probe-{c.id}", prompt, c.description, c.id)
    return q, Rubric(question_id=q.id, version=rubric.version, concepts=[c], misconceptions=rubric.misconceptions)


def corrective_question(parent: Question, rubric: Rubric, misconception_id: str) -> tuple[Question, Rubric]:
    m = next(m for m in rubric.misconceptions if m.id == misconception_id)
    base = related_concept(rubric, f"{m.claim} {m.correction}")
    claim = m.claim.rstrip(". ")
    prompt = f"Let's check one claim: \"{claim}.\" Is that right? Explain what actually happens."
    concept = Concept(id=base.id, name=base.name, weight=base.weight, description=m.correction,
                      exemplars=[m.correction, *base.exemplars], terms=base.terms, demo=base.demo,
                      computational=base.computational)
    q = _derived_question(parent, f"{parent.id}-fix-{m.id}", prompt, m.correction, base.id)
    return q, Rubric(question_id=q.id, version=rubric.version, concepts=[concept], misconceptions=[m])


def asked_question(parent: Question, rubric: Rubric, concept_id: str, prompt: str) -> tuple[Question, Rubric]:
    """A follow-up written elsewhere (the LLM judge) that probes one concept of the parent's rubric."""
    c = rubric.concept(concept_id)
    q = _derived_question(parent, f"{parent.id}-ask-{c.id}", prompt.strip(), c.description, c.id)
    return q, Rubric(question_id=q.id, version=rubric.version, concepts=[c], misconceptions=rubric.misconceptions)


MAX_PROPOSED_CHARS = 400


def validate_proposal(question: Question, rubric: Rubric, prompt: str | None,
                      weak: list[str] | None = None) -> str | None:
    """The rubric concept a proposed follow-up probes, or None when it is not acceptable.

    Acceptable: 3 words to 400 characters, not a restatement of the question, and sharing content words with
    a concept of the rubric. Among equally good matches, a concept in ``weak`` (missing/partial) wins.
    """
    if not prompt or not isinstance(prompt, str):
        return None
    text = " ".join(prompt.split())
    if len(text.split()) < 3 or len(text) > MAX_PROPOSED_CHARS:
        return None
    mine, theirs = _words(text), _words(question.prompt)
    if mine and theirs and len(mine & theirs) / len(mine | theirs) >= 0.8:
        return None  # the question again
    weak = weak or []

    def overlap(c: Concept) -> int:
        return len(mine & _words(" ".join([c.name, c.description, *c.exemplars, *c.terms])))

    scored = [(overlap(c), c.id in weak, c.weight, -i, c.id) for i, c in enumerate(rubric.concepts)]
    best = max(scored)
    return best[-1] if best[0] >= 1 else None


def derive(bank: Bank, qid: str) -> tuple[Question, Rubric, str] | None:
    """Rebuild a derived question from its id: (question, rubric, parent id), or None if it is not one."""
    parents = sorted((p for p in bank.questions if qid.startswith(p + "-")), key=len, reverse=True)
    for pid in parents:
        parent, rubric = bank.questions[pid], bank.rubrics.get(pid)
        if rubric is None:
            continue
        rest = qid[len(pid) + 1:]
        m = re.fullmatch(r"fu(\d+)", rest)
        if m and 1 <= int(m.group(1)) <= len(parent.follow_ups) and parent.follow_ups[int(m.group(1)) - 1].prompt:
            return (*inline_follow_up(parent, rubric, int(m.group(1)) - 1), pid)
        if rest.startswith("probe-") and rest[6:] in {c.id for c in rubric.concepts}:
            return (*probe_question(parent, rubric, rest[6:]), pid)
        if rest.startswith("ask-") and rest[4:] in {c.id for c in rubric.concepts}:
            c = rubric.concept(rest[4:])  # the written prompt itself is restored from the session's state
            return (*asked_question(parent, rubric, c.id, probe_prompt(c)), pid)
        if rest.startswith("fix-") and rest[4:] in {m.id for m in rubric.misconceptions}:
            return (*corrective_question(parent, rubric, rest[4:]), pid)
    return None


# --------------------------------------------------------------------------- the policy


@dataclass
class Policy:
    bank: Bank
    mode: str = "mock"
    n_questions: int = 5
    max_depth: int | None = None
    seed: int = 0
    pool: list[str] | None = None  # the questions this session may open topics with (None: the whole bank)
    queue: list[str] | None = None  # drill: the review order (due first); opens topics in this order
    due_reasons: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_depth is None:
            self.max_depth = DEFAULT_DEPTH.get(self.mode, 2)

    # ---- topics

    def _pool(self) -> list[str]:
        ids = self.pool if self.pool is not None else list(self.bank.questions)
        return [q for q in ids if q in self.bank.questions and q in self.bank.rubrics]

    def open_topics(self, state: PolicyState, limit: int = 3) -> list[FollowUpChoice]:
        """Candidate questions to open a new topic with, best first."""
        asked = set(state.asked)
        if self.queue is not None:
            ids = [q for q in self.queue if q not in asked and q in self.bank.questions and q in self.bank.rubrics]
            return [FollowUpChoice(self.bank.questions[q], None, None, REVIEW,
                                   self.due_reasons.get(q, "next in the review queue")) for q in ids[:limit]]
        ids = sorted(q for q in self._pool() if q not in asked)
        if not ids:
            return []
        rng = random.Random(f"{self.seed}:{len(state.roots)}")
        rng.shuffle(ids)
        seen_topics = {self.bank.questions[r].topic for r in state.roots if r in self.bank.questions}
        last = self.bank.questions.get(state.root) if state.root else None
        first = not state.roots

        def pref(qid: str) -> tuple[int, int, int]:
            q = self.bank.questions[qid]
            return (int(q.topic in seen_topics),
                    int(last is not None and q.section == last.section),
                    DIFFICULTY_RANK[q.difficulty] if first else 0)

        ranked = sorted(ids, key=pref)  # stable: the seeded shuffle breaks ties
        out = []
        for qid in ranked[:limit]:
            q = self.bank.questions[qid]
            if first:
                reason = f"opening with {q.topic}"
            elif q.topic not in seen_topics:
                reason = f"moving to a new topic: {q.topic}"
            else:
                reason = f"another question on {q.topic}"
            out.append(FollowUpChoice(q, None, None, NEW_TOPIC, reason))
        return out

    def first(self, state: PolicyState) -> FollowUpChoice | None:
        opts = self.open_topics(state, 1)
        return opts[0] if opts else None

    # ---- follow-ups

    def _follow_up_choice(self, parent: Question, rubric: Rubric, i: int, fu: FollowUp, kind: str,
                          reason: str) -> FollowUpChoice | None:
        if fu.question is not None:
            q = self.bank.questions.get(fu.question)
            if q is None or fu.question not in self.bank.rubrics:
                return None  # a dangling link in the bank; `viva bank check` reports it
            if self.mode == "practice" and self.pool is not None and fu.question not in self.pool:
                return None  # practice stays on its topic
            return FollowUpChoice(q, None, fu.concept, kind, reason)
        try:
            q, _ = inline_follow_up(parent, rubric, i)
        except KeyError:
            return None
        return FollowUpChoice(q, fu.prompt, fu.concept, kind, reason)

    def rank(self, question: Question, grade: Grade | None, state: PolicyState, *,
             parent_id: str | None = None, time_up: bool = False, n: int = 3) -> list[FollowUpChoice]:
        """The next steps after ``question`` was answered with ``grade`` (None: skipped), best first."""
        root_name = self.bank.questions[state.root].topic if state.root in self.bank.questions else question.topic
        topics_done = len(state.roots)
        if time_up:
            return [FollowUpChoice(None, None, None, END, "time is up")]
        follow: list[tuple[int, int, FollowUpChoice]] = []
        can_follow = grade is not None and state.depth < (self.max_depth or 0)
        if grade is not None:
            follow = self._follow_ups(question, grade, state, parent_id)
        asked = set(state.asked)
        follow = [f for f in follow if f[2].question_id not in asked]
        seen: set[str | None] = set()
        ranked: list[FollowUpChoice] = []
        for _, _, ch in sorted(follow, key=lambda t: (t[0], t[1])):
            if ch.question_id not in seen:
                seen.add(ch.question_id)
                ranked.append(ch)
        last_topic = topics_done >= self.n_questions
        if last_topic:
            topic_reason = f"that was the last of {self.n_questions} topics"
            end = FollowUpChoice(None, None, None, END, topic_reason)
            topics: list[FollowUpChoice] = []
        else:
            topics = self.open_topics(state, n)
            end = FollowUpChoice(None, None, None, END, "the bank has no unasked question left")
        if grade is None:
            lead = "skipped"
        elif not can_follow and (self.max_depth or 0) > 0:
            lead = f"{state.depth} follow-ups on {root_name} (the limit)"
        elif not ranked:
            lead = f"nothing left to ask on {root_name}"
        else:
            lead = ""
        move_on = [_with_reason(t, f"{lead}; {t.reason}" if lead else t.reason) for t in topics] or \
                  [_with_reason(end, f"{lead}; {end.reason}" if lead else end.reason)]
        if can_follow and ranked:
            out = ranked[: max(1, n - 1)] + move_on[:1]
        else:
            out = move_on + ranked
        return out[:n]

    # ---- what the candidate has said

    def note(self, state: PolicyState, question: Question, grade: Grade, answer: str,
             parent_id: str | None = None) -> None:
        """Record an answer in ``state`` (its grade, the concepts it covered, its words); call it before
        :meth:`rank` for the same answer."""
        source = parent_id or question.id
        state.scores.append(float(grade.score))
        for cid in grade.covered:
            key = f"{source}:{cid}"
            if key not in state.covered:
                state.covered.append(key)
        if answer.strip():
            state.said.append(answer)

    def said_concepts(self, qid: str, state: PolicyState) -> set[str]:
        """The key concepts of bank question ``qid`` that the topic's answers already named (a term of the
        concept, or its name, in what was said)."""
        q, rubric = self.bank.questions.get(qid), self.bank.rubrics.get(qid)
        if q is None or rubric is None or not state.said:
            return set()
        text = "\n".join(state.said)
        out = set()
        for cid in q.key_concepts:
            try:
                c = rubric.concept(cid)
            except KeyError:
                continue
            if leaked_terms(c, text):
                out.add(cid)
        return out

    def already_covered(self, choice: FollowUpChoice, source_id: str, state: PolicyState,
                        grade: Grade | None = None) -> bool:
        """Whether the topic's answers already covered what ``choice`` would ask: its concept (a derived
        question of ``source_id``), or most of the key concepts of a bank question."""
        covered = set(state.covered)
        if grade is not None:
            covered |= {f"{source_id}:{c}" for c in grade.covered}
        q = choice.question
        if q is None or choice.kind == CORRECTIVE:
            return False  # a corrective asks about the misconception, which no covered concept settles
        if q.id not in self.bank.questions:  # a derived question grades one concept of its parent
            return choice.concept is not None and f"{source_id}:{choice.concept}" in covered
        if choice.kind in (PREREQUISITE, PROBE) and choice.concept and f"{source_id}:{choice.concept}" in covered:
            return True  # the groundwork behind (or a probe of) a concept the candidate already gave
        keys = q.key_concepts
        said = self.said_concepts(q.id, state) | {c for c in keys if f"{q.id}:{c}" in covered}
        return bool(keys) and len(said) * 2 > len(keys)

    def _gave(self, rubric: Rubric, grade: Grade, concept_id: str | None = None) -> str | None:
        """What the candidate gave, in their own words: 'you said "..."' (the evidence of the heaviest
        covered concept, or of ``concept_id``), else 'you covered "<concept name>"'; None if nothing."""
        ids = [concept_id] if concept_id else grade.covered
        got = [v for v in grade.verdicts if v.concept_id in ids and v.verdict == "covered"]
        if not got:
            return None
        v = max(got, key=lambda v: (v.evidence is not None, v.weight))
        if v.evidence is not None and v.evidence.text.strip():
            return f"you said \"{_clip_words(v.evidence.text)}\""
        name = rubric.concept(v.concept_id).name if v.concept_id in {c.id for c in rubric.concepts} else v.name
        return f"you covered \"{name}\""

    def _step_back(self, source: Question, state: PolicyState) -> FollowUpChoice | None:
        """An easier question of the same section (and topic, when there is one), for when the question has
        no prerequisite link left."""
        rank = DIFFICULTY_RANK[source.difficulty]
        asked = set(state.asked)
        ids = [q for q in self._pool() if q not in asked and q != source.id
               and self.bank.questions[q].section == source.section
               and DIFFICULTY_RANK[self.bank.questions[q].difficulty] < rank]
        if not ids:
            return None
        rng = random.Random(f"{self.seed}:back:{source.id}")
        ids.sort()
        rng.shuffle(ids)
        ids.sort(key=lambda q: (self.bank.questions[q].topic != source.topic,
                                DIFFICULTY_RANK[self.bank.questions[q].difficulty]))
        q = self.bank.questions[ids[0]]
        return FollowUpChoice(q, None, None, PREREQUISITE,
                              "two answers in a row were thin; stepping back to an easier question first")

    def _follow_ups(self, question: Question, grade: Grade, state: PolicyState,
                    parent_id: str | None) -> list[tuple[int, int, FollowUpChoice]]:
        """Candidate follow-ups as (priority, order, choice): lower is better."""
        bank = self.bank
        if parent_id is not None:  # a derived question: follow the parent's links
            source = bank.questions[parent_id]
        else:
            source = question
        rubric = bank.rubrics.get(source.id)
        if rubric is None:
            return []
        probed = set(state.probed)
        out: list[tuple[int, int, FollowUpChoice]] = []
        fus = list(enumerate(source.follow_ups))
        verdicts = {v.concept_id: v for v in grade.verdicts}
        concept_ids = {c.id for c in rubric.concepts}
        gave = self._gave(rubric, grade)

        # 1. uncorrected misconceptions -> corrective
        for k, hit in enumerate(sorted((m for m in grade.misconceptions if not m.corrected),
                                       key=lambda m: -m.similarity)):
            if hit.misconception_id not in {m.id for m in rubric.misconceptions}:
                continue
            base = related_concept(rubric, f"{hit.claim} {hit.correction}")
            said = f" (\"{hit.evidence.text.strip()}\")" if hit.evidence is not None else ""
            reason = f"your answer claimed that {_lc(hit.claim)}{said}; that is a misconception"
            q, _ = corrective_question(source, rubric, hit.misconception_id)
            choice = FollowUpChoice(q, q.prompt, base.id, CORRECTIVE, reason)
            out.append((0, k, choice))

        weak = grade.score < WEAK_BELOW or bool({"dont_know", "empty"} & set(grade.flags))
        thin = grade.score < DEEPER_FROM or weak
        # two thin answers in a row (this one and the one before it) -> step back first
        back = thin and len(state.scores) >= 2 and state.scores[-1] == grade.score and state.scores[-2] < DEEPER_FROM
        strong = (grade.score >= STRONG_AT and not grade.missing
                  and not any(not m.corrected for m in grade.misconceptions))

        # 2. missing (then partial) key concepts -> probe, heaviest first
        gaps = [v for v in grade.verdicts if v.verdict in ("missing", "partial") and v.concept_id in concept_ids
                and f"{source.id}:{v.concept_id}" not in probed]
        gaps.sort(key=lambda v: (v.verdict != "missing", -v.weight))
        if parent_id is not None:
            gaps = []  # a derived question probes one concept; its gap is answered by moving on
        for k, v in enumerate(gaps):
            c = rubric.concept(v.concept_id)
            if v.verdict == "missing":
                reason = (f"{gave}; one part of the question is still open" if gave
                          else "your answer has not reached a key part of the question yet")
            else:
                reason = (f"{gave} and started on another part; let's see if you can finish that thought"
                          if gave else "you started on a key part; let's see if you can finish that thought")
            prio = 1 if v.verdict == "missing" else 2
            if weak or back:
                prio += 2  # after a weak answer a prerequisite comes first
            choice = None
            # the author's own follow-ups for the concept: probe / prerequisite links, then inline prompts
            mine = [(i, fu) for i, fu in fus if fu.concept == c.id and fu.kind in ("probe", PREREQUISITE)]
            mine += [(i, fu) for i, fu in fus if fu.concept == c.id and fu.prompt and (i, fu) not in mine]
            for i, fu in mine:
                choice = self._follow_up_choice(source, rubric, i, fu, PROBE, reason)
                if choice is not None and choice.question_id not in state.asked \
                        and not leaked_terms(c, choice.prompt or choice.question.prompt):
                    break  # (a linked question that names the missing idea would give it away)
                choice = None
            if choice is None:
                q, _ = probe_question(source, rubric, c.id, partial=v.verdict == "partial")
                choice = FollowUpChoice(q, q.prompt, c.id, PROBE, reason)
            out.append((prio, k, choice))

        # 3. the question's own deeper / contrast / prerequisite links
        has_prerequisite = False
        for i, fu in fus:
            v = verdicts.get(fu.concept)
            covered = v is not None and v.verdict == "covered"
            this = self._gave(rubric, grade, fu.concept) if covered else None
            if fu.kind == PREREQUISITE:
                if back:
                    prio, reason = 0, "two answers in a row were thin; stepping back to the groundwork first"
                elif weak:
                    prio, reason = 1, "the answer was thin; stepping back to the groundwork first"
                else:
                    prio = 5
                    reason = (f"{this}; now the groundwork behind it" if this
                              else "the groundwork behind this question")
                kind = PREREQUISITE
            elif fu.kind in (DEEPER, CONTRAST):
                if thin:
                    continue  # never deeper (or sideways) after an answer under 3
                word = "going deeper" if fu.kind == DEEPER else "a contrast"
                if strong:
                    prio = 1
                    what = this or gave
                    reason = (f"strong answer ({grade.display:g}/5): {what}; {word}" if what
                              else f"strong answer ({grade.display:g}/5); {word}")
                elif covered:
                    prio = 3
                    reason = f"{this}; {word}"
                else:
                    prio = 6
                    reason = f"{gave}; {word} on this topic" if gave else f"{word} on this topic"
                kind = fu.kind
            else:  # "probe" links are used by the gap rule above; offered late otherwise
                prio, kind = 7, PROBE
                reason = f"{gave}; one more part of this question" if gave else "one more part of this question"
            choice = self._follow_up_choice(source, rubric, i, fu, kind, reason)
            if choice is not None:
                if kind == PREREQUISITE and choice.question_id not in state.asked \
                        and not self.already_covered(choice, source.id, state, grade):
                    has_prerequisite = True
                out.append((prio, 100 + i, choice))
        if back and not has_prerequisite:
            step = self._step_back(source, state)
            if step is not None:
                out.append((0, 99, step))
        return [t for t in out if not self.already_covered(t[2], source.id, state, grade)]


def _clip_words(text: str, n: int = 10) -> str:
    words = " ".join(text.split()).rstrip(".,;:").split(" ")
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")


def _lc(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _with_reason(choice: FollowUpChoice, reason: str) -> FollowUpChoice:
    return FollowUpChoice(choice.question, choice.prompt, choice.concept, choice.kind, reason)
