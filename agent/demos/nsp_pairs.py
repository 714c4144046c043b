"""Next-sentence prediction (BERT): is sentence B the sentence that follows A in the corpus?

Training pairs are built 50/50: the actual next sentence (IsNext) or a sentence from a different document
(NotNext). The task turned out to be easy (topic mismatch gives NotNext away) and RoBERTa dropped it with
no loss; ALBERT replaced it with sentence-order prediction (the two halves swapped).
"""

from __future__ import annotations

import random

from agent.demos._base import Check, DemoResult, Table, check, fresh_seed

TITLE = "Next-sentence prediction: balanced positive and negative pairs"
CONCEPTS = ["nsp-pairs", "sentence-order-prediction"]
QUESTIONS = ["nsp", "nsp-removed"]

DOCS = [
    ["The cat sat on the mat.", "It purred quietly.", "Then it fell asleep in the sun."],
    ["Stocks rose on Monday.", "Tech shares led the gains.", "Bond yields were flat."],
    ["Preheat the oven to 200 degrees.", "Mix the flour and butter.", "Bake for twenty minutes."],
    ["The probe reached orbit in May.", "Its cameras sent back the first images.", "Scientists were delighted."],
]


def make_pairs(docs, n: int, rng: random.Random):
    """(sentence A, sentence B, is_next, (doc of A, index of A), doc of B) tuples, 50% IsNext."""
    pairs = []
    starts = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc) - 1)]
    for _ in range(n):
        d, i = rng.choice(starts)
        if rng.random() < 0.5:
            pairs.append((docs[d][i], docs[d][i + 1], True, (d, i), d))
        else:
            other = rng.choice([k for k in range(len(docs)) if k != d])  # a different document
            pairs.append((docs[d][i], rng.choice(docs[other]), False, (d, i), other))
    return pairs


def sop_pairs(docs, n: int, rng: random.Random):
    """ALBERT's sentence-order prediction: two consecutive sentences, swapped half of the time."""
    out = []
    starts = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc) - 1)]
    for _ in range(n):
        d, i = rng.choice(starts)
        a, b = docs[d][i], docs[d][i + 1]
        out.append((a, b, True) if rng.random() < 0.5 else (b, a, False))
    return out


def run(device: str = "cpu") -> DemoResult:
    rng = random.Random(4)
    pairs = make_pairs(DOCS, 8, rng)
    rows = [[a, b, "IsNext" if y else "NotNext"] for a, b, y, _, _ in pairs]
    many = make_pairs(DOCS, 10000, rng)
    pos = sum(p[2] for p in many) / len(many)
    return DemoResult(
        narration=(
            "Each pair takes a sentence A; half the time B is the sentence that follows it in the same document "
            "(IsNext), otherwise B comes from another document (NotNext). Because NotNext partners are usually "
            f"off-topic, the task is easy. Over 10,000 pairs {100 * pos:.1f}% are positive. Sentence-order "
            "prediction (ALBERT) keeps both sentences from the same place and swaps their order instead."
        ),
        numbers={"positive fraction (10k pairs)": round(pos, 4)},
        tables=[Table("NSP pairs", ["sentence A", "sentence B", "label"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    seed = fresh_seed(seed)
    rng = random.Random(seed)
    n_docs = int(torch.randint(2, 30, (1,)))
    docs = [[f"doc{d}-s{i}" for i in range(int(torch.randint(2, 12, (1,))))] for d in range(n_docs)]
    n = 20000
    pairs = make_pairs(docs, n, rng)
    pos = sum(p[2] for p in pairs) / n
    tol = 5 * (0.25 / n) ** 0.5
    checks = [check("pairs are balanced 50/50", abs(pos - 0.5) < tol, f"{pos:.4f} positive (+- {tol:.4f})")]
    checks.append(check("every IsNext B is the sentence right after A",
                        all(b == docs[d][i + 1] for a, b, y, (d, i), _ in pairs if y), f"{n_docs} documents"))
    checks.append(check("every NotNext B comes from a different document",
                        all(db != d and b in docs[db] for a, b, y, (d, i), db in pairs if not y), ""))
    sop = sop_pairs(docs, 4000, rng)
    ok = all((int(a.split("-s")[1]) < int(b.split("-s")[1])) == y and a.split("-")[0] == b.split("-")[0]
             for a, b, y in sop)
    checks.append(check("SOP pairs: same document, label says whether the order is the original", ok, ""))
    return checks
