"""Perplexity is exp(mean cross-entropy per token): the effective number of choices the model is torn between.

A uniform model over V tokens has perplexity exactly V; a perfect model has 1. Perplexity is per *token*, so
the same text under a different tokenizer (a different number of tokens) gets a different perplexity even
from the same underlying model. Normalising the total negative log-likelihood by characters (or bytes)
instead, bits per character = total NLL / (n_chars * ln 2), gives a number that can be compared.
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Perplexity is exp(mean cross-entropy); bits per character compare tokenizers"
CONCEPTS = ["perplexity-definition", "uniform-perplexity", "bits-per-character"]
QUESTIONS = ["perplexity", "perplexity-tokenizers", "vocab-size-tradeoffs"]


def perplexity(logits, targets) -> float:
    import torch.nn.functional as F

    return math.exp(F.cross_entropy(logits, targets).item())


def char_bigram_nll(text_ids, log_p_first, log_p_next) -> float:
    """Total NLL (nats) of a character sequence under a bigram model p(c1) prod p(c_t | c_{t-1})."""
    nll = -log_p_first[text_ids[0]]
    nll = nll - log_p_next[text_ids[:-1], text_ids[1:]].sum()
    return nll.item()


def pair_token_nll(text_ids, log_p_first, log_p_next) -> tuple[float, int]:
    """The same model seen through a tokenizer that makes one token of every two characters.

    p(token (a, b) | previous token ending in c) = p(a | c) p(b | a): the distribution over text is unchanged,
    only the unit of counting is different. Returns the total NLL and the number of tokens.
    """
    nll, n_tokens = 0.0, 0
    for i in range(0, len(text_ids), 2):
        a, b = text_ids[i], text_ids[i + 1]
        first = log_p_first[a] if i == 0 else log_p_next[text_ids[i - 1], a]
        nll -= (first + log_p_next[a, b]).item()
        n_tokens += 1
    return nll, n_tokens


def random_bigram(V: int, device: str, sharpness: float = 2.0):
    import torch

    return (torch.randn(V, device=device, dtype=torch.float64) * sharpness).log_softmax(-1), \
        (torch.randn(V, V, device=device, dtype=torch.float64) * sharpness).log_softmax(-1)


def sample_text(n: int, log_p_first, log_p_next):
    import torch

    ids = [int(torch.multinomial(log_p_first.exp(), 1))]
    for _ in range(n - 1):
        ids.append(int(torch.multinomial(log_p_next[ids[-1]].exp(), 1)))
    return torch.tensor(ids, device=log_p_first.device)


def tokenizer_table(text_ids, lp1, lpn):
    n = len(text_ids)
    char_nll = char_bigram_nll(text_ids, lp1, lpn)
    pair_nll, n_pairs = pair_token_nll(text_ids, lp1, lpn)
    return {"char": (char_nll, n, math.exp(char_nll / n), char_nll / n / math.log(2)),
            "pair": (pair_nll, n_pairs, math.exp(pair_nll / n_pairs), pair_nll / n / math.log(2))}


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    V, N = 50, 200
    targets = torch.randint(0, V, (N,), device=device)
    uniform = perplexity(torch.zeros(N, V, device=device), targets)
    perfect = perplexity(torch.nn.functional.one_hot(targets, V).float() * 30, targets)
    lp1, lpn = random_bigram(27, device)
    text = sample_text(400, lp1, lpn)
    tab = tokenizer_table(text, lp1, lpn)
    rows = [[k, fmt(v[0]), v[1], fmt(v[2]), fmt(v[3])] for k, v in tab.items()]
    return DemoResult(
        narration=(
            f"Uniform logits over V={V} give perplexity {uniform:.2f} (= V); a model that puts almost all mass on "
            f"the right token gives {perfect:.4f}. The same 400-character text under the same character-bigram "
            "model, counted once per character and once per two-character token: the total NLL is identical, "
            f"but perplexity per token is {tab['char'][2]:.2f} vs {tab['pair'][2]:.2f} (the square, since each "
            f"token carries two characters). Bits per character is {tab['char'][3]:.3f} both ways."
        ),
        numbers={"uniform PPL (V=50)": fmt(uniform), "perfect PPL": fmt(perfect)},
        tables=[Table("one text, two tokenizations", ["tokens", "total NLL (nats)", "n tokens", "PPL / token",
                                                     "bits / char"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    V, N = int(torch.randint(2, 1000, (1,))), int(torch.randint(1, 100, (1,)))
    targets = torch.randint(0, V, (N,), device=device)
    logits = torch.randn(N, V, device=device) * 2
    nll = -logits.log_softmax(-1)[torch.arange(N, device=device), targets]
    checks = [
        check_close("PPL == exp(mean CE) == geometric mean of 1/p(target)", perplexity(logits, targets),
                    torch.exp(nll.mean()).item(), rtol=1e-5, what=f"V={V} N={N}"),
        check_close("uniform model: PPL == V", perplexity(torch.randn(1, device=device).expand(N, V), targets),
                    float(V), rtol=1e-5),
        check_close("perfect model: PPL -> 1", perplexity(F.one_hot(targets, V).float() * 50, targets), 1.0,
                    atol=1e-6),
    ]
    lp1, lpn = random_bigram(int(torch.randint(3, 40, (1,))), device)
    text = sample_text(2 * int(torch.randint(20, 150, (1,))), lp1, lpn)
    tab = tokenizer_table(text, lp1, lpn)
    checks.append(check_close("same text, two tokenizations: same bits per character", tab["pair"][3],
                              tab["char"][3], atol=1e-9, what=f"{len(text)} chars"))
    checks.append(check("... but different perplexity per token (PPL_pair == PPL_char^2)",
                        abs(tab["pair"][2] - tab["char"][2] ** 2) < 1e-6 * tab["pair"][2]
                        and tab["pair"][2] > tab["char"][2],
                        f"PPL char {tab['char'][2]:.3f}, PPL pair {tab['pair'][2]:.3f}"))
    return checks
