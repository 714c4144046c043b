"""Synthetic answers to rubrics made of the corpus's concepts: what the grader's calibration is fitted on
(dev topics) and what its held-out figures are measured on (test topics).

* a rubric is three concepts of one topic, with the first one's misconception (claim + correction);
* an answer states each concept, states it partly, contradicts it, only mentions it or leaves it out, with
  a sentence from the corpus, and in a quarter of the answers also states the misconception, in another
  quarter names it only to reject it; an answer with nothing of its rubric is a sentence of another topic;
  the sentences are shuffled, and half the time two neighbours are run together into one sentence; and two
  answers per rubric answer another topic's question (true grade 0);
* true concept credit 1 / 0.5 / 0; true grade 5 x their mean; a stated misconception caps it at 2.
Seeded: the same split and seed give the same answers. :func:`figures` says how a grader did on them.
"""

from __future__ import annotations

import random
from collections import defaultdict

from build_corpus import load_concepts, split_of

CREDIT = {"states": 1.0, "partly": 0.5}
CHOICES = ["states", "states", "partly", "contradicts", "mentions", "absent"]


JOINERS = (", and ", "; ", " and ", ", so ")


def run_together(parts: list[str], rng: random.Random) -> list[str]:
    """Join neighbouring sentences into one, half the time, as answers run facts together ("X, and y")."""
    out: list[str] = []
    for p in parts:
        if out and rng.random() < 0.5:
            first = p[:1].lower() if p[1:2].islower() else p[:1]  # "MAE ..." keeps its capital
            out[-1] = out[-1].rstrip(" .!?") + rng.choice(JOINERS) + first + p[1:]
        else:
            out.append(p)
    return out


def synthetic(split: str, seed: int, per_rubric: int = 16) -> list[dict]:
    """Synthetic answers to three-concept rubrics of the split's topics (see the module's docstring)."""
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for c in load_concepts():
        if split_of(c["topic"]) == split:
            by_topic[c["topic"]].append(c)
    topics = sorted(by_topic)
    rng = random.Random(seed)
    out = []
    for topic in topics:
        cs = by_topic[topic]
        for i in range(0, len(cs) - 2, 3):
            group = cs[i : i + 3]
            for _ in range(per_rubric):
                parts, credits, kinds = [], [], []
                for c in group:
                    kind = rng.choice(CHOICES)
                    kinds.append(kind)
                    credits.append(CREDIT.get(kind, 0.0))
                    if kind != "absent":
                        parts.append(rng.choice(c[kind]))
                mis = rng.choice(["none", "none", "states", "rejects"])
                if mis != "none":
                    parts.append(rng.choice(group[0][f"misconception_{mis}"]))
                other_topic = not parts
                if other_topic:  # nothing of this rubric: an answer from another topic of the split
                    other = by_topic[rng.choice([t for t in topics if t != topic])]
                    parts.append(rng.choice(rng.choice(other)["states"]))
                rng.shuffle(parts)
                parts = run_together(parts, rng)
                true = 5.0 * sum(credits) / len(credits)
                out.append({"group": group, "answer": " ".join(parts), "credits": credits, "kinds": kinds,
                            "misconception": mis, "other_topic": other_topic,
                            "true": min(true, 2.0) if mis == "states" else true})
            for _ in range(2):  # two answers to another question of the split, each one or two sentences
                other = by_topic[rng.choice([t for t in topics if t != topic])]
                parts = [rng.choice(c["states"]) for c in rng.sample(other, rng.choice([1, 2]))]
                out.append({"group": group, "answer": " ".join(parts), "credits": [0.0] * len(group),
                            "kinds": ["absent"] * len(group), "misconception": "none", "other_topic": True,
                            "true": 0.0})
    return out


def items_of(answers: list[dict]) -> list[tuple]:
    """(question, rubric, answer): one concept per corpus statement, the first concept's misconception."""
    from agent.models import Concept, Misconception, Question, Rubric, Source

    items = []
    for k, a in enumerate(answers):
        qid = f"synthetic-{k}"
        g = a["group"]
        concepts = [Concept(id=f"c{j}", name=c["statement"][:60], weight=1.0, description=c["statement"],
                            exemplars=[c["statement"]], terms=[]) for j, c in enumerate(g)]
        mis = [Misconception(id="m0", claim=g[0]["misconception"], exemplars=[g[0]["misconception"]],
                             correction=g[0]["statement"])]
        q = Question(id=qid, section="synthetic", topic="synthetic", prompt=g[0]["question"],
                     model_answer=g[0]["statement"], key_concepts=[c.id for c in concepts],
                     source=Source(seed="corpus", item=qid), tags=["synthetic"])
        items.append((q, Rubric(question_id=qid, version=1, concepts=concepts, misconceptions=mis), a["answer"]))
    return items


def grade_all(scorer, items: list[tuple], batch: int = 64) -> list:
    """Grades of ``items`` through ``scorer.score_many``, ``batch`` answers at a time."""
    out = []
    for i in range(0, len(items), batch):
        out += scorer.score_many(items[i : i + batch])
    return out


def balanced_accuracy(pred: list[bool], gold: list[bool]) -> float:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    tn = sum(not p and not g for p, g in zip(pred, gold, strict=True))
    pos = sum(gold)
    neg = len(gold) - pos
    return 0.5 * (tp / max(1, pos) + tn / max(1, neg))


def figures(answers: list[dict], grades: list) -> dict:
    import numpy as np
    from scipy.stats import spearmanr

    pred = np.array([g.score for g in grades])
    true = np.array([a["true"] for a in answers])
    flagged = ["misconception" in g.flags for g in grades]
    gold = [a["misconception"] == "states" for a in answers]
    rejects = [f for f, a in zip(flagged, answers, strict=True) if a["misconception"] == "rejects"]
    return {"answers": len(answers), "spearman": round(float(spearmanr(pred, true).statistic), 4),
            "bias": round(float(np.mean(pred - true)), 4), "mae": round(float(np.mean(np.abs(pred - true))), 4),
            "misconception_recall": round(sum(f and g for f, g in zip(flagged, gold, strict=True)) / max(1, sum(gold)), 4),
            "rejected_misconception_flagged": round(sum(rejects) / max(1, len(rejects)), 4),
            "misconception_balanced_accuracy": round(balanced_accuracy(flagged, gold), 4)}
