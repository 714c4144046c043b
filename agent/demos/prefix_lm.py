"""PrefixLM: attention is bidirectional over the prefix (the "input") and causal over the target.

One decoder-only stack behaves like an encoder on the prefix (every prefix token sees the whole prefix)
and like a language model on the rest (each target token sees the prefix and earlier targets only). The loss
is on the target tokens; the prefix is conditioning, as in an encoder-decoder, but with shared weights.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fresh_seed

TITLE = "PrefixLM: bidirectional prefix, causal target"
CONCEPTS = ["prefix-lm-mask", "loss-on-target-only"]
QUESTIONS = ["prefix-lm", "causal-vs-prefix-efficiency", "prefix-lm-adoption"]

IGNORE = -100


def prefix_lm_mask(T: int, prefix: int, device: str):
    """allowed[i, j]: query i may attend to key j. Causal (j <= i), plus every key inside the prefix."""
    import torch

    i = torch.arange(T, device=device).unsqueeze(1)
    j = torch.arange(T, device=device).unsqueeze(0)
    return (j <= i) | (j < prefix)


def attend(x, w_q, w_k, w_v, allowed):
    """One attention layer with a boolean mask (True = may attend)."""
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, attn_mask=allowed)


def prefix_lm_labels(ids, prefix: int):
    """Next-token labels with the prefix's own tokens excluded: only targets are predicted."""
    labels = ids.clone()
    labels[:prefix] = IGNORE
    return labels


def run(device: str = "cpu") -> DemoResult:
    T, P = 7, 3
    allowed = prefix_lm_mask(T, P, device)
    rows = [[f"{'prefix' if i < P else 'target'} {i}"] + ["x" if a else "." for a in allowed[i].tolist()]
            for i in range(T)]
    return DemoResult(
        narration=(
            f"A {T}-token sequence with a {P}-token prefix. The prefix block is full (bidirectional, like an "
            "encoder); below it the mask is lower-triangular (causal, like a decoder), and every target row also "
            "sees the whole prefix. Prefix labels are -100: the loss is on the target, and the last prefix "
            "position predicts the first target token."
        ),
        numbers={"allowed pairs": int(allowed.sum()), "causal would allow": T * (T + 1) // 2},
        tables=[Table("mask (x = may attend); rows are queries", ["", *[str(j) for j in range(T)]], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    T, D = int(torch.randint(4, 30, (1,))), 16
    P = int(torch.randint(2, T - 1, (1,)))
    w = [torch.randn(D, D, device=device, dtype=torch.float64) / D**0.5 for _ in range(3)]
    x = torch.randn(T, D, device=device, dtype=torch.float64)
    allowed = prefix_lm_mask(T, P, device)
    out = attend(x, *w, allowed)

    def moved_before(j: int, upto: int) -> float:
        y = x.clone()
        y[j] += torch.randn(D, device=device, dtype=torch.float64)
        return (attend(y, *w, allowed)[:upto] - out[:upto]).abs().max().item()

    j = int(torch.randint(1, P, (1,)))
    checks = [check("prefix is bidirectional: changing prefix token j moves outputs before j",
                    moved_before(j, j) > 1e-6, f"T={T} P={P} j={j}")]
    k = int(torch.randint(P, T, (1,)))
    checks.append(check("target is causal: changing target token k leaves every output before k unchanged",
                        moved_before(k, k) < 1e-12, f"k={k}"))
    checks.append(check("mask: causal when the prefix is empty, full when it is everything",
                        bool((prefix_lm_mask(T, 0, device) == torch.ones(T, T, dtype=torch.bool, device=device)
                              .tril()).all()) and bool(prefix_lm_mask(T, T, device).all()), ""))
    V = 30
    ids = torch.randint(0, V, (T,), device=device)
    logits = torch.randn(T, V, device=device, dtype=torch.float64, requires_grad=True)
    labels = prefix_lm_labels(ids, P)
    loss = F.cross_entropy(logits[:-1], labels[1:], ignore_index=IGNORE)
    checks.append(check_close("loss == mean NLL of the target tokens only", loss,
                              -logits[P - 1:-1].log_softmax(-1).gather(1, ids[P:, None]).mean(), atol=1e-12))
    loss.backward()
    checks.append(check("positions inside the prefix (except the last) get no gradient",
                        logits.grad[: P - 1].abs().max().item() == 0 and logits.grad[P - 1].abs().sum().item() > 0,
                        ""))
    return checks
