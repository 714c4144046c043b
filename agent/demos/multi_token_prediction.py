"""Multi-token prediction: k output heads on one trunk; head i predicts the token i+1 steps ahead.

At position t, head 1 predicts x[t+1] (ordinary next-token), head 2 predicts x[t+2], ..., head k predicts
x[t+k]. Head i therefore has T - i valid positions (the last i positions have no target), and the training
loss is the mean of the heads' cross-entropies. At inference the extra heads can be dropped, or used to
draft tokens for speculative decoding.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Multi-token prediction: k heads for t+1 ... t+k"
CONCEPTS = ["mtp-heads", "mtp-loss"]
QUESTIONS = ["multi-token-prediction"]


def mtp_losses(head_logits: list, ids) -> list:
    """head_logits[i]: (B, T, V) from head i+1, which predicts ids[:, t + i + 1] at position t."""
    import torch.nn.functional as F

    losses = []
    for i, logits in enumerate(head_logits):
        offset = i + 1
        pred = logits[:, :-offset]  # positions that have a token `offset` steps ahead
        target = ids[:, offset:]
        losses.append(F.cross_entropy(pred.reshape(-1, pred.size(-1)), target.reshape(-1)))
    return losses


def mtp_loss(head_logits: list, ids):
    import torch

    return torch.stack(mtp_losses(head_logits, ids)).mean()


def oracle_heads(ids, k: int, V: int, shift: int = 0, confidence: float = 20.0):
    """Logits that put (almost) all mass on the true future token; `shift` misaligns them on purpose."""
    import torch
    import torch.nn.functional as F

    heads = []
    for i in range(k):
        future = torch.roll(ids, -(i + 1 + shift), dims=1)
        heads.append(F.one_hot(future, V).float() * confidence)
    return heads


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    words = "a b c d e f g h".split()
    k = 3
    rows = [[f"head {i + 1}", " ".join(f"{words[t]}->{words[t + i + 1]}" for t in range(8 - i - 1)), 8 - i - 1]
            for i in range(k)]
    V = 50
    ids2 = torch.randint(0, V, (4, 32), device=device)
    right = mtp_loss(oracle_heads(ids2, k, V), ids2).item()
    wrong = mtp_loss(oracle_heads(ids2, k, V, shift=1), ids2).item()
    return DemoResult(
        narration=(
            f"With k = {k} heads, each position of 'a b c d e f g h' is asked for the next {k} tokens. Head i pairs "
            "position t with token t+i, so it has i fewer training pairs. The loss is the mean of the heads' "
            f"cross-entropies. Heads that know the true future tokens score {right:.2e}; the same heads off by "
            f"one position score {wrong:.2f}: the alignment is the whole trick."
        ),
        numbers={"loss, aligned oracle": f"{right:.2e}", "loss, off by one": fmt(wrong)},
        tables=[Table("(input position -> target) pairs per head", ["head", "pairs", "n"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    B, T, V, k = 3, int(torch.randint(6, 40, (1,))), int(torch.randint(5, 100, (1,))), int(torch.randint(1, 5, (1,)))
    ids = torch.randint(0, V, (B, T), device=device)
    heads = [torch.randn(B, T, V, device=device) for _ in range(k)]
    losses = mtp_losses(heads, ids)
    by_loop = []
    for i in range(k):
        terms = [F.cross_entropy(heads[i][b, t], ids[b, t + i + 1]) for b in range(B) for t in range(T - i - 1)]
        by_loop.append(torch.stack(terms).mean())
    checks = [check_close("per-head loss == a loop pairing position t with token t+i", torch.stack(losses),
                          torch.stack(by_loop), atol=1e-5, what=f"k={k} T={T} V={V}")]
    checks.append(check_close("total == mean of the head losses", mtp_loss(heads, ids), torch.stack(by_loop).mean(),
                              atol=1e-5))
    checks.append(check("head 1 alone is the ordinary next-token loss",
                        abs(losses[0].item() - F.cross_entropy(heads[0][:, :-1].reshape(-1, V),
                                                               ids[:, 1:].reshape(-1)).item()) < 1e-6, ""))
    right = mtp_loss(oracle_heads(ids, k, V), ids).item()
    wrong = mtp_loss(oracle_heads(ids, k, V, shift=1), ids).item()
    checks.append(check("heads that know the aligned future reach ~0 loss; misaligned by one they do not",
                        right < 1e-3 and wrong > 1.0, f"aligned {right:.2e}, off by one {wrong:.2f}"))
    return checks
