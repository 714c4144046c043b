"""Coverage and shape of the bank items written from seed 000 (self-supervised learning and next-token
prediction): all 10 interview questions and their 30 follow-ups are in the bank with fixed ids and
sections, each main question links its own three follow-ups, the authoring rules hold, and the seed's loose
claims are corrected as misconceptions rather than repeated."""

from __future__ import annotations

import re
from collections import Counter

SEED_000 = "000_e8ed2535a62d9c07.txt"

# seed item -> (fixed question id, section); "N.k" is item N's k-th follow-up question
SEED_000_ITEMS = {
    "1": ("ssl-definition", "self-supervised"),
    "1.1": ("ssl-vs-weak-supervision", "self-supervised"),
    "1.2": ("ssl-scale", "self-supervised"),
    "1.3": ("ssl-other-tasks", "self-supervised"),
    "2": ("next-token-prediction", "next-token-prediction"),
    "2.1": ("autoregressive-vs-rl", "next-token-prediction"),
    "2.2": ("emergence-guaranteed", "next-token-prediction"),
    "2.3": ("model-size-next-token", "next-token-prediction"),
    "3": ("positional-encoding", "positional-encoding"),
    "3.1": ("absolute-vs-relative-positions", "positional-encoding"),
    "3.2": ("rope-long-context", "positional-encoding"),
    "3.3": ("positions-multi-head", "positional-encoding"),
    "4": ("attention-long-context", "attention"),
    "4.1": ("attention-bottlenecks", "attention"),
    "4.2": ("sparse-attention", "attention"),
    "4.3": ("multi-head-attention", "attention"),
    "5": ("ntp-cross-entropy", "loss"),
    "5.1": ("softmax-cross-entropy", "loss"),
    "5.2": ("label-smoothing", "loss"),
    "5.3": ("vocab-size-tradeoffs", "loss"),
    "6": ("causal-masking", "masking"),
    "6.1": ("causal-vs-bidirectional-mask", "masking"),
    "6.2": ("causal-mask-efficiency", "masking"),
    "6.3": ("masking-inference-speed", "masking"),
    "7": ("ssl-generalisation", "generalisation"),
    "7.1": ("scale-generalisation", "generalisation"),
    "7.2": ("small-model-generalisation", "generalisation"),
    "7.3": ("prompting-task-performance", "generalisation"),
    "8": ("ssl-vs-sft", "ssl-vs-sft"),
    "8.1": ("instruction-tuning", "ssl-vs-sft"),
    "8.2": ("rlhf-vs-sft", "ssl-vs-sft"),
    "8.3": ("sft-cannot-replace-pretraining", "ssl-vs-sft"),
    "9": ("ambiguous-contexts", "ambiguity"),
    "9.1": ("temperature-ambiguity", "ambiguity"),
    "9.2": ("larger-models-ambiguity", "ambiguity"),
    "9.3": ("context-window-ambiguity", "ambiguity"),
    "10": ("universal-interface", "universal-interface"),
    "10.1": ("instruction-formats", "universal-interface"),
    "10.2": ("multimodal-next-token", "universal-interface"),
    "10.3": ("universal-interface-limits", "universal-interface"),
}


def _mine(bank):
    return [q for q in bank.questions.values() if q.source.seed == SEED_000]


def test_every_seed_item_has_its_question(bank) -> None:
    by_item = {q.source.item: q for q in _mine(bank)}
    missing = sorted(set(SEED_000_ITEMS) - set(by_item))
    assert not missing, f"no question for seed 000 items {missing}"
    extra = sorted(set(by_item) - set(SEED_000_ITEMS))
    assert not extra, f"questions cite seed 000 items not in the list: {extra}"
    for item, (qid, section) in SEED_000_ITEMS.items():
        q = by_item[item]
        assert q.id == qid, f"item {item} is {q.id!r}, expected the fixed id {qid!r}"
        assert q.section == section, f"{qid}: section {q.section!r}, expected {section!r}"


def test_main_questions_link_their_own_follow_ups(bank) -> None:
    for n in range(1, 11):
        main = SEED_000_ITEMS[str(n)][0]
        children = {SEED_000_ITEMS[f"{n}.{k}"][0] for k in (1, 2, 3)}
        linked = {fu.question for fu in bank.question(main).follow_ups}
        assert children <= linked, f"{main} does not link {sorted(children - linked)}"


def test_items_follow_the_authoring_rules(bank) -> None:
    problems = []
    for q in _mine(bank):
        r = bank.rubric(q.id)
        concept_ids = {c.id for c in r.concepts}
        if not 1 <= len(q.follow_ups) <= 3:
            problems.append(f"{q.id}: {len(q.follow_ups)} follow-ups (want 1-3)")
        for fu in q.follow_ups:
            if fu.question is None:
                problems.append(f"{q.id}: inline follow-up; link a bank question")
            elif fu.question not in bank.questions:
                problems.append(f"{q.id}: follow-up {fu.question!r} is not in the bank")
            if fu.concept not in concept_ids:
                problems.append(f"{q.id}: follow-up probes unknown concept {fu.concept!r}")
        if set(q.key_concepts) != concept_ids:
            problems.append(f"{q.id}: key concepts differ from the rubric's concepts")
        sentences = [s for s in re.split(r"(?<=[.!?)])\s+(?=[A-Z(])", q.model_answer) if s.strip()]
        if not 5 <= len(sentences) <= 10:
            problems.append(f"{q.id}: model answer has {len(sentences)} sentences (want 5-9)")
        if not 2 <= len(r.concepts) <= 5:
            problems.append(f"{q.id}: {len(r.concepts)} concepts (want 2-5)")
        for c in r.concepts:
            if len(c.exemplars) < 4:
                problems.append(f"{q.id}/{c.id}: {len(c.exemplars)} exemplars (want >= 4)")
            if not c.terms:
                problems.append(f"{q.id}/{c.id}: no terms")
            if c.computational and not c.demo:
                problems.append(f"{q.id}/{c.id}: computational concept without a demo")
        if not r.misconceptions:
            problems.append(f"{q.id}: no misconception")
        for m in r.misconceptions:
            if not 2 <= len(m.exemplars) <= 3:
                problems.append(f"{q.id}/{m.id}: {len(m.exemplars)} misconception exemplars (want 2-3)")
        kinds = Counter(s.kind for s in r.samples)
        for kind in ("strong", "good", "vague", "misconception", "adversarial"):
            if kinds[kind] < 1:
                problems.append(f"{q.id}: no {kind} sample")
        for s in r.samples:
            lo, hi = s.band
            if s.kind == "misconception" and hi > 2:
                problems.append(f"{q.id}/{s.id}: misconception band above 2")
            if s.kind == "adversarial" and (lo, hi) != (0, 1):
                problems.append(f"{q.id}/{s.id}: adversarial band must be [0, 1]")
            if s.kind == "strong" and (lo < 3.5 or set(s.covered) != concept_ids):
                problems.append(f"{q.id}/{s.id}: a strong sample covers every concept, band from 3.5 up")
            if s.kind == "good" and len(s.missing) != 1:
                problems.append(f"{q.id}/{s.id}: a good sample misses exactly one key concept")
    assert not problems, "\n".join(problems)


def test_spoken_samples_and_adversarial_rotation(bank) -> None:
    mine = _mine(bank)
    spoken = [q.id for q in mine if any(s.kind == "spoken" for s in bank.rubric(q.id).samples)]
    assert len(spoken) >= 20, f"only {len(spoken)} questions have a spoken sample"
    # the adversarial samples rotate through the four kinds, so each kind appears several times
    adversarial = [s for q in mine for s in bank.rubric(q.id).samples if s.kind == "adversarial"]
    injections = [s for s in adversarial if "grade" in s.answer.lower() or "score" in s.answer.lower()]
    assert len(injections) >= 5
    # nothing in this seed's items is orphaned: every question is some question's follow-up
    targets = {fu.question for q in bank.questions.values() for fu in q.follow_ups}
    orphans = sorted(q.id for q in mine if q.id not in targets)
    assert not orphans, f"no question follows up to: {orphans}"


def test_loose_seed_claims_are_corrected(bank) -> None:
    # the seed says RoPE helps models extrapolate beyond the training window: the bank calls that wrong
    rope = bank.rubric("rope-long-context")
    m = next(m for m in rope.misconceptions if m.id == "rope-extrapolates")
    assert "interpolation" in m.correction and "YaRN" in m.correction
    # the seed counts RLHF among the forms of supervised fine-tuning
    assert any("RLHF" in m.claim for m in bank.rubric("ssl-vs-sft").misconceptions)
    # the seed calls cross-entropy training convex; only the loss in the logits is
    mle = next(m for m in bank.rubric("autoregressive-vs-rl").misconceptions if m.id == "mle-convex")
    assert "non-convex" in mle.correction
    # the seed says self-attention scales efficiently with length; its compute is quadratic
    attn = bank.rubric("attention-long-context")
    assert "quadratic" in next(m for m in attn.misconceptions if m.id == "attention-linear").correction
