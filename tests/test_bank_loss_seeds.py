"""Coverage and shape of the bank items written from seed 004 (LM losses) and seed 001 (pretraining tasks,
emergence, scaling laws): every seed item has its question, with the fixed ids, sections and the bank's
authoring rules (follow-ups into the bank graph, misconceptions, the five sample kinds, spoken samples)."""

from __future__ import annotations

import pytest

from tests.bank_rules import authoring_problems, item_problems, orphans, seed_questions, with_spoken_sample

SEED_004 = "004_b452a9f71ccb03d9.txt"
SEED_001 = "001_3b57cec908a67744.txt"

# seed 004 item -> (fixed question id, section)
SEED_004_ITEMS = {
    "1": ("clm-loss", "A"), "2": ("clm-dominance", "A"), "3": ("clm-loss-code", "A"),
    "4": ("clm-padding", "A"), "5": ("sft-prompt-mask", "A"), "6": ("clm-no-bidirectional", "A"),
    "7": ("clm-in-context-learning", "A"), "8": ("mlm", "B"), "9": ("bert-masking", "B"),
    "10": ("mlm-sample-efficiency", "B"), "11": ("mlm-generation", "B"), "12": ("mlm-where-wins", "B"),
    "13": ("mlm-train-test-mismatch", "B"), "14": ("nsp", "C"), "15": ("nsp-removed", "C"),
    "16": ("electra", "C"), "17": ("electra-efficiency", "C"), "18": ("electra-usage", "C"),
    "19": ("span-corruption", "D"), "20": ("span-corruption-example", "D"),
    "21": ("span-corruption-tradeoffs", "D"), "22": ("prefix-lm", "D"), "23": ("prefix-lm-adoption", "D"),
    "24": ("mixture-of-denoisers", "E"), "25": ("multi-token-prediction", "E"),
    "26": ("contrastive-losses", "E"), "27": ("why-cross-entropy", "F"), "28": ("perplexity", "F"),
    "29": ("perplexity-tokenizers", "F"), "30": ("ce-gradient", "F"), "31": ("log-sum-exp", "G"),
    "32": ("fused-cross-entropy", "G"), "33": ("large-vocab-softmax", "G"), "34": ("z-loss", "H"),
    "35": ("moe-aux-loss", "H"), "36": ("qf-bert-mask-ratio", "B"), "37": ("qf-nsp-removed", "C"),
    "38": ("qf-t5-objective", "D"), "39": ("qf-electra-paper", "C"), "40": ("qf-modern-default", "A"),
}

# seed 001: section "1" pretraining tasks, "2" emergent abilities, "3.x" scaling laws
SEED_001_ITEMS = {
    "1": ("pretraining-tasks", "pretraining-tasks"),
    "1.lm": ("lm-multitask-view", "pretraining-tasks"),
    "1.dae": ("denoising-autoencoding", "pretraining-tasks"),
    "1.efficiency": ("causal-vs-prefix-efficiency", "pretraining-tasks"),
    "2": ("emergent-abilities", "emergent-abilities"),
    "2.h1": ("emergence-metric-artifact", "emergent-abilities"),
    "2.h2": ("emergence-task-decomposition", "emergent-abilities"),
    "3.1": ("scaling-laws-purpose", "scaling-laws"),
    "3.2": ("scaling-law-definition", "scaling-laws"),
    "3.3.openai": ("kaplan-scaling", "scaling-laws"),
    "3.3.deepmind": ("chinchilla-scaling", "scaling-laws"),
    "3.3.summary": ("kaplan-vs-chinchilla", "scaling-laws"),
}

ALL = {SEED_004: SEED_004_ITEMS, SEED_001: SEED_001_ITEMS}


def _mine(bank):
    return seed_questions(bank, ALL)


@pytest.mark.parametrize("seed", sorted(ALL))
def test_every_seed_item_has_its_question(bank, seed: str) -> None:
    problems = item_problems(bank, seed, ALL[seed])
    assert not problems, "\n".join(problems)


def test_quick_fire_items_are_tagged_and_short(bank) -> None:
    for item in ("36", "37", "38", "39", "40"):
        qid = SEED_004_ITEMS[item][0]
        q, r = bank.question(qid), bank.rubric(qid)
        assert "quick-fire" in q.tags
        assert 2 <= len(r.concepts) <= 3
        assert len(q.model_answer.split()) < 60, f"{qid}: a quick-fire model answer should be short"


def test_items_follow_the_authoring_rules(bank) -> None:
    problems = authoring_problems(bank, _mine(bank))
    assert not problems, "\n".join(problems)


def test_enough_spoken_samples_and_a_connected_graph(bank) -> None:
    mine = _mine(bank)
    spoken = with_spoken_sample(bank, mine)
    assert len(spoken) >= 24, f"only {len(spoken)} questions have a spoken sample"
    # the graph links the seeds: MLM -> ELECTRA -> span corruption; CE -> perplexity -> tokenizers
    def links(a: str, b: str) -> bool:
        return any(fu.question == b for fu in bank.question(a).follow_ups)

    assert links("mlm", "electra") and links("electra", "span-corruption")
    assert links("why-cross-entropy", "perplexity") and links("perplexity", "perplexity-tokenizers")
    # every question of these seeds (quick-fire entry points aside) is reachable from another question
    lonely = orphans(bank, mine, except_tag="quick-fire")
    assert not lonely, f"no question follows up to: {lonely}"


def test_seed_errors_are_corrected_as_misconceptions(bank) -> None:
    ppl = bank.rubric("perplexity")
    assert any("bounded above" in m.claim for m in ppl.misconceptions)
    assert "exceeds" in next(m for m in ppl.misconceptions if m.id == "bounded-by-vocab").correction
    prefix = bank.rubric("prefix-lm")
    assert any("T5.1.1" in m.claim for m in prefix.misconceptions)
    z = bank.rubric("z-loss")
    assert any("GPT-3" in m.claim for m in z.misconceptions)
