"""Emergence as a metric artefact: a smooth per-token improvement looks like a sudden jump in exact match.

If a model gets each token of a k-token answer right with probability p, and p rises smoothly with scale,
exact match needs all k right: p^k, which stays near zero and then shoots up. Nothing sudden happened to the
model; the all-or-nothing metric is a steep function of a smooth quantity. A per-token metric (accuracy, or
the log-likelihood of the answer) on the same models changes smoothly. (Schaeffer et al., 2023, "Are
Emergent Abilities of Large Language Models a Mirage?")
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, fmt, fresh_seed

TITLE = "Emergence as a metric artefact: smooth per-token accuracy, sharp exact match"
CONCEPTS = ["exact-match-artefact", "smooth-per-token-metric"]
QUESTIONS = ["emergence-guaranteed", "emergence-metric-artifact", "emergence-task-decomposition",
    "emergent-abilities", "next-token-prediction", "scale-generalisation"]

K = 10  # answer length in tokens


def per_token_accuracy(log10_params):
    """A smooth, made-up curve: logistic in log-scale, from 0.3 at 1e6 parameters to ~0.99 at 1e12."""
    return 0.3 + 0.7 / (1 + math.exp(-1.3 * (log10_params - 8.5)))


def simulate(p: float, k: int, n_questions: int, device: str):
    """Score n questions whose k tokens are each right with probability p; return (token acc, exact match)."""
    import torch

    right = torch.rand(n_questions, k, device=device) < p
    return right.float().mean().item(), right.all(dim=1).float().mean().item()


def flat_share(values: list[float], within: float = 0.05) -> float:
    """Share of the scales at which a metric is still within 5% (of its total rise) of where it started:
    how long the curve 'looks like nothing is happening'."""
    lo, hi = values[0], values[-1]
    return sum((v - lo) / (hi - lo) < within for v in values) / len(values)


def run(device: str = "cpu") -> DemoResult:
    fresh_seed(0)
    scales = [6 + 0.5 * i for i in range(13)]
    rows, tok, em, ll = [], [], [], []
    for s in scales:
        p = per_token_accuracy(s)
        t, e = simulate(p, K, 4000, device)
        tok.append(t)
        em.append(e)
        ll.append(K * math.log(p))
        rows.append([f"1e{s:g}", fmt(p, 3), fmt(t, 3), fmt(e, 3), fmt(K * math.log(p), 3)])
    return DemoResult(
        narration=(
            f"Per-token accuracy rises smoothly with scale (the same logistic curve throughout). Exact match on "
            f"{K}-token answers is p^{K}: it sits near 0 for small models and then climbs steeply, the curve that "
            f"gets called emergent. Exact match is flat (within 5% of its total rise from its start) at "
            f"{round(flat_share(em) * len(em))} of {len(em)} scales, per-token accuracy at {round(flat_share(tok) * len(tok))} "
            f"and the answer's log-likelihood (a continuous metric) at {round(flat_share(ll) * len(ll))}."
        ),
        numbers={"answer length k": K},
        tables=[Table("4000 simulated questions per scale", ["params", "p (true)", "token acc", "exact match",
                                                            "log p(answer)"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    k = int(torch.randint(5, 20, (1,)))
    p = float(torch.empty(()).uniform_(0.5, 0.98))
    n = 20000
    t, e = simulate(p, k, n, device)
    sd = math.sqrt(p ** k * (1 - p ** k) / n)
    checks = [check("exact match == p^k (all k tokens right)", abs(e - p ** k) < 5 * sd + 1e-4,
                    f"k={k} p={p:.3f}: measured {e:.4f}, p^k {p ** k:.4f}"),
              check("token accuracy == p", abs(t - p) < 5 * math.sqrt(p * (1 - p) / (n * k)), f"{t:.4f}")]
    center = float(torch.empty(()).uniform_(7, 10))
    slope = float(torch.empty(()).uniform_(0.8, 2.0))
    top = max(13.0, center + 6 / slope)  # far enough past the turn that even a late, slow rise ends near 1
    scales = [5 + (top - 5) * i / 32 for i in range(33)]
    ps = [0.2 + 0.8 / (1 + math.exp(-slope * (s - center))) for s in scales]
    em = [q ** k for q in ps]
    checks.append(check("exact match stays flat much longer than per-token accuracy, then rises",
                        flat_share(em) > flat_share(ps) + 0.15 and em[-1] > 0.5,
                        f"flat at {flat_share(em):.2f} vs {flat_share(ps):.2f} of the scales (k={k}, "
                        f"center 1e{center:.1f})"))
    checks.append(check("exact match is ~0 while per-token accuracy is already well above chance",
                        em[0] < 0.01 < 0.2 <= ps[0], f"p={ps[0]:.2f}, p^k={em[0]:.2e}"))
    lls = [k * math.log(q) for q in ps]
    checks.append(check("a continuous metric (log-likelihood of the answer) rises monotonically and smoothly",
                        all(b > a for a, b in zip(lls, lls[1:], strict=False)) and flat_share(lls) < flat_share(em),
                        f"flat at {flat_share(lls):.2f} of the scales"))
    return checks
