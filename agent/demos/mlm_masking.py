"""MLM masking (BERT): select 15% of the tokens; of those, 80% become [MASK], 10% a random token, 10% stay.

The loss is computed only at the selected positions (labels elsewhere are -100). The 10% random and 10%
unchanged keep the model honest: [MASK] never appears at fine-tuning time, so the model must build a good
representation of every token, not only of masked ones. Special tokens ([CLS], [SEP], padding) are never
selected.
"""

from __future__ import annotations

from agent.demos._base import Check, DemoResult, Table, check, check_close, fresh_seed

TITLE = "MLM masking: 15% selected, 80/10/10 mask/random/keep"
CONCEPTS = ["mlm-15-percent", "80-10-10"]
QUESTIONS = ["mlm", "bert-masking", "causal-vs-bidirectional-mask", "mlm-sample-efficiency",
    "mlm-train-test-mismatch", "qf-bert-mask-ratio"]

IGNORE = -100
CLS, SEP, MASK, N_SPECIAL = 0, 1, 2, 3  # ids below N_SPECIAL are special tokens


def mask_tokens(ids, vocab_size: int, rate: float = 0.15):
    """BERT's recipe. Returns (corrupted inputs, labels with -100 where nothing was selected)."""
    import torch

    special = ids < N_SPECIAL
    selected = (torch.rand(ids.shape, device=ids.device) < rate) & ~special
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE))
    roll = torch.rand(ids.shape, device=ids.device)
    to_mask = selected & (roll < 0.8)
    to_random = selected & (roll >= 0.8) & (roll < 0.9)  # the remaining 10% keep their token
    inputs = ids.clone()
    inputs[to_mask] = MASK
    inputs[to_random] = torch.randint(N_SPECIAL, vocab_size, (int(to_random.sum()),), device=ids.device)
    return inputs, labels


def split_stats(ids, inputs, labels) -> dict[str, float]:
    sel = labels != IGNORE
    n_sel = int(sel.sum())
    return {"selected": n_sel / int((ids >= N_SPECIAL).sum()),
            "mask": int((inputs[sel] == MASK).sum()) / n_sel,
            "random": int(((inputs != ids) & (inputs != MASK) & sel).sum()) / n_sel,
            "kept": int((inputs[sel] == ids[sel]).sum()) / n_sel}


def random_batch(B: int, T: int, V: int, device: str):
    import torch

    ids = torch.randint(N_SPECIAL, V, (B, T), device=device)
    ids[:, 0], ids[:, -1] = CLS, SEP
    return ids


def run(device: str = "cpu") -> DemoResult:
    fresh_seed(0)
    V = 30000
    ids = random_batch(256, 128, V, device)
    inputs, labels = mask_tokens(ids, V)
    st = split_stats(ids, inputs, labels)
    rows = [[k, f"{100 * v:.2f}%", target] for (k, v), target in zip(st.items(), ["15%", "80%", "10%", "10%"], strict=True)]
    return DemoResult(
        narration=(
            f"Over {ids.numel():,} tokens, {100 * st['selected']:.2f}% were selected for prediction; of those "
            f"{100 * st['mask']:.1f}% became [MASK], {100 * st['random']:.1f}% a random token and "
            f"{100 * st['kept']:.1f}% stayed the same (a random replacement can land on the original token, "
            "about 1 in V, which counts as kept). [CLS] and [SEP] were never selected. Only the selected positions "
            "have labels, so only about 15% of positions produce a loss signal per sequence."
        ),
        numbers={"tokens": ids.numel(), "positions with loss": int((labels != IGNORE).sum())},
        tables=[Table("measured split", ["what", "measured", "recipe"], rows)],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch
    import torch.nn.functional as F

    fresh_seed(seed)
    V = int(torch.randint(1000, 50000, (1,)))
    ids = random_batch(400, 128, V, device)
    inputs, labels = mask_tokens(ids, V)
    st = split_stats(ids, inputs, labels)
    n = int((ids >= N_SPECIAL).sum())
    tol = 5 * (0.15 * 0.85 / n) ** 0.5  # five standard deviations of a binomial proportion
    n_sel = int((labels != IGNORE).sum())
    t2 = 5 * (0.1 * 0.9 / n_sel) ** 0.5
    checks = [
        check("15% of the ordinary tokens are selected", abs(st["selected"] - 0.15) < tol,
              f"{st['selected']:.4f} (+- {tol:.4f}, {n} tokens)"),
        check("80% of the selected become [MASK]", abs(st["mask"] - 0.8) < 5 * (0.16 / n_sel) ** 0.5,
              f"{st['mask']:.4f}"),
        check("10% become a random token", abs(st["random"] - 0.1) < t2, f"{st['random']:.4f}"),
        check("10% stay unchanged", abs(st["kept"] - 0.1 - 0.1 / (V - N_SPECIAL)) < t2, f"{st['kept']:.4f}"),
        check("special tokens are never selected or changed",
              bool((labels[:, [0, -1]] == IGNORE).all()) and bool((inputs[:, [0, -1]] == ids[:, [0, -1]]).all()), ""),
        check("unselected positions are untouched",
              bool((inputs[labels == IGNORE] == ids[labels == IGNORE]).all()), ""),
    ]
    small_v = 50
    logits = torch.randn(*ids.shape, small_v, device=device)
    lab = torch.where(labels != IGNORE, labels % small_v, labels)
    sel = lab != IGNORE
    checks.append(check_close("loss only on selected positions == mean CE over them",
                              F.cross_entropy(logits.transpose(1, 2), lab, ignore_index=IGNORE),
                              F.cross_entropy(logits[sel], lab[sel]), atol=1e-5))
    return checks
