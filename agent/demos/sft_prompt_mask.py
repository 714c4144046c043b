"""SFT prompt masking: in supervised fine-tuning only the response tokens are targets.

The prompt is in the input (the model conditions on it) but its labels are -100, so the loss is the mean
negative log-likelihood of the response alone and the logits at prompt positions get exactly zero gradient.
Mind the shift: the position that predicts the first response token is the last prompt position.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "SFT prompt masking: only response tokens carry loss"
CONCEPTS = ["prompt-masking", "response-only-loss"]
QUESTIONS = ["sft-prompt-mask", "instruction-formats", "instruction-tuning", "ssl-vs-sft"]

IGNORE = -100


def sft_labels(prompt_ids, response_ids):
    """Input = prompt + response; labels copy the input with the prompt replaced by -100."""
    import torch

    ids = torch.cat([prompt_ids, response_ids])
    labels = ids.clone()
    labels[: len(prompt_ids)] = IGNORE
    return ids, labels


def shifted_loss(logits, labels):
    """Causal LM loss: position t is scored on label t+1; -100 labels are skipped."""
    import torch.nn.functional as F

    return F.cross_entropy(logits[:-1], labels[1:], ignore_index=IGNORE)


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    words = "<user> what is two plus two ? <assistant> four . <eos>".split()
    vocab = sorted(set(words))
    enc = [vocab.index(w) for w in words]
    P = words.index("<assistant>") + 1
    ids, labels = sft_labels(torch.tensor(enc[:P], device=device), torch.tensor(enc[P:], device=device))
    logits = torch.randn(len(ids), len(vocab), device=device, requires_grad=True)
    loss = shifted_loss(logits, labels)
    loss.backward()
    full = torch.nn.functional.cross_entropy(logits[:-1], ids[1:]).item()
    rows = [[t, words[t], words[t + 1] if t + 1 < len(words) else "", "yes" if t + 1 >= P and t + 1 < len(words)
             else "no", fmt(logits.grad[t].abs().sum().item())] for t in range(len(words))]
    return DemoResult(
        narration=(
            f"The prompt has {P} tokens and the response {len(words) - P}. Only the response is scored: the loss "
            f"is {loss.item():.4f}, the mean over {len(words) - P} response targets (scoring everything would "
            f"give {full:.4f}). The gradient column shows zero at every position whose next token is in the "
            "prompt; the last prompt position is scored, because it predicts the first response token."
        ),
        numbers={"prompt tokens": P, "response tokens": len(words) - P, "response-only loss": fmt(loss.item()),
                 "loss if the prompt were scored": fmt(full)},
        tables=[Table("which positions carry loss", ["pos", "token", "predicts", "in loss", "|grad|"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    V, P, R = int(torch.randint(5, 100, (1,))), int(torch.randint(2, 20, (1,))), int(torch.randint(1, 20, (1,)))
    ids, labels = sft_labels(torch.randint(0, V, (P,), device=device), torch.randint(0, V, (R,), device=device))
    logits = torch.randn(P + R, V, device=device, requires_grad=True)
    loss = shifted_loss(logits, labels)
    by_hand = -logits[P - 1 : -1].log_softmax(-1).gather(1, ids[P:, None]).mean()
    checks = [check_close("loss == mean NLL of the response tokens only", loss, by_hand, atol=1e-5,
                          what=f"prompt {P}, response {R}")]
    loss.backward()
    g = logits.grad.abs().sum(-1)
    checks.append(check("zero gradient where the next token is in the prompt",
                        (P == 1 or g[: P - 1].max().item() == 0) and bool((g[P - 1 : -1] > 0).all()),
                        f"|grad| prompt rows max {g[: P - 1].max().item() if P > 1 else 0:.2g}, "
                        f"response rows min {g[P - 1 : -1].min().item():.2g}"))
    # Masked from the loss is not ignored: the prompt is context. In a tiny causal model (position t sees the
    # running mean of embeddings 0..t) the prompt's embeddings still receive gradient through the response.
    emb = torch.randn(P + R, 16, device=device, requires_grad=True)
    head = torch.randn(16, V, device=device)
    context = emb.cumsum(0) / torch.arange(1, P + R + 1, device=device).unsqueeze(1)
    shifted_loss(context @ head, labels).backward()
    prompt_grad = emb.grad[:P].abs().sum().item()
    checks.append(check("the prompt still gets gradient as context (through the response's predictions)",
                        prompt_grad > 0, f"|grad| on prompt embeddings {prompt_grad:.3g}"))
    full = F.cross_entropy(logits.detach()[:-1], ids[1:])
    checks.append(check("scoring the prompt too would give a different loss", P == 1 or
                        (full - loss.detach()).abs().item() > 1e-4, f"all-token loss {full.item():.4f} "
                        f"vs response-only {loss.item():.4f}"))
    return checks
