"""Next-token data: (input, target) pairs come from raw text by shifting one position, and the causal LM
loss is the mean negative log-likelihood of each next token.

No labels are written by anyone: the text is its own supervision. Every position is a training example
(token t predicts token t+1), and the summed loss over a sequence is -log p(sequence) by the chain rule.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Next-token data: shift by one, loss = mean NLL"
CONCEPTS = ["next-token-cross-entropy", "every-position", "chain-rule-likelihood"]
QUESTIONS = ["clm-loss", "clm-loss-code", "why-cross-entropy", "causal-mask-efficiency",
    "mlm-sample-efficiency", "next-token-prediction", "ntp-cross-entropy", "pretraining-tasks",
    "qf-modern-default", "ssl-definition"]

TEXT = "the cat sat on the mat and the dog sat on the log"


def shift_pairs(ids):
    """(inputs, targets) for causal LM training: targets are the inputs moved left by one."""
    return ids[..., :-1], ids[..., 1:]


def clm_loss(logits, targets):
    """The library way: cross-entropy over the vocabulary at every position, averaged."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def nll_by_hand(logits, targets):
    """The same loss spelled out: log-softmax, pick the target's log-probability, negate, average."""
    logp = logits.log_softmax(dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # log p(target_t | tokens <= t)
    return -picked.mean()


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    words = TEXT.split()
    vocab = sorted(set(words))
    ids = torch.tensor([vocab.index(w) for w in words], device=device)
    inputs, targets = shift_pairs(ids)
    # A bigram "model" (one embedding row of logits per previous token), trained for a few steps.
    table = torch.zeros(len(vocab), len(vocab), device=device, requires_grad=True)
    opt = torch.optim.SGD([table], lr=2.0)
    losses = []
    for _ in range(30):
        loss = clm_loss(table[inputs], targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    logits = table[inputs].detach()
    losses.append(clm_loss(logits, targets).item())
    by_hand = nll_by_hand(logits, targets).item()
    seq_logp = logits.log_softmax(-1).gather(-1, targets[:, None]).sum().item()
    rows = [[words[i], words[i + 1], fmt(-logits[i].log_softmax(-1)[targets[i]].item())] for i in range(8)]
    return DemoResult(
        narration=(
            f"The sentence has {len(words)} tokens, so shifting by one gives {len(words) - 1} (input, target) "
            "pairs: every position is an example. A bigram model trained on them has "
            f"F.cross_entropy = {losses[-1]:.4f}, and gathering -log softmax at each target by hand and "
            f"averaging gives {by_hand:.4f}: the same number. Summed instead of averaged it is "
            f"-log p(sentence | first word) = {-seq_logp:.3f} nats (chain rule)."
        ),
        numbers={"pairs": len(words) - 1, "loss (F.cross_entropy)": fmt(losses[-1]),
                 "loss (by hand)": fmt(by_hand), "loss before training": fmt(losses[0]),
                 "-log p(sequence)": fmt(-seq_logp)},
        tables=[Table("first pairs and their per-token loss", ["input", "target", "-log p"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    B, T, V = 4, int(torch.randint(5, 40, (1,))), int(torch.randint(5, 300, (1,)))
    ids = torch.randint(0, V, (B, T + 1), device=device)
    inputs, targets = shift_pairs(ids)
    logits = torch.randn(B, T, V, device=device) * 3
    checks = [
        check("targets are inputs shifted by one", bool((inputs[:, 1:] == targets[:, :-1]).all())
              and inputs.shape == targets.shape == (B, T), f"B={B} T={T}"),
        check_close("F.cross_entropy == mean of -log_softmax gathered at the target",
                    clm_loss(logits, targets), nll_by_hand(logits, targets), atol=1e-5, what=f"V={V}"),
    ]
    # The vectorised shift is the same as walking the sequence: position t is scored on token t+1.
    walked = [-logits[b, t].log_softmax(-1)[ids[b, t + 1]] for b in range(B) for t in range(T)]
    checks.append(check_close("the shifted loss == a loop scoring position t on token t+1",
                              clm_loss(logits, targets), torch.stack(walked).mean(), atol=1e-5))
    # Chain rule: the summed per-token NLL is -log of the product of the next-token probabilities.
    lg = torch.randn(T, V, device=device, dtype=torch.float64)
    tg = torch.randint(0, V, (T,), device=device)
    p = lg.softmax(-1).gather(-1, tg[:, None]).squeeze(-1)
    checks.append(check_close("sum of per-token NLL == -log prod p(x_t | x_<t)", -torch.log(torch.prod(p)),
                              torch.nn.functional.cross_entropy(lg, tg, reduction="sum"), atol=1e-8))
    # Every position counts: changing the logits at a random position changes the loss.
    j = int(torch.randint(0, T, (1,)))
    bumped = logits.clone()
    bumped[:, j] += torch.randn(B, V, device=device) * 5
    changed = (clm_loss(bumped, targets) - clm_loss(logits, targets)).abs().item()
    checks.append(check("every position contributes (changing position j changes the loss)", changed > 1e-4,
                        f"j={j}, change {changed:.3g}"))
    return checks
