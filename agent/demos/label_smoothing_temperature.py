"""Label smoothing and temperature: one changes the target distribution, the other the model's.

Label smoothing with eps trains against (1 - eps) * onehot + eps / V: the target has more entropy, and
the best achievable logits stay finite (the model is not pushed to infinite confidence). Temperature T
divides the logits at sampling time: softmax(z / T) keeps the ranking (the argmax never changes) but
T < 1 sharpens towards the argmax and T > 1 flattens towards uniform.
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, check_close, fmt, fresh_seed

TITLE = "Label smoothing and temperature: target and output distributions"
CONCEPTS = ["label-smoothing", "temperature"]
QUESTIONS = ["why-cross-entropy", "label-smoothing", "temperature-ambiguity"]


def smoothed_target(y, V: int, eps: float):
    import torch.nn.functional as F

    return (1 - eps) * F.one_hot(y, V).double() + eps / V


def entropy(p):
    return -(p * p.clamp_min(1e-300).log()).sum(-1)


def run(device: str = "cpu") -> DemoResult:
    import torch

    fresh_seed(0)
    V = 5
    y = torch.tensor([2], device=device)
    rows = []
    for eps in (0.0, 0.1, 0.3):
        t = smoothed_target(y, V, eps)[0]
        gap = math.inf if eps == 0 else math.log((1 - eps + eps / V) / (eps / V))
        rows.append([eps, str([fmt(v, 3) for v in t.tolist()]), fmt(entropy(t).item()), fmt(gap)])
    z = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0], device=device, dtype=torch.float64)
    trows = [[T, str([fmt(v, 3) for v in (z / T).softmax(-1).tolist()]), fmt(entropy((z / T).softmax(-1)).item())]
             for T in (0.25, 0.5, 1.0, 2.0, 10.0)]
    return DemoResult(
        narration=(
            "Label smoothing spreads eps of the target mass evenly: the target's entropy rises and the logit gap "
            "that minimises the loss is log((1 - eps + eps/V) / (eps/V)), finite, instead of infinite for a "
            "one-hot target. Temperature rescales the logits: low T approaches the argmax (entropy -> 0), high T "
            f"approaches uniform (entropy -> log V = {math.log(V):.3f}), and the ranking never changes."
        ),
        numbers={"V": V},
        tables=[Table("label smoothing (target class 2)", ["eps", "target", "entropy", "optimal logit gap"], rows),
                Table("temperature on logits [2, 1, 0.5, 0, -1]", ["T", "softmax(z / T)", "entropy"], trows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    N, V = int(torch.randint(1, 40, (1,))), int(torch.randint(2, 200, (1,)))
    eps = float(torch.rand(())) * 0.5
    z = torch.randn(N, V, device=device, dtype=torch.float64) * 3
    y = torch.randint(0, V, (N,), device=device)
    by_hand = -(smoothed_target(y, V, eps) * z.log_softmax(-1)).sum(-1).mean()
    checks = [check_close("F.cross_entropy(label_smoothing=eps) == CE against (1-eps) onehot + eps/V",
                          F.cross_entropy(z, y, label_smoothing=eps), by_hand, atol=1e-10, what=f"eps={eps:.3f}")]
    ents = [entropy(smoothed_target(y[:1], V, e)).item() for e in (0.0, eps / 2, eps)]
    checks.append(check("smoothing raises the target's entropy", ents[0] < ents[1] < ents[2] or eps < 1e-6,
                        f"{[round(e, 4) for e in ents]}"))
    # The loss is minimised by predicting the smoothed target itself: its log is the optimum (finite logits).
    opt = smoothed_target(y, V, eps).log()
    opt_loss = F.cross_entropy(opt, y, label_smoothing=eps)
    near = opt + torch.randn_like(opt) * 0.1
    checks.append(check("the minimiser under smoothing is the smoothed target (finite logits)",
                        opt_loss.item() <= F.cross_entropy(near, y, label_smoothing=eps).item()
                        and bool(torch.isfinite(opt).all()), f"loss at optimum {opt_loss.item():.4f}"))
    temps = torch.tensor([0.05, 0.3, 1.0, 3.0, 30.0], dtype=torch.float64, device=device)
    ent = torch.stack([entropy((z / T).softmax(-1)) for T in temps], dim=1)  # (N, 5)
    checks.append(check("entropy rises with temperature",
                        bool((ent.diff(dim=1) >= -1e-12).all()) and bool((ent[:, -1] > ent[:, 0]).all()),
                        f"row 0: {[round(v, 3) for v in ent[0].tolist()]}"))
    checks.append(check("temperature never changes the argmax",
                        all(bool(((z / T).argmax(-1) == z.argmax(-1)).all()) for T in temps), ""))
    checks.append(check_close("T -> infinity gives uniform (entropy log V)", entropy((z / 1e6).softmax(-1)),
                              torch.full((N,), math.log(V), device=device, dtype=torch.float64), atol=1e-6))
    top2 = z.topk(min(2, V), dim=-1).values
    T_cold = (top2[:, 0] - top2[:, -1]).min().item() / 50  # small against the closest top-2 gap
    cold = (z / T_cold).softmax(-1)
    checks.append(check_close("T -> 0 gives the one-hot argmax", cold, F.one_hot(z.argmax(-1), V).double(),
                              atol=1e-6, what=f"T={T_cold:.2g}"))
    return checks
