"""Padding: batches of unequal-length sequences are padded, and the pads must not count in the loss.

Setting the label at pad positions to -100 (``ignore_index``) and averaging is exactly a mask-weighted mean
of the per-token losses: sum(loss * mask) / sum(mask). Appending more pads then changes nothing, and the
pad positions get zero gradient. Averaging over all positions instead (pads included) is a silent bug.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Padding: ignore_index=-100 equals a mask-weighted mean"
CONCEPTS = ["padding-mask", "ignore-index"]
QUESTIONS = ["clm-padding", "clm-loss-code"]

IGNORE = -100
PAD_ID = 0


def pad_batch(seqs, device: str):
    """Right-pad token lists to one length; labels are -100 where there is no real token."""
    import torch

    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), PAD_ID, device=device)
    labels = torch.full((len(seqs), T), IGNORE, device=device)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, device=device)
        labels[i, : len(s)] = torch.tensor(s, device=device)
    return ids, labels


def loss_ignore_index(logits, labels):
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE)


def loss_masked_mean(logits, labels):
    import torch.nn.functional as F

    mask = (labels != IGNORE).float()
    per_token = F.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
    return (per_token * mask).sum() / mask.sum()


def loss_pads_included(logits, ids):
    """The bug: pads are scored as if they were real targets (the model is taught to predict pads)."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), ids.reshape(-1))


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    seqs = [[5, 8, 2, 9, 4, 7], [3, 6], [1, 4, 4, 2]]
    ids, labels = pad_batch(seqs, device)
    logits = torch.randn(*ids.shape, 10, device=device)
    a, b, c = loss_ignore_index(logits, labels), loss_masked_mean(logits, labels), loss_pads_included(logits, ids)
    rows = [[str(ids[i].tolist()), str(labels[i].tolist())] for i in range(len(seqs))]
    return DemoResult(
        narration=(
            f"Three sequences of lengths 6, 2 and 4 padded to 6. With labels -100 at the pads, "
            f"F.cross_entropy(ignore_index=-100) = {a:.4f}, and the mask-weighted mean of per-token losses = "
            f"{b:.4f}: identical. Scoring the pads as targets gives {c:.4f}, a different (wrong) loss that "
            "also trains the model to predict padding. (These are token-level means: every real token weighs "
            "the same, so long sequences count more than short ones.)"
        ),
        numbers={"ignore_index loss": fmt(a), "mask-weighted mean": fmt(b), "pads included (bug)": fmt(c),
                 "real tokens": int((labels != IGNORE).sum())},
        tables=[Table("padded batch", ["ids", "labels"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    V = int(torch.randint(4, 200, (1,)))
    lengths = torch.randint(1, 30, (5,)).tolist()
    seqs = [torch.randint(1, V, (n,)).tolist() for n in lengths]
    ids, labels = pad_batch(seqs, device)
    logits = torch.randn(*ids.shape, V, device=device, requires_grad=True)
    loss = loss_ignore_index(logits, labels)
    checks = [check_close("ignore_index=-100 == mask-weighted mean", loss, loss_masked_mean(logits, labels),
                          atol=1e-5, what=f"lengths {lengths}")]
    # Append k more pads (with arbitrary logits there): the loss must not move.
    k = int(torch.randint(1, 10, (1,)))
    more_ids = torch.cat([ids, torch.full((5, k), PAD_ID, device=device)], 1)
    more_labels = torch.cat([labels, torch.full((5, k), IGNORE, device=device)], 1)
    more_logits = torch.cat([logits.detach(), torch.randn(5, k, V, device=device) * 10], 1)
    checks.append(check_close("appending pads changes nothing", loss_ignore_index(more_logits, more_labels),
                              loss.detach(), atol=1e-5, what=f"{k} extra pads"))
    loss.backward()
    pad = labels == IGNORE
    pad_grad = logits.grad[pad].abs().max().item() if pad.any() else 0.0
    real_grad = logits.grad[~pad].abs().sum(-1).min().item()
    checks.append(check("pad positions get zero gradient, real positions do not", pad_grad == 0 and real_grad > 0,
                        f"max |grad| at pads {pad_grad:.2g}, min row |grad| at tokens {real_grad:.2g}"))
    if pad.any():
        bug = (loss_pads_included(more_logits, more_ids) - loss.detach()).abs().item()
        checks.append(check("scoring pads as targets gives a different loss", bug > 1e-3, f"difference {bug:.3g}"))
    return checks
