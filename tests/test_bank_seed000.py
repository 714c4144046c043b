"""Coverage and shape of the bank items written from seed 000 (self-supervised learning and next-token
prediction): all 10 interview questions and their 30 follow-ups are in the bank with fixed ids and
sections, each main question links its own three follow-ups, the authoring rules hold, and the seed's loose
claims are corrected as misconceptions rather than repeated."""

from __future__ import annotations

from tests.bank_rules import authoring_problems, item_problems, orphans, seed_questions, with_spoken_sample

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
    return seed_questions(bank, [SEED_000])


def test_every_seed_item_has_its_question(bank) -> None:
    problems = item_problems(bank, SEED_000, SEED_000_ITEMS)
    assert not problems, "\n".join(problems)


def test_main_questions_link_their_own_follow_ups(bank) -> None:
    for n in range(1, 11):
        main = SEED_000_ITEMS[str(n)][0]
        children = {SEED_000_ITEMS[f"{n}.{k}"][0] for k in (1, 2, 3)}
        linked = {fu.question for fu in bank.question(main).follow_ups}
        assert children <= linked, f"{main} does not link {sorted(children - linked)}"


def test_items_follow_the_authoring_rules(bank) -> None:
    problems = authoring_problems(bank, _mine(bank), strict=True)
    assert not problems, "\n".join(problems)


def test_spoken_samples_and_adversarial_rotation(bank) -> None:
    mine = _mine(bank)
    spoken = with_spoken_sample(bank, mine)
    assert len(spoken) >= 20, f"only {len(spoken)} questions have a spoken sample"
    # the adversarial samples rotate through the four kinds, so each kind appears several times
    adversarial = [s for q in mine for s in bank.rubric(q.id).samples if s.kind == "adversarial"]
    injections = [s for s in adversarial if "grade" in s.answer.lower() or "score" in s.answer.lower()]
    assert len(injections) >= 5
    # nothing in this seed's items is orphaned: every question is some question's follow-up
    lonely = orphans(bank, mine)
    assert not lonely, f"no question follows up to: {lonely}"


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
