"""Causal mask: in a decoder, position t may attend only to positions <= t.

With the mask, perturbing a later token leaves every earlier output exactly as it was, so training on all
positions at once cannot leak the answer (the next token) into its own prediction. Without the mask the
same model's earlier outputs move: they have seen the future, and next-token training would be cheating.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, fmt, fresh_seed

TITLE = "Causal mask: earlier outputs cannot see later tokens"
CONCEPTS = ["causal-mask", "no-future-leakage"]
QUESTIONS = ["clm-no-bidirectional", "causal-masking", "causal-vs-bidirectional-mask",
    "causal-vs-prefix-efficiency", "masking-inference-speed", "qf-modern-default"]

VOCAB, DIM, HEADS, LAYERS = 50, 32, 4, 2


def tiny_transformer(device: str):
    """Token + position embeddings, two pre-norm transformer blocks, an output head (dropout off)."""
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = nn.Embedding(VOCAB, DIM), nn.Embedding(64, DIM)
            layer = nn.TransformerEncoderLayer(DIM, HEADS, 4 * DIM, dropout=0.0, batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
            self.head = nn.Linear(DIM, VOCAB)

        def forward(self, ids, causal: bool = True):
            import torch

            T = ids.size(1)
            x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))
            mask = nn.Transformer.generate_square_subsequent_mask(T, device=ids.device) if causal else None
            return self.head(self.blocks(x, mask=mask, is_causal=causal))

    return Tiny().to(device).eval()


def earlier_change(model, ids, j: int, causal: bool) -> float:
    """Largest change in the logits at positions < j when the token at j is replaced."""
    import torch

    other = ids.clone()
    other[:, j] = (other[:, j] + 1 + torch.randint(0, VOCAB - 1, (1,), device=ids.device)) % VOCAB
    with torch.no_grad():
        return (model(ids, causal)[:, :j] - model(other, causal)[:, :j]).abs().max().item()


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    model = tiny_transformer(device)
    ids = torch.randint(0, VOCAB, (1, 12), device=device)
    rows = [[j, f"{earlier_change(model, ids, j, True):.1e}", fmt(earlier_change(model, ids, j, False), 3)]
            for j in (3, 6, 9, 11)]
    return DemoResult(
        narration=(
            "A tiny 2-layer transformer reads 12 tokens. We replace the token at position j and measure how much "
            "the logits at positions before j move. With the causal mask they do not move at all: each position's "
            "prediction depends only on itself and the past. Without it (bidirectional attention) they change, "
            "so the model could read the very token it is asked to predict."
        ),
        numbers={"layers": LAYERS, "heads": HEADS, "sequence length": 12},
        tables=[Table("max change of earlier logits when token j changes", ["j", "causal", "no mask"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    model = tiny_transformer(device)
    T = int(torch.randint(4, 40, (1,)))
    ids = torch.randint(0, VOCAB, (3, T), device=device)
    j = int(torch.randint(1, T, (1,)))
    with_mask, without = earlier_change(model, ids, j, True), earlier_change(model, ids, j, False)
    checks = [
        check("with the mask, earlier logits do not change", with_mask < 1e-5, f"T={T}, j={j}: {with_mask:.2e}"),
        check("without the mask, they do", without > 1e-3, f"T={T}, j={j}: {without:.3g}"),
    ]
    # The mask does not hide the present or the past: changing token j changes logits at j and after.
    other = ids.clone()
    other[:, j] = (other[:, j] + 1) % VOCAB
    with torch.no_grad():
        later = (model(ids)[:, j:] - model(other)[:, j:]).abs().amax(dim=(0, 2))
    checks.append(check("with the mask, logits at j and after do change", bool((later > 1e-4).all()),
                        f"smallest change over positions >= j: {later.min().item():.3g}"))
    # Causal output at t == the output of the model run on the prefix alone (no peeking possible).
    t = int(torch.randint(1, T + 1, (1,)))
    with torch.no_grad():
        gap = (model(ids)[:, :t] - model(ids[:, :t])).abs().max().item()
    checks.append(check("causal logits on a sequence == logits on its prefix", gap < 1e-5, f"prefix {t}: {gap:.2e}"))
    return checks
