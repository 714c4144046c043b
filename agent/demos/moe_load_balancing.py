"""MoE load balancing: the auxiliary loss that keeps a router from sending every token to one expert.

Switch Transformer's loss is aux = N * sum_i f_i * P_i, where f_i is the fraction of tokens routed (top-1)
to expert i and P_i the mean router probability for expert i. It equals 1 when routing is uniform and N when
every token goes to one expert. Without it, routing is a rich-get-richer loop: an expert that is slightly
better early gets more tokens, trains more, gets better, and the router collapses onto it.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "MoE load balancing: the auxiliary loss prevents router collapse"
CONCEPTS = ["load-balancing-loss", "router-collapse"]
QUESTIONS = ["moe-aux-loss"]

EXPERTS, DIM, ALPHA, HEAD_START, LR = 4, 8, 0.5, 0.3, 0.05


def load_balancing_loss(router_logits):
    """Switch Transformer auxiliary loss for top-1 routing; router_logits: (tokens, experts)."""
    import torch.nn.functional as F

    n = router_logits.size(-1)
    probs = router_logits.softmax(-1)
    f = F.one_hot(probs.argmax(-1), n).float().mean(0)  # fraction of tokens per expert (no gradient)
    P = probs.mean(0)  # mean probability per expert (this carries the gradient)
    return n * (f * P).sum()


def train_router(device: str, alpha: float, steps: int = 200):
    """A router and linear experts on a regression task; expert 0 starts with a head start.

    Task loss: each token's error under its router distribution, sum_i p_i(x) * ||E_i x - y||^2, so experts
    train in proportion to the probability they get. Returns the final fraction of tokens per expert.
    """
    import torch

    g = torch.Generator(device="cpu").manual_seed(7)  # one fixed task
    target = torch.randn(DIM, DIM, generator=g).to(device)
    x = torch.randn(512, DIM, generator=g).to(device)
    y = x @ target
    router = torch.nn.Linear(DIM, EXPERTS).to(device)
    experts = torch.nn.Parameter(torch.randn(EXPERTS, DIM, DIM, device=device) * 0.5)
    with torch.no_grad():
        experts[0] = target + HEAD_START * torch.randn(DIM, DIM, device=device)  # slightly better at the start
    opt = torch.optim.Adam([*router.parameters(), experts], lr=LR)
    for _ in range(steps):
        logits = router(x)
        err = ((torch.einsum("nd,edk->nek", x, experts) - y.unsqueeze(1)) ** 2).mean(-1) / y.var()  # (tokens, experts)
        task = (logits.softmax(-1) * err).sum(-1).mean()
        loss = task + alpha * load_balancing_loss(logits)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.bincount(router(x).argmax(-1), minlength=EXPERTS).float() / len(x)


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    N = EXPERTS
    uniform = load_balancing_loss(torch.zeros(1000, N, device=device) + torch.eye(N, device=device).repeat(250, 1) * 1e-3)
    collapsed = load_balancing_loss(torch.tensor([[10.0] + [0.0] * (N - 1)], device=device).repeat(1000, 1))
    without, with_aux = train_router(device, 0.0), train_router(device, ALPHA)
    rows = [["without aux loss", *[f"{v:.2f}" for v in without.tolist()]],
            [f"with aux loss (alpha={ALPHA})", *[f"{v:.2f}" for v in with_aux.tolist()]]]
    return DemoResult(
        narration=(
            f"With {N} experts the auxiliary loss is {uniform.item():.3f} for balanced routing and "
            f"{collapsed.item():.3f} when every token goes to one expert. Trained on the task alone, the router "
            f"sends {100 * without.max().item():.0f}% of tokens to one expert (the one with a head start) and "
            f"{int((without < 0.05).sum())} experts starve: they get no tokens, so they never learn, so they never "
            f"get tokens. With the auxiliary loss (alpha = {ALPHA}) every expert gets at least "
            f"{100 * with_aux.min().item():.0f}% of the tokens (the busiest {100 * with_aux.max().item():.0f}%)."
        ),
        numbers={"aux, balanced": fmt(uniform.item()), "aux, collapsed": fmt(collapsed.item())},
        tables=[Table("fraction of tokens per expert after training", ["", *[f"expert {i}" for i in range(N)]], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    N, T = int(torch.randint(2, 16, (1,))), 64 * int(torch.randint(1, 20, (1,)))
    balanced = torch.eye(N, device=device).repeat(T // N + 1, 1)[:T] * 1e-4  # argmax cycles over experts
    checks = [check_close("balanced routing with near-uniform probabilities: aux == 1",
                          load_balancing_loss(balanced), 1.0, atol=1e-3, what=f"N={N}, {T} tokens")]
    hot = torch.zeros(T, N, device=device)
    hot[:, int(torch.randint(0, N, (1,)))] = 50.0
    checks.append(check_close("collapsed routing (one expert, certain): aux == N", load_balancing_loss(hot), float(N),
                              atol=1e-4))
    logits = torch.randn(T, N, device=device, requires_grad=True)
    aux = load_balancing_loss(logits)
    aux.backward()
    f = torch.bincount(logits.argmax(-1), minlength=N).float() / T
    busiest, idlest = int(f.argmax()), int(f.argmin())
    grad_p = logits.grad.mean(0)  # gradient descent moves logits against it
    checks.append(check("its gradient lowers the busiest expert's logits more than the idlest's",
                        grad_p[busiest].item() > grad_p[idlest].item() or f[busiest] == f[idlest],
                        f"load {f[busiest]:.2f} vs {f[idlest]:.2f}"))
    without, with_aux = train_router(device, 0.0, steps=120), train_router(device, ALPHA, steps=120)
    fair = 1.0 / EXPERTS
    checks.append(check("training: without it the loads are far from even (busiest - idlest >= 0.4, the idlest "
                        "starving under 10%); with it every expert gets 15-35%",
                        without.max().item() - without.min().item() >= 0.4 and without.min().item() < 0.1
                        and with_aux.min().item() >= 0.6 * fair and with_aux.max().item() <= 1.4 * fair,
                        f"loads without {[round(v, 2) for v in without.tolist()]}, "
                        f"with {[round(v, 2) for v in with_aux.tolist()]}"))
    return checks
