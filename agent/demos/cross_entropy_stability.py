"""Cross-entropy and numerical stability: never compute softmax and then take its log.

Cross-entropy at the target is -log softmax(z)[y] = logsumexp(z) - z[y]. Computed naively, exp(z) overflows
to inf once a logit passes about 88 in float32 (about 11 in float16), and a tiny probability underflows to 0
so its log is -inf. The log-sum-exp trick subtracts the largest logit first,
logsumexp(z) = m + log sum exp(z - m), so every exponent is <= 0 and the result is exact. ``F.cross_entropy``
(log_softmax + NLL, fused) does this; so do fused kernels that never materialise the probabilities.
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Cross-entropy stability: softmax-then-log overflows, log-sum-exp does not"
CONCEPTS = ["log-sum-exp", "fused-cross-entropy", "numerical-stability"]
QUESTIONS = ["log-sum-exp", "why-cross-entropy", "fused-cross-entropy", "softmax-cross-entropy"]


def naive_ce(z, y):
    """-log(exp(z_y) / sum exp(z)): the textbook formula, computed literally."""
    e = z.exp()
    p = e / e.sum(-1, keepdim=True)
    return -p.gather(-1, y.unsqueeze(-1)).squeeze(-1).log()


def logsumexp(z):
    """The trick: pull out the max so that every exponent is <= 0."""
    m = z.max(-1, keepdim=True).values
    return (m + (z - m).exp().sum(-1, keepdim=True).log()).squeeze(-1)


def stable_ce(z, y):
    return logsumexp(z) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)


def run(device: str = "cpu") -> DemoResult:
    import torch
    import torch.nn.functional as F

    fresh_seed(0)
    rows = []
    for dtype in (torch.float32, torch.float16):
        for scale in (1.0, 10.0, 100.0, 1000.0):
            z = torch.tensor([[2.0, 1.0, -1.0, 0.5]], device=device) * scale
            z = z.to(dtype)
            y = torch.tensor([2], device=device)  # the lowest logit is the target: the hard case
            rows.append([str(dtype).replace("torch.", ""), scale, fmt(naive_ce(z, y).item()),
                         fmt(stable_ce(z, y).item()), fmt(F.cross_entropy(z.float(), y).item())])
    return DemoResult(
        narration=(
            "The logits [2, 1, -1, 0.5] are scaled up and the target is the lowest one. The naive formula "
            "breaks early: exp overflows (inf/inf = nan) or the target's probability underflows to 0 "
            "(-log 0 = inf). The log-sum-exp version and F.cross_entropy give the right, finite answer at every "
            "scale: the loss grows linearly, 3 x scale. float16 breaks the naive path already at scale 10 "
            f"(exp(20) > 65504); float32 at scale 100 (exp(200) > 3.4e38; the limit is log(3.4e38) = "
            f"{math.log(3.4e38):.1f})."
        ),
        numbers={"float32 exp overflows above": 88.7, "float16 exp overflows above": fmt(math.log(65504))},
        tables=[Table("CE of the lowest logit", ["dtype", "scale", "naive softmax->log", "log-sum-exp",
                                                  "F.cross_entropy (fp32)"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    N, V = int(torch.randint(1, 64, (1,))), int(torch.randint(2, 500, (1,)))
    z = torch.randn(N, V, device=device, dtype=torch.float64) * 5
    y = torch.randint(0, V, (N,), device=device)
    checks = [
        check_close("CE == -log softmax at the target", F.cross_entropy(z, y, reduction="none"),
                    -z.log_softmax(-1).gather(1, y[:, None]).squeeze(1), atol=1e-10, what=f"N={N} V={V}"),
        check_close("log-sum-exp with the max pulled out == torch.logsumexp", logsumexp(z), torch.logsumexp(z, -1),
                    atol=1e-10),
        check_close("naive == stable on moderate logits", naive_ce(z, y), stable_ce(z, y), atol=1e-8),
    ]
    big = torch.randn(N, V, device=device) * 10 + 200.0  # every exp overflows in float32
    naive = naive_ce(big, y)
    ref = F.cross_entropy(big.double(), y, reduction="none")
    checks.append(check("float32, logits ~200: naive is not finite, F.cross_entropy and the trick are exact",
                        not bool(torch.isfinite(naive).any())
                        and bool(torch.allclose(F.cross_entropy(big, y, reduction="none").double(), ref, atol=1e-3))
                        and bool(torch.allclose(stable_ce(big, y).double(), ref, atol=1e-3)),
                        f"naive finite: {int(torch.isfinite(naive).sum())}/{N}"))
    spread = torch.randn(N, V, device=device) * 3  # the target sits 200 below: exp(-200) is 0 in float32
    spread[torch.arange(N, device=device), y] = spread.min(-1).values - 200
    under = naive_ce(spread, y)
    checks.append(check("float32 underflow: p -> 0 so naive -log p = inf, while log-sum-exp stays finite",
                        bool(torch.isinf(under).all()) and bool(torch.isfinite(stable_ce(spread, y)).all()),
                        f"stable loss ~ {stable_ce(spread, y).mean().item():.1f}"))
    half = (torch.randn(N, V, device=device) * 3 + 20).half()  # exp(20) > 65504
    checks.append(check("float16, logits ~20: naive overflows, the trick in float16 stays finite and close",
                        not bool(torch.isfinite(naive_ce(half, y)).all())
                        and bool(torch.allclose(stable_ce(half, y).double(),
                                                F.cross_entropy(half.double(), y, reduction="none"), atol=0.1)),
                        "float16 max is 65504 = exp(11.09)"))
    return checks
