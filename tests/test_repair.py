"""The repair pass: near-miss spellings of rubric terms read as the terms, by sound; conservative."""

from __future__ import annotations

import pytest

from agent.speech.repair import repair_text, vocabulary


@pytest.mark.parametrize(
    ("text", "terms", "heard", "read_as"),
    [
        ("Its proplexed it is the exponential of the loss.", ["perplexity", "loss"], "proplexed it", "perplexity"),
        ("Burt masks some of the input tokens.", ["BERT", "mask", "MLM"], "Burt", "BERT"),
        ("Divide the logics by the temperature.", ["logits", "temperature"], "logics", "logits"),
        ("The Zill-oss keeps the log partition function small.", ["z-loss", "log partition function"],
         "Zill-oss", "z-loss"),
        ("divide the low jits by T before the softmax", ["logits", "softmax"], "low jits", "logits"),
        # pronounced the same by espeak-ng although spelt far apart
        ("The row P rotates each query and key.", ["RoPE", "ALiBi"], "row P", "RoPE"),
        ("Excel net trains on permuted orders.", ["XLNet", "permutation"], "Excel net", "XLNet"),
        ("A lie by adds a bias that grows with distance.", ["ALiBi", "RoPE"], "A lie by", "ALiBi"),
        # a term of several words heard word for word but one common word that sounds like the term's word
        ("Induction heads form in a face change during training.", ["phase change", "induction heads"],
         "face change", "phase change"),
        ("A z-loss prevents loss bikes in bf16.", ["loss spikes", "z-loss"], "loss bikes", "loss spikes"),
    ],
)
def test_near_misses_are_read_as_the_term(text, terms, heard, read_as) -> None:
    out, repairs = repair_text(text, terms)
    assert [(r.heard, r.read_as) for r in repairs] == [(heard, read_as)]
    assert read_as in out and heard not in out
    assert str(repairs[0]) == f"heard '{heard}', read as '{read_as}'"


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("The loss is less than before.", ["loss"]),  # short ordinary term: never a target
        ("The model encoded twelve targeted layers.", ["encoder", "target"]),  # other forms of the word
        ("Adam with decoupled weight decay.", ["AdamW"]),
        ("It was a lecture on casual models.", ["ELECTRA", "causal"]),  # ordinary English stays as heard
        ("A mask it is.", ["mask"]),  # the term itself is there
        ("Use the log-softmax, not the full one.", ["full softmax", "softmax"]),
        ("Self-supervision needs no labels.", ["weak supervision"]),
        ("The embeddings are tied.", ["unembedding"]),
        ("Overtraining a small model", ["training"]),
        ("It has 12 layers and two heads, T5 has 24.", ["twelve layers", "T5", "heads"]),
        ("", ["perplexity"]),
        ("An LLM reads the CLS token.", ["LLaMA", "CLS"]),  # an acronym written as one is heard as meant
        ("The value of each flip", ["VALL-E", "FLOPs"]),  # ordinary words that only sound near a name
        # one word of a term beside another word: of the same stem, rare, or not sounding like it
        ("More text does not always help.", ["more context"]),
        ("The mask is the upper triangle.", ["upper triangular"]),
        ("Convolutions have translation equivariance.", ["translation invariant"]),
        ("The loss drops early in training.", ["loss spikes"]),
        ("Weak supervision uses noisy labels.", ["self supervision"]),
    ],
)
def test_correct_words_and_numbers_are_left_alone(text, terms) -> None:
    assert repair_text(text, terms) == (text, [])


def test_numbers_are_never_changed() -> None:
    out, repairs = repair_text("Perplexed 2 is 7.5 or three proplexed it.", ["perplexity", "T5", "3"])
    assert "2" in out and "7.5" in out and "three" in out
    assert all(not any(c.isdigit() for c in r.heard + r.read_as) for r in repairs)


def test_written_answers_are_not_rewritten() -> None:
    """Correct answers (the synthesised-answer set, the bank's sample answers) keep every word; the only
    samples touched are spoken ones, written as a recogniser would hear them ("low jits", "the Berta v3",
    "KV cash", "power lore"), and each is read as what was meant."""
    from agent.bank import default_bank
    from agent.speech.stt import rubric_terms
    from tests.speech_fixtures import voice_set

    for a in voice_set():
        assert repair_text(a["text"], a["rubric_terms"]) == (a["text"], []), a["id"]
    bank = default_bank()
    changed = []
    total = 0
    for qid, rubric in bank.rubrics.items():
        terms = rubric_terms(qid, bank)
        for sample in rubric.samples:
            total += 1
            _, repairs = repair_text(sample.answer, terms)
            changed += [(sample.kind, r.heard, r.read_as) for r in repairs]
    assert total > 400
    assert {k for k, _, _ in changed} == {"spoken"}, changed
    assert {(h, r) for _, h, r in changed} == {("low jits", "logits"), ("the Berta", "DeBERTa"), ("KV cash", "KV cache"),
                                               ("exposure buy", "exposure bias"), ("power lore", "power law")}, changed


def test_vocabulary_keeps_names_not_descriptions() -> None:
    assert vocabulary(["perplexity", "examples (UniLM, GLM)", "one stack, encoder-like reading",
                       "F.cross_entropy", "loss only on the target part", "z-loss", "Z-Loss"]) == [
        "perplexity", "z-loss"]


def test_phonemes_ignore_spelling_and_word_breaks() -> None:
    from agent.speech.repair import phonemes, sound_similarity

    assert phonemes("a lie by") == phonemes("ALiBi") != ""
    assert sound_similarity("row P", "RoPE") == 1.0
    assert sound_similarity("lecture", "ELECTRA") < 1.0
