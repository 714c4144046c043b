"""The gradient of cross-entropy with respect to the logits is softmax(z) - onehot(y).

So every wrong class is pushed down in proportion to the probability it got, the right class is pulled
up by 1 - p_y, and each row's gradient sums to zero. With a mean over N examples it is divided by N. This
simple, bounded gradient (no exploding 1/p as with squared error on probabilities) is one reason
softmax + cross-entropy is the standard pairing.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "The gradient of cross-entropy is softmax minus one-hot"
CONCEPTS = ["softmax-minus-onehot"]
QUESTIONS = ["ce-gradient", "why-cross-entropy", "fused-cross-entropy", "ntp-cross-entropy",
    "softmax-cross-entropy"]


def analytic_grad(z, y):
    import torch.nn.functional as F

    return z.softmax(-1) - F.one_hot(y, z.size(-1)).to(z.dtype)


def run(device: str = "cpu") -> DemoResult:
    import torch
    import torch.nn.functional as F

    fresh_seed(0)
    z = torch.tensor([[2.0, 0.5, -1.0, 0.0]], device=device, requires_grad=True)
    y = torch.tensor([1], device=device)
    F.cross_entropy(z, y).backward()
    p = z.softmax(-1).detach()[0]
    rows = [[c, fmt(z[0, c].item()), fmt(p[c].item()), int(c == 1), fmt(z.grad[0, c].item())] for c in range(4)]
    return DemoResult(
        narration=(
            "For logits [2, 0.5, -1, 0] and target class 1, autograd's gradient equals softmax minus one-hot: "
            f"the target gets p - 1 = {p[1].item() - 1:.3f} (gradient descent raises it), every other class gets "
            "its own probability (lowered in proportion to how much it was believed). The row sums to zero."
        ),
        numbers={"sum of gradient": fmt(z.grad.sum().item())},
        tables=[Table("dCE/dz", ["class", "logit", "softmax", "one-hot", "autograd grad"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    N, V = int(torch.randint(1, 50, (1,))), int(torch.randint(2, 300, (1,)))
    z = (torch.randn(N, V, device=device, dtype=torch.float64) * 4).requires_grad_()
    y = torch.randint(0, V, (N,), device=device)
    (g_sum,) = torch.autograd.grad(F.cross_entropy(z, y, reduction="sum"), z)
    (g_mean,) = torch.autograd.grad(F.cross_entropy(z, y), z)
    checks = [
        check_close("autograd (sum) == softmax - onehot", g_sum, analytic_grad(z.detach(), y), atol=1e-12,
                    what=f"N={N} V={V}"),
        check_close("autograd (mean) == (softmax - onehot) / N", g_mean, analytic_grad(z.detach(), y) / N,
                    atol=1e-12),
        check_close("each row of the gradient sums to zero", g_sum.sum(-1), torch.zeros(N, device=device,
                    dtype=torch.float64), atol=1e-12),
        check("target entries are negative, the others positive, all within (-1, 1)",
              bool((g_sum[torch.arange(N, device=device), y] < 0).all()) and bool((g_sum.abs() < 1).all())
              and bool((g_sum.scatter(1, y[:, None], 1.0) > 0).all()), ""),
    ]
    small = torch.randn(2, 5, device=device, dtype=torch.float64, requires_grad=True)
    yy = torch.randint(0, 5, (2,), device=device)
    checks.append(check("torch.autograd.gradcheck (finite differences) agrees",
                        torch.autograd.gradcheck(lambda t: F.cross_entropy(t, yy), (small,)), "float64"))
    return checks
