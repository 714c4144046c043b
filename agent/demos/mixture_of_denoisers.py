"""Mixture of denoisers (UL2): one model trained on several corruption settings, each tagged by a mode token.

R-denoiser: regular T5 span corruption (short spans, 15%). X-denoiser: extreme corruption (long spans or a
high rate). S-denoiser: sequential, PrefixLM-style: keep a prefix, predict the whole rest. Mixing them gives
one model that is good at both understanding-style infilling and generation; the mode token
([NLU], [NLG], [S2S]) tells it which game is being played, and can be chosen at inference time.
"""

from __future__ import annotations

import random

from agent.demos._base import Check, DemoResult, Table, check, fresh_seed
from agent.demos.span_corruption import corrupt, noise_mask, spans_of

TITLE = "Mixture of denoisers (UL2): R, S and X corruption"
CONCEPTS = ["r-denoiser", "s-denoiser", "x-denoiser", "mode-switching"]
QUESTIONS = ["mixture-of-denoisers", "pretraining-tasks"]

# name, mode token, rate, mean span (None for the sequential denoiser)
DENOISERS = [
    ("R (mu=3, r=0.15)", "[NLU]", 0.15, 3.0),
    ("R (mu=8, r=0.15)", "[NLU]", 0.15, 8.0),
    ("X (mu=3, r=0.5)", "[NLG]", 0.5, 3.0),
    ("X (mu=32, r=0.15)", "[NLG]", 0.15, 32.0),
    ("X (mu=64, r=0.5)", "[NLG]", 0.5, 64.0),
    ("S (prefix LM, r=0.25)", "[S2S]", 0.25, None),
]


def s_denoiser_mask(length: int, rate: float, rng: random.Random) -> list[bool]:
    """Sequential: one span covering the suffix; its length is drawn around rate * length."""
    n_target = min(max(round(rng.uniform(0.5, 1.5) * rate * length), 1), length - 1)
    return [False] * (length - n_target) + [True] * n_target


def make_example(tokens: list, denoiser, rng: random.Random):
    name, mode, rate, mu = denoiser
    mask = s_denoiser_mask(len(tokens), rate, rng) if mu is None else noise_mask(len(tokens), rate, mu, rng)
    inputs, target = corrupt(tokens, mask)
    return [mode, *inputs], target, mask


def measure(denoiser, rng: random.Random, n_seq: int = 50, length: int = 2048) -> tuple[float, float, int]:
    """Measured corruption rate, mean span length and mean target length over random sequences."""
    noise, spans, tgt = 0, [], 0
    for _ in range(n_seq):
        _, target, mask = make_example(list(range(length)), denoiser, rng)
        noise, spans, tgt = noise + sum(mask), spans + spans_of(mask), tgt + len(target)
    return noise / (n_seq * length), sum(spans) / len(spans), tgt // n_seq


def run(device: str = "cpu") -> DemoResult:
    rng = random.Random(0)
    rows = []
    for d in DENOISERS:
        rate, span, tgt = measure(d, rng)
        rows.append([d[0], d[1], f"{rate:.3f}", f"{span:.1f}", tgt])
    words = "the quick brown fox jumps over the lazy dog while the cat watches from the warm windowsill".split()
    ex_rows = []
    for d in (DENOISERS[0], DENOISERS[2], DENOISERS[5]):
        inp, tgt, _ = make_example(words, d, rng)
        ex_rows.append([d[0], " ".join(inp), " ".join(tgt)])
    return DemoResult(
        narration=(
            "Each denoiser promises a corruption rate and a mean span length; measured over 50 sequences of 2048 "
            "tokens they deliver it. R keeps most of the text and asks for short infills (cheap targets, "
            "BERT/T5-like); X asks for a lot (long spans or half of the text), closer to generation; S keeps a "
            "prefix and asks for the entire continuation (a language-modelling objective). The mode token at the "
            "start of the input tells the model which one it is doing."
        ),
        tables=[Table("measured over 50 x 2048 tokens", ["denoiser", "mode", "rate", "mean span", "target len"],
                      rows),
                Table("one sentence, three denoisers", ["denoiser", "input", "target"], ex_rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    seed = fresh_seed(seed)
    rng = random.Random(seed)
    checks = []
    for d in DENOISERS:
        name, mode, rate, mu = d
        if mu is None:  # its target length is random per sequence (0.5x-1.5x the rate): average more of them
            got_rate, got_span, _ = measure(d, rng, n_seq=200, length=512)
            ok = abs(got_rate - rate) < 0.03
            detail = f"rate {got_rate:.3f} vs {rate}"
        else:
            got_rate, got_span, _ = measure(d, rng, n_seq=25)
            ok = abs(got_rate - rate) < 0.01 and abs(got_span - mu) < 0.1 * mu
            detail = f"rate {got_rate:.3f} vs {rate}, mean span {got_span:.2f} vs {mu}"
        checks.append(check(f"{name}: corruption statistics as promised", ok, detail))
    L = rng.randint(10, 300)
    tokens = [rng.randrange(1000) for _ in range(L)]
    inp, tgt, mask = make_example(tokens, DENOISERS[-1], rng)
    n_t = sum(mask)
    checks.append(check("S: the input is a prefix, the target is the whole rest (one span at the end)",
                        inp[1:-1] == tokens[: L - n_t] and tgt[1:-1] == tokens[L - n_t:] and len(spans_of(mask)) == 1,
                        f"length {L}, target {n_t}"))
    checks.append(check("every input starts with its mode token",
                        all(make_example(tokens, d, rng)[0][0] == d[1] for d in DENOISERS), ""))
    return checks
