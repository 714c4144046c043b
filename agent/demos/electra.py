"""ELECTRA: replaced-token detection.

A small generator (an MLM) fills the masked positions with sampled tokens; the discriminator sees the
corrupted sequence and labels every position "original" or "replaced". Its loss is on all positions, not on
the ~15% that MLM learns from, which is why ELECTRA is more sample-efficient per token. A sampled token that
happens to equal the original is labelled "original". Sampling is not differentiable, so the discriminator's
loss does not reach the generator: the two are trained with a summed loss, L_MLM + lambda * L_disc.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "ELECTRA: replaced-token detection puts loss on every position"
CONCEPTS = ["replaced-token-detection", "all-positions-loss", "sample-efficiency"]
QUESTIONS = ["electra", "electra-efficiency", "mlm-train-test-mismatch", "qf-electra-paper",
    "ssl-other-tasks"]

VOCAB, DIM, MASK, IGNORE, LAMBDA = 40, 32, 0, -100, 50.0


def make_models(device: str):
    from torch import nn

    generator = nn.Sequential(nn.Embedding(VOCAB, DIM), nn.Linear(DIM, VOCAB)).to(device)  # token -> logits
    discriminator = nn.Sequential(nn.Embedding(VOCAB, DIM), nn.Tanh(), nn.Linear(DIM, 1)).to(device)
    return generator, discriminator


def electra_step(ids, generator, discriminator, rate: float = 0.15):
    """One ELECTRA loss computation. Returns a dict with every intermediate for inspection."""
    import torch
    import torch.nn.functional as F

    selected = (torch.rand(ids.shape, device=ids.device) < rate) & (ids != MASK)
    masked = ids.masked_fill(selected, MASK)
    gen_logits = generator(masked)
    mlm_labels = ids.masked_fill(~selected, IGNORE)
    mlm_loss = F.cross_entropy(gen_logits.transpose(1, 2), mlm_labels, ignore_index=IGNORE)
    with torch.no_grad():  # sampling: no gradient flows back through the chosen tokens
        sampled = torch.distributions.Categorical(logits=gen_logits).sample()
    corrupted = torch.where(selected, sampled, ids)
    is_replaced = (corrupted != ids).float()  # a lucky sample of the original counts as original
    disc_logits = discriminator(corrupted).squeeze(-1)
    disc_loss = F.binary_cross_entropy_with_logits(disc_logits, is_replaced)  # mean over ALL positions
    return {"selected": selected, "corrupted": corrupted, "is_replaced": is_replaced, "gen_logits": gen_logits,
            "disc_logits": disc_logits, "mlm_loss": mlm_loss, "disc_loss": disc_loss,
            "loss": mlm_loss + LAMBDA * disc_loss}


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    gen, disc = make_models(device)
    ids = torch.randint(1, VOCAB, (1, 16), device=device)
    out = electra_step(ids, gen, disc, rate=0.25)  # a higher rate, so one short row shows a few replacements

    def row(t) -> list[str]:
        return [str(v) for v in t[0].tolist()]

    full = electra_step(torch.randint(1, VOCAB, (256, 128), device=device), gen, disc)
    frac_mlm = full["selected"].float().mean().item()
    return DemoResult(
        narration=(
            "The generator guesses tokens at the masked positions; the discriminator sees the result and "
            "labels each position. MLM learns from the selected positions only "
            f"({100 * frac_mlm:.1f}% here); the discriminator's loss covers every position, about "
            f"{1 / frac_mlm:.1f}x more positions with a training signal per sequence. A sample that equals the "
            "original token is labelled original, so the discriminator learns 'is this token plausible here', "
            "not 'was this position masked'."
        ),
        numbers={"positions with MLM loss": f"{100 * frac_mlm:.1f}%", "positions with discriminator loss": "100%",
                 "mlm loss": fmt(full["mlm_loss"].item()), "disc loss": fmt(full["disc_loss"].item())},
        tables=[Table("one sequence (untrained generator)", ["", *[str(i) for i in range(16)]],
                      [["original", *row(ids)], ["selected", *row(out["selected"].int())],
                       ["corrupted", *row(out["corrupted"])], ["replaced?", *row(out["is_replaced"].int())]])],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    gen, disc = make_models(device)
    ids = torch.randint(1, VOCAB, (128, 64), device=device)
    out = electra_step(ids, gen, disc)
    sel, rep = out["selected"], out["is_replaced"].bool()
    n_sel = int(sel.sum())
    same = int((sel & ~rep).sum())
    checks = [
        check("replaced label == (corrupted token != original)", bool((rep == (out["corrupted"] != ids)).all())
              and not bool((rep & ~sel).any()), f"{n_sel} selected, {same} sampled back the original"),
        check("MLM has loss on ~15% of positions", abs(n_sel / ids.numel() - 0.15) < 5 * (0.1275 / ids.numel()) ** 0.5,
              f"{n_sel / ids.numel():.4f}"),
    ]
    out["gen_logits"].retain_grad()
    out["disc_logits"].retain_grad()
    out["loss"].backward()
    g_gen = out["gen_logits"].grad.abs().sum(-1)
    g_disc = out["disc_logits"].grad.abs()
    checks.append(check("generator gradient only at selected positions",
                        bool((g_gen[~sel] == 0).all()) and bool((g_gen[sel] > 0).all()), ""))
    checks.append(check("discriminator gradient at every position (100% of tokens carry loss)",
                        bool((g_disc > 0).all()), f"{int((g_disc > 0).sum())}/{ids.numel()}"))
    gen2, disc2 = make_models(device)
    out2 = electra_step(ids, gen2, disc2)
    out2["disc_loss"].backward()
    no_grad = all(p.grad is None or p.grad.abs().max().item() == 0 for p in gen2.parameters())
    checks.append(check("the discriminator loss sends no gradient into the generator (sampling)", no_grad, ""))
    checks.append(check_close("total loss == L_MLM + lambda * L_disc", out2["loss"],
                              out2["mlm_loss"] + LAMBDA * out2["disc_loss"], atol=1e-5))
    return checks
