"""Scaled dot-product attention by hand: softmax(Q K^T / sqrt(d) + mask) V.

The hand-written version equals ``F.scaled_dot_product_attention`` with and without the causal flag, and a
multi-head layer is the same computation after splitting the model dimension into heads:
(B, T, D) -> (B, H, T, D/H) -> attention per head -> (B, T, D). It matches ``nn.MultiheadAttention`` given the
same weights.
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Scaled dot-product attention by hand equals F.scaled_dot_product_attention"
CONCEPTS = ["scaled-dot-product-attention", "multi-head-shapes", "causal-mask"]
QUESTIONS = ["clm-no-bidirectional", "attention-bottlenecks", "attention-long-context",
    "multi-head-attention"]


def attention(q, k, v, causal: bool = False):
    """softmax(q k^T / sqrt(d)) v over the last two dimensions; causal hides keys after the query."""
    import torch

    d = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., T_q, T_k)
    if causal:
        T_q, T_k = scores.shape[-2:]
        future = torch.ones(T_q, T_k, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    return scores.softmax(dim=-1) @ v


def multi_head(x, w_q, w_k, w_v, w_o, heads: int, causal: bool = False):
    """Project, split D into heads, attend per head, merge heads, project out."""
    B, T, D = x.shape

    def split(t):  # (B, T, D) -> (B, H, T, D/H)
        return t.view(B, T, heads, D // heads).transpose(1, 2)

    out = attention(split(x @ w_q.T), split(x @ w_k.T), split(x @ w_v.T), causal)
    return out.transpose(1, 2).reshape(B, T, D) @ w_o.T  # merge: (B, H, T, D/H) -> (B, T, D)


def run(device: str = "cpu") -> DemoResult:
    import torch
    import torch.nn.functional as F

    fresh_seed(0)
    q, k, v = (torch.randn(1, 2, 5, 4, device=device) for _ in range(3))
    mine = attention(q, k, v, causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    weights = (q @ k.transpose(-2, -1) / 2).masked_fill(
        torch.ones(5, 5, dtype=torch.bool, device=device).triu(1), float("-inf")).softmax(-1)[0, 0]
    rows = [[f"query {i}"] + [fmt(w, 2) for w in weights[i].tolist()] for i in range(5)]
    gap = (mine - ref).abs().max().item()
    return DemoResult(
        narration=(
            "Scores are query-key dot products scaled by 1/sqrt(d) so their variance does not grow with the head "
            "size; softmax turns each row into weights over keys, and the output mixes the values. With the "
            "causal mask, row i has zero weight on keys after i (the upper triangle below). The hand-written "
            f"version and F.scaled_dot_product_attention differ by at most {gap:.1e}."
        ),
        numbers={"max |hand - F.sdpa| (causal)": f"{gap:.2e}", "shapes": "q,k,v (B=1, H=2, T=5, d=4)"},
        tables=[Table("causal attention weights, head 0", ["", *[f"key {j}" for j in range(5)]], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    B, H, T, d = (int(torch.randint(lo, hi, (1,))) for lo, hi in ((1, 4), (1, 5), (4, 20), (1, 33)))
    q, k, v = (torch.randn(B, H, T, d, device=device) for _ in range(3))
    checks = [
        check_close("hand-written == F.scaled_dot_product_attention", attention(q, k, v),
                    F.scaled_dot_product_attention(q, k, v), atol=1e-5, what=f"B={B} H={H} T={T} d={d}"),
        check_close("... with the causal flag", attention(q, k, v, causal=True),
                    F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5),
    ]
    w = attention(q, k, torch.eye(T, device=device).expand(B, H, T, T), causal=True)  # v = I shows the weights
    checks.append(check("causal weights: rows sum to 1, nothing above the diagonal",
                        bool(torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)), atol=1e-5))
                        and w.triu(1).abs().max().item() == 0, f"T={T}"))
    # Multi-head against torch's own layer with the same weights.
    heads = int(torch.randint(1, 5, (1,)))
    D = heads * int(torch.randint(2, 9, (1,)))
    mha = torch.nn.MultiheadAttention(D, heads, bias=False, batch_first=True).to(device)
    x = torch.randn(2, T, D, device=device)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    mask = torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
    with torch.no_grad():
        ref, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
        mine = multi_head(x, w_q, w_k, w_v, mha.out_proj.weight, heads, causal=True)
    checks.append(check_close("multi-head by hand == nn.MultiheadAttention", mine, ref, atol=1e-5,
                              what=f"D={D}, {heads} heads, output shape {tuple(mine.shape)}"))
    # Why 1/sqrt(d): unscaled dot products of unit-variance vectors have variance d.
    dd = 256
    a, b = torch.randn(4000, dd, device=device), torch.randn(4000, dd, device=device)
    raw, scaled = (a * b).sum(-1).var().item(), ((a * b).sum(-1) / math.sqrt(dd)).var().item()
    checks.append(check("dot products have variance ~d; scaling by 1/sqrt(d) brings it to ~1",
                        abs(raw / dd - 1) < 0.15 and abs(scaled - 1) < 0.15, f"d={dd}: var {raw:.1f} -> {scaled:.3f}"))
    return checks
