"""z-loss: penalise log Z, the log of the softmax normaliser, so it stays near zero.

Cross-entropy is unchanged when the same constant is added to every logit, so nothing in it pins the
logits' overall level: as a model grows confident its logits (and log Z = logsumexp(z)) drift, which in
low precision (bf16 logits, large vocabularies) costs accuracy and can destabilise training. z-loss adds
coef * (log Z)^2 (PaLM used coef = 1e-4 over long runs); its gradient, 2 coef log Z softmax(z), pulls log Z
back to 0 without changing what the softmax predicts, so the logits become log-probabilities.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "z-loss keeps the softmax normaliser log Z near zero"
CONCEPTS = ["z-loss", "softmax-normaliser"]
QUESTIONS = ["z-loss"]

COEF = 5e-2  # far larger than PaLM's 1e-4, so that a 150-step demo shows the effect
CLASSES, DIM = 20, 16


def z_loss(logits, coef: float = COEF):
    return coef * logits.logsumexp(dim=-1).pow(2).mean()


def train(device: str, coef: float, steps: int = 150, log_every: int = 30):
    """A linear classifier on a learnable task; returns [(step, CE, mean log Z)]."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator(device="cpu").manual_seed(1234)  # the same task for both runs
    teacher = torch.randn(DIM, CLASSES, generator=g).to(device)
    x = torch.randn(1024, DIM, generator=g).to(device)
    y = (x @ teacher).argmax(-1)
    model = torch.nn.Linear(DIM, CLASSES).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    hist = []
    for step in range(steps + 1):
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        if step % log_every == 0:
            hist.append((step, ce.item(), logits.logsumexp(-1).mean().item()))
        loss = ce + (z_loss(logits, coef) if coef else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return hist


def run(device: str = "cpu") -> DemoResult:
    fresh_seed(0)
    without, with_z = train(device, 0.0), train(device, COEF)
    rows = [[a[0], fmt(a[1]), fmt(a[2]), fmt(b[1]), fmt(b[2])] for a, b in zip(without, with_z, strict=True)]
    return DemoResult(
        narration=(
            f"The same classifier trained twice. Without z-loss, log Z drifts to {without[-1][2]:.2f} as the "
            f"model grows confident; with coef = {COEF:g} it ends at {with_z[-1][2]:.2f}, while the "
            f"cross-entropy is {with_z[-1][1]:.3f} vs {without[-1][1]:.3f}. The predictions did not need the drift; "
            "at this deliberately large coefficient confidence costs a little more (a linear model cannot hold "
            "every example's log Z at 0 and still grow confident); real runs use a far smaller one over far more steps."
        ),
        numbers={"final log Z without": fmt(without[-1][2]), "final log Z with z-loss": fmt(with_z[-1][2])},
        tables=[Table("training", ["step", "CE (no z)", "log Z (no z)", "CE (z-loss)", "log Z (z-loss)"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    N, V = int(torch.randint(1, 64, (1,))), int(torch.randint(2, 500, (1,)))
    z = (torch.randn(N, V, device=device, dtype=torch.float64) * 3).requires_grad_()
    y = torch.randint(0, V, (N,), device=device)
    c = float(torch.rand(())) * 1e-2 + 1e-5
    checks = [check_close("z-loss == coef * mean(logsumexp(z)^2)", z_loss(z, c),
                          c * torch.stack([torch.log(torch.exp(r).sum()) ** 2 for r in z]).mean(), atol=1e-12)]
    shift = float(torch.randn(())) * 10
    checks.append(check("CE is invariant to adding a constant to every logit; z-loss is not",
                        abs(F.cross_entropy(z + shift, y).item() - F.cross_entropy(z, y).item()) < 1e-9
                        and abs(z_loss(z + shift, c).item() - z_loss(z, c).item()) > 1e-9, f"shift {shift:.2f}"))
    (g,) = torch.autograd.grad(z_loss(z, c), z)
    lz = z.detach().logsumexp(-1, keepdim=True)
    checks.append(check_close("gradient == 2 coef log Z softmax(z) / N", g, 2 * c * lz * z.detach().softmax(-1) / N,
                              atol=1e-12))
    without, with_z = train(device, 0.0, steps=100, log_every=100), train(device, COEF, steps=100, log_every=100)
    checks.append(check("training: log Z drifts without z-loss and stays near 0 with it",
                        abs(with_z[-1][2]) < 1.0 and without[-1][2] > 5.0,
                        f"log Z {without[-1][2]:.2f} without, {with_z[-1][2]:.2f} with"))
    return checks
