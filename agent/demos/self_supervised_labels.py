"""Self-supervised labels: three pretraining objectives, one unlabelled sentence.

Causal LM: input = tokens[:-1], target = tokens[1:], a prediction at every position. Masked LM: corrupt ~15%
of tokens, predict the originals there. Denoising (span corruption): drop spans, predict them after their
sentinels. No human wrote a label: each target is a deterministic function of the text and the corruption,
which is why pretraining scales to all the text there is.
"""

from __future__ import annotations

import random

from agent.demos._base import Check, DemoResult, Table, check, fresh_seed
from agent.demos.mlm_masking import IGNORE, N_SPECIAL, mask_tokens
from agent.demos.span_corruption import corrupt, noise_mask, rebuild

TITLE = "Self-supervised labels: CLM, MLM and denoising targets from one sentence"
CONCEPTS = ["clm-targets", "mlm-targets", "denoising-targets", "no-human-labels"]
QUESTIONS = ["clm-loss", "mlm", "span-corruption", "denoising-autoencoding", "pretraining-tasks",
    "ssl-definition"]

SENTENCE = "the model learns to predict words from the words around them in plain unlabelled text"


def clm_example(ids: list[int]) -> tuple[list[int], list[int]]:
    return ids[:-1], ids[1:]


def mlm_example(ids: list[int], vocab_size: int, device: str):
    import torch

    inputs, labels = mask_tokens(torch.tensor([ids], device=device), vocab_size)
    return inputs[0].tolist(), labels[0].tolist()


def denoise_example(ids: list[int], rng: random.Random):
    return corrupt(ids, noise_mask(len(ids), 0.15, 3.0, rng))


def run(device: str = "cpu") -> DemoResult:
    fresh_seed(11)
    words = SENTENCE.split()
    vocab = ["[CLS]", "[SEP]", "[MASK]", *sorted(set(words))]
    ids = [vocab.index(w) for w in words]

    def say(tokens) -> str:  # ids -> words; sentinels stay as they are; "_" marks "no label here"
        return " ".join("_" if t == IGNORE else vocab[t] if isinstance(t, int) else t for t in tokens)

    x, y = clm_example(ids)
    mi, ml = mlm_example(ids, len(vocab), device)
    di, dt = denoise_example(ids, random.Random(3))
    rows = [["causal LM", say(x), say(y), len(y)],
            ["masked LM", say(mi), say(ml), sum(v != IGNORE for v in ml)],
            ["denoising", say(di), say(dt), len(dt)]]
    return DemoResult(
        narration=(
            "The same sentence yields three training examples without anyone labelling it. The causal LM "
            "predicts every next word; the masked LM predicts only the selected words (_ = no label); the "
            "denoiser rewrites dropped spans after their sentinels. Different objectives, same free supervision."
        ),
        numbers={"tokens": len(ids)},
        tables=[Table("one sentence, three objectives", ["objective", "input", "target", "predictions"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    seed = fresh_seed(seed)
    rng = random.Random(seed)
    ok_clm = ok_mlm = ok_den = True
    n_mlm = n_tok = 0
    V = 5000
    for _ in range(100):
        ids = torch.randint(N_SPECIAL, V, (rng.randint(8, 200),)).tolist()
        x, y = clm_example(ids)
        ok_clm &= [*x, y[-1]] == ids and [x[0], *y] == ids and len(x) == len(y)
        mi, ml = mlm_example(ids, V, device)
        ok_mlm &= [lab if lab != IGNORE else tok for tok, lab in zip(mi, ml, strict=True)] == ids
        n_mlm, n_tok = n_mlm + sum(lab != IGNORE for lab in ml), n_tok + len(ids)
        di, dt = denoise_example(ids, rng)
        ok_den &= rebuild(di, dt) == ids
    return [
        check("CLM: input and target are the sentence offset by one (every position a target)", ok_clm, ""),
        check("MLM: labels at the selected positions give back the original tokens", ok_mlm,
              f"{n_mlm / n_tok:.3f} of positions labelled"),
        check("denoising: input + target rebuild the sentence", ok_den, ""),
        check("MLM labels only a fraction (~15%) while CLM labels every position",
              0.1 < n_mlm / n_tok < 0.2, f"MLM {n_mlm / n_tok:.3f} vs CLM 1.0"),
    ]
