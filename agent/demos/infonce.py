"""Contrastive InfoNCE with in-batch negatives.

For a batch of B pairs (a_i, b_i), the similarity matrix S[i, j] = cos(a_i, b_j) / tau scores every a against
every b. Row i is a B-way classification whose correct answer is column i: the other B - 1 items in the batch
are the negatives for free. InfoNCE is exactly cross-entropy over the rows of S with targets 0..B-1 (CLIP
averages it with the column version). As tau -> infinity every row is uniform and the loss is log B; a
small tau sharpens it, punishing hard negatives most. The loss bounds mutual information: I >= log B - L.
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "InfoNCE with in-batch negatives is cross-entropy over similarities"
CONCEPTS = ["in-batch-negatives", "infonce-temperature"]
QUESTIONS = ["contrastive-losses", "ssl-other-tasks"]


def infonce(a, b, tau: float):
    import torch
    import torch.nn.functional as F

    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / tau  # (B, B): row i = query a_i against every b_j
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def infonce_by_hand(a, b, tau: float):
    """-log( exp(s_ii / tau) / sum_j exp(s_ij / tau) ), one row at a time."""
    import torch
    import torch.nn.functional as F

    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    terms = []
    for i in range(len(a)):
        s = torch.stack([a[i] @ b[j] for j in range(len(b))]) / tau
        terms.append(-(s[i] - torch.logsumexp(s, 0)))
    return torch.stack(terms).mean()


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    B, D = 32, 64
    a = torch.randn(B, D, device=device)
    b = a + 0.8 * torch.randn(B, D, device=device)  # positive pairs: noisy views of the same thing
    unrelated = torch.randn(B, D, device=device)
    rows = [[tau, fmt(infonce(a, b, tau).item()), fmt(infonce(a, unrelated, tau).item())]
            for tau in (0.01, 0.05, 0.1, 0.5, 1.0, 10.0)]
    return DemoResult(
        narration=(
            f"A batch of {B} pairs: each a_i is scored against all {B} b's, so every row has 1 positive and "
            f"{B - 1} in-batch negatives. With tau large the rows are uniform and the loss is log B = "
            f"{math.log(B):.3f} whatever the data; as tau falls, related pairs drive the loss towards 0 while "
            "unrelated ones are punished harder. Typical values are tau ~ 0.05-0.1 (or learned, as in CLIP)."
        ),
        numbers={"log B": fmt(math.log(B))},
        tables=[Table("InfoNCE loss by temperature", ["tau", "related pairs", "unrelated pairs"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    B, D = int(torch.randint(2, 40, (1,))), int(torch.randint(16, 64, (1,)))
    tau = float(torch.empty(()).uniform_(0.03, 1.0))
    a, b = torch.randn(B, D, device=device, dtype=torch.float64), torch.randn(B, D, device=device, dtype=torch.float64)
    checks = [check_close("InfoNCE == cross-entropy over the similarity matrix, by hand", infonce(a, b, tau),
                          infonce_by_hand(a, b, tau), atol=1e-10, what=f"B={B} D={D} tau={tau:.3f}")]
    checks.append(check_close("tau -> infinity: loss == log B", infonce(a, b, 1e7), math.log(B), atol=1e-5))
    aligned = infonce(a, a + 1e-3 * torch.randn_like(a), 0.01)
    checks.append(check("near-identical pairs with a small tau: loss -> 0", aligned.item() < 1e-3,
                        f"{aligned.item():.2e}"))
    perm = torch.randperm(B, device=device)
    checks.append(check_close("shuffling the batch (pairs kept) leaves the loss unchanged",
                              infonce(a[perm], b[perm], tau), infonce(a, b, tau), atol=1e-10))
    sym = 0.5 * (infonce(a, b, tau) + infonce(b, a, tau))
    an, bn = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    S = an @ bn.T / tau
    t = torch.arange(B, device=device)
    checks.append(check_close("CLIP's symmetric loss == mean of row-wise and column-wise cross-entropy", sym,
                              0.5 * (F.cross_entropy(S, t) + F.cross_entropy(S.T, t)), atol=1e-10))
    return checks
