"""Positions: self-attention by itself does not know token order.

Without positional information, attention is permutation-equivariant: shuffle the tokens and the outputs
shuffle the same way, so "dog bites man" and "man bites dog" are the same bag. Adding sinusoidal position
embeddings breaks that symmetry. Rotary embeddings (RoPE) rotate queries and keys by an angle proportional to
their position, so a query-key score depends only on the offset between them: relative positions for free.
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Positions: attention is permutation-equivariant without them; RoPE encodes offsets"
CONCEPTS = ["permutation-equivariance", "sinusoidal-positions", "rope-relative"]
QUESTIONS = ["clm-no-bidirectional", "absolute-vs-relative-positions", "positional-encoding",
    "rope-long-context"]


def self_attention(x, w_q, w_k, w_v):
    """One head of bidirectional self-attention on x: (T, D)."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return (q @ k.T / math.sqrt(q.size(-1))).softmax(-1) @ v


def sinusoidal(T: int, D: int, device: str):
    """PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(...) (the original transformer's table)."""
    import torch

    pos = torch.arange(T, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, D, 2, device=device, dtype=torch.float32) / D)
    pe = torch.zeros(T, D, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


def rope(x, positions):
    """Rotate consecutive pairs (x[2i], x[2i+1]) by angle position * theta_i, theta_i = 10000^(-2i/D)."""
    import torch

    D = x.size(-1)
    theta = 10000.0 ** (-torch.arange(0, D, 2, device=x.device, dtype=x.dtype) / D)
    angle = positions.to(x.dtype).unsqueeze(-1) * theta  # (..., D/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    T, D = 6, 16
    x = torch.randn(T, D, device=device)
    w = [torch.randn(D, D, device=device) / math.sqrt(D) for _ in range(3)]
    perm = torch.randperm(T, device=device)
    no_pe = (self_attention(x[perm], *w) - self_attention(x, *w)[perm]).abs().max().item()
    pe = sinusoidal(T, D, device)
    with_pe = (self_attention(x[perm] + pe, *w) - self_attention(x + pe, *w)[perm]).abs().max().item()
    q, k = torch.randn(D, device=device), torch.randn(D, device=device)
    rows = []
    for m, n in [(3, 1), (10, 8), (52, 50), (7, 7), (9, 4)]:
        s = (rope(q, torch.tensor(m, device=device)) @ rope(k, torch.tensor(n, device=device))).item()
        rows.append([m, n, m - n, fmt(s)])
    return DemoResult(
        narration=(
            f"Shuffling {T} tokens and running attention without positions gives the shuffled outputs exactly "
            f"(max gap {no_pe:.1e}): the layer sees a set, not a sequence. With sinusoidal position embeddings "
            f"added the gap is {with_pe:.3f}: order now matters. With RoPE the score of a rotated query and key "
            "depends only on their offset m - n: the pairs (3,1), (10,8) and (52,50) score the same."
        ),
        numbers={"no positions: max |f(Px) - P f(x)|": f"{no_pe:.1e}", "sinusoidal: max |f(Px) - P f(x)|": fmt(with_pe)},
        tables=[Table("RoPE score q_m . k_n", ["m", "n", "m - n", "score"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    T, D = int(torch.randint(3, 30, (1,))), 2 * int(torch.randint(2, 32, (1,)))
    x = torch.randn(T, D, device=device, dtype=torch.float64)
    w = [torch.randn(D, D, device=device, dtype=torch.float64) / math.sqrt(D) for _ in range(3)]
    perm = torch.randperm(T, device=device)
    while bool((perm == torch.arange(T, device=device)).all()):
        perm = torch.randperm(T, device=device)
    checks = [check_close("no positions: attention(shuffled x) == shuffled attention(x)",
                          self_attention(x[perm], *w), self_attention(x, *w)[perm], atol=1e-10, what=f"T={T} D={D}")]
    pe = sinusoidal(T, D, device).double()
    gap = (self_attention(x[perm] + pe, *w) - self_attention(x + pe, *w)[perm]).abs().max().item()
    checks.append(check("sinusoidal positions break the symmetry", gap > 1e-4, f"max gap {gap:.3g}"))
    gap = (self_attention(rope(x[perm], torch.arange(T, device=device)), *w)
           - self_attention(rope(x, torch.arange(T, device=device)), *w)[perm]).abs().max().item()
    checks.append(check("RoPE breaks the symmetry too", gap > 1e-4, f"max gap {gap:.3g}"))
    q, k = torch.randn(D, device=device, dtype=torch.float64), torch.randn(D, device=device, dtype=torch.float64)
    m, n, s = (torch.randint(-1000, 1000, (), device=device) for _ in range(3))
    checks.append(check_close("RoPE: score(q at m, k at n) == score(q at m+s, k at n+s)",
                              rope(q, m) @ rope(k, n), rope(q, m + s) @ rope(k, n + s), atol=1e-8,
                              what=f"m={m.item()} n={n.item()} s={s.item()}"))
    checks.append(check_close("RoPE is a rotation: norms are kept", rope(q, m).norm(), q.norm(), atol=1e-10))
    far = (rope(q, m) @ rope(k, n) - rope(q, m + 1) @ rope(k, n)).abs().item()
    checks.append(check("RoPE: a different offset gives a different score", far > 1e-6, f"change {far:.3g}"))
    return checks
