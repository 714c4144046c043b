"""Large vocabularies: the full softmax costs O(V) per token; two ways around it.

Adaptive softmax (``nn.AdaptiveLogSoftmaxWithLoss``) puts the frequent words in a small head and the rare
ones in clusters behind it, with smaller projections: most tokens only pay for the head, yet it is still an
exact, normalised distribution over all V words. Sampled softmax estimates the normaliser Z from K sampled
negatives, (V - 1) / K * sum exp(z_j) plus the target's own term: the estimate approaches the full loss as K
grows (exact at K = V - 1). Fused kernels attack the memory cost instead: they never materialise the
(tokens x V) probabilities at all.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Large vocabularies: adaptive softmax and sampled softmax"
CONCEPTS = ["adaptive-softmax", "sampled-softmax", "softmax-cost"]
QUESTIONS = ["large-vocab-softmax", "fused-cross-entropy", "vocab-size-tradeoffs"]


def sampled_softmax_loss(logits, target: int, K: int, repeats: int):
    """`repeats` independent estimates of -log p(target) using K uniformly sampled negatives each."""
    import torch

    V = logits.numel()
    others = torch.cat([logits[:target], logits[target + 1:]])  # the V - 1 negatives
    idx = torch.rand(repeats, V - 1, device=logits.device).argsort(dim=1)[:, :K]  # K without replacement
    z_hat = logits[target].exp() + (V - 1) / K * others[idx].exp().sum(dim=1)
    return z_hat.log() - logits[target]


def run(device: str = "cpu") -> DemoResult:
    import time

    import torch
    import torch.nn.functional as F

    fresh_seed(0)
    V, D, N = 32_000, 128, 256
    full = torch.nn.Linear(D, V).to(device)
    adaptive = torch.nn.AdaptiveLogSoftmaxWithLoss(D, V, cutoffs=[2_000, 10_000], div_value=4.0).to(device)
    h = torch.randn(N, D, device=device)
    # Zipf targets (p ~ 1 / rank, ids sorted by frequency): most tokens are frequent ones, as in real text.
    zipf = 1.0 / torch.arange(1, V + 1, device=device, dtype=torch.float32)
    y = torch.multinomial(zipf / zipf.sum(), N, replacement=True)
    with torch.no_grad():
        t0 = time.perf_counter()
        full_loss = F.cross_entropy(full(h), y)
        t_full = time.perf_counter() - t0
        t0 = time.perf_counter()
        ada_loss = adaptive(h, y).loss
        t_ada = time.perf_counter() - t0
    n_full = sum(p.numel() for p in full.parameters())
    n_ada = sum(p.numel() for p in adaptive.parameters())
    logits = torch.randn(5000, device=device) * 2
    exact = (torch.logsumexp(logits, 0) - logits[0]).item()
    rows = [[K, fmt(sampled_softmax_loss(logits, 0, K, 200).mean().item()),
             fmt((sampled_softmax_loss(logits, 0, K, 200) - exact).abs().mean().item())]
            for K in (10, 100, 1000, 4999)]
    return DemoResult(
        narration=(
            f"V = {V:,}. The full softmax layer has {n_full:,} parameters; the adaptive one ({100 * (y < 2000).float().mean():.0f}% "
            f"of these Zipf-distributed targets fall in its 2,000-word head) has {n_ada:,}, and a forward pass took "
            f"{1000 * t_ada:.1f} ms vs {1000 * t_full:.1f} ms (untrained losses {ada_loss.item():.2f} vs "
            f"{full_loss.item():.2f}). The "
            f"sampled-softmax estimate of one token's loss (exact {exact:.3f}) tightens as K grows and is exact "
            "when every negative is sampled."
        ),
        numbers={"full params": n_full, "adaptive params": n_ada, "full ms": fmt(1000 * t_full, 3),
                 "adaptive ms": fmt(1000 * t_ada, 3)},
        tables=[Table(f"sampled softmax, V=5000, exact loss {exact:.3f}", ["K negatives", "mean estimate",
                                                                        "mean |error|"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    V, D, N = int(torch.randint(200, 2000, (1,))), 32, 64
    c1 = int(torch.randint(10, V // 4, (1,)))
    c2 = int(torch.randint(c1 + 10, V - 10, (1,)))
    adaptive = torch.nn.AdaptiveLogSoftmaxWithLoss(D, V, cutoffs=[c1, c2], div_value=2.0).to(device)
    h = torch.randn(N, D, device=device)
    y = torch.randint(0, V, (N,), device=device)
    with torch.no_grad():
        logp = adaptive.log_prob(h)
        out = adaptive(h, y)
    checks = [
        check_close("adaptive softmax is a normalised distribution over all V (logsumexp == 0)",
                    torch.logsumexp(logp, dim=1), torch.zeros(N, device=device), atol=1e-4,
                    what=f"V={V}, cutoffs {c1}, {c2}"),
        check_close("its loss == -mean log_prob at the targets", out.loss, -logp[torch.arange(N, device=device), y].mean(), atol=1e-4),
        check("its head predicts the same class as the full log_prob", bool((adaptive.predict(h) == logp.argmax(1)).all()),
              ""),
    ]
    logits = torch.randn(V, device=device, dtype=torch.float64)
    t = int(torch.randint(0, V, (1,)))
    exact = torch.logsumexp(logits, 0) - logits[t]
    errs = {K: (sampled_softmax_loss(logits, t, K, 300) - exact).abs().mean().item() for K in (5, V // 4, V - 1)}
    checks.append(check("sampled softmax: the error shrinks as K grows and vanishes at K = V - 1",
                        errs[5] > errs[V // 4] and errs[V - 1] < 1e-9,
                        ", ".join(f"K={k}: {e:.3g}" for k, e in errs.items())))
    z_hat = (sampled_softmax_loss(logits, t, 50, 1000) + logits[t]).exp()
    z_true = logits.exp().sum()
    rel = ((z_hat.mean() - z_true) / z_true).abs().item()
    checks.append(check("the sampled normaliser Z is unbiased (mean of estimates ~ Z)", rel < 0.05,
                        f"relative error of the mean {rel:.4f}"))
    return checks
