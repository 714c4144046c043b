"""Ad-hoc rubrics: derive concepts from a question and one or more reference answers.

Used for external data (``viva eval``) and for quick user questions (``viva score --question --reference``).
The first reference is split into clauses; each clause becomes a concept whose exemplars are the clause
itself plus the best-aligned clause of every other reference (by shared content words), and whose terms
are its content words that the question does not already contain. Alternative references that cover the
whole answer on their own are also kept as whole-answer exemplars, so an answer phrased like any
reference is recognised.
"""

from __future__ import annotations

import hashlib
import re

from agent.grading import text as tx
from agent.models import SLUG_RE, Concept, Question, Rubric, Source

ADHOC_SEED = "adhoc"
ADHOC_TAG = "adhoc"
MAX_CONCEPTS = 8


def _id_for(question_text: str, references: list[str]) -> str:
    h = hashlib.blake2b(("\x1f".join([question_text, *references])).encode("utf-8"), digest_size=5).hexdigest()
    return f"adhoc-{h}"


def _slug(text: str, used: set[str]) -> str:
    base = "-".join(re.findall(r"[a-z0-9]+", text.lower())[:5]) or "concept"
    slug, n = base, 2
    while slug in used:
        slug, n = f"{base}-{n}", n + 1
    used.add(slug)
    return slug


def _pieces(reference: str) -> list[str]:
    out: list[str] = []
    for s in tx.sentences(reference):
        out += [c.text.strip(" .") for c in tx.clauses(reference, s, min_words=4)]
    return [p for p in out if tx.content_words(p)] or [reference.strip()]


def is_adhoc(question: Question) -> bool:
    return question.source.seed == ADHOC_SEED or ADHOC_TAG in question.tags


def adhoc_rubric(question_text: str, reference_answer: str | list[str],
                 key_concepts: list[str] | None = None, question_id: str | None = None) -> tuple[Question, Rubric]:
    """Build a (Question, Rubric) pair from a question and reference answer(s).

    ``key_concepts``, when given, are short statements that each become a concept (their exemplars are
    the statement plus any reference clause that shares content words with it).
    """
    from agent.errors import UserError

    refs = [reference_answer] if isinstance(reference_answer, str) else list(reference_answer)
    refs = [r.strip() for r in refs if r and r.strip()]
    if not question_text or not question_text.strip():
        raise UserError("an ad-hoc rubric needs the question text (--question TEXT)")
    if not refs:
        raise UserError("an ad-hoc rubric needs at least one non-empty reference answer (--reference TEXT)")
    q_stems = tx.content_stems(question_text)
    qid = question_id if question_id and SLUG_RE.match(question_id) else _id_for(question_text, refs)

    if key_concepts:
        heads = [k.strip() for k in key_concepts if k and k.strip()][:MAX_CONCEPTS]
    else:
        heads = _pieces(refs[0])[:MAX_CONCEPTS]
    rest = refs[1:] if not key_concepts else refs
    others = [p for r in rest for p in _pieces(r)] + [r for r in rest if len(_pieces(r)) > 1]
    used: set[str] = set()
    concepts: list[Concept] = []
    for head in heads:
        stems = tx.content_stems(head)
        exemplars = [head]
        for p in others:
            ps = tx.content_stems(p)
            if len(heads) == 1 or (stems and len(stems & ps) / len(stems | ps) >= 0.25):
                if p not in exemplars:
                    exemplars.append(p)
        terms = list(dict.fromkeys(w for w in tx.content_words(head) if tx.stem(w) not in q_stems))
        concepts.append(Concept(
            id=_slug(head, used), name=head[:80], weight=1.0, description=head, exemplars=exemplars[:12],
            terms=terms[:12],
        ))
    question = Question(
        id=qid, section="adhoc", topic="ad hoc", prompt=question_text.strip(), model_answer=refs[0],
        key_concepts=[c.id for c in concepts], source=Source(seed=ADHOC_SEED, item=qid), tags=[ADHOC_TAG],
    )
    rubric = Rubric(question_id=qid, version=1, concepts=concepts)
    return question, rubric
