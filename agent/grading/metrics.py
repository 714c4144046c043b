"""Agreement metrics for `viva eval`, in plain numpy: Pearson, Spearman, RMSE, quadratic-weighted kappa,
ROC-AUC (with ties) and best-threshold accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _arr(x: Sequence[float]) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def rankdata(x: Sequence[float]) -> np.ndarray:
    """Average ranks (1-based); ties share the mean of their positions."""
    a = _arr(x)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    sa = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sa[j + 1] == sa[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    a, b = _arr(x), _arr(y)
    if len(a) < 2 or len(a) != len(b):
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 2:
        return float("nan")
    return pearson(rankdata(x), rankdata(y))


def rmse(pred: Sequence[float], true: Sequence[float]) -> float:
    a, b = _arr(pred), _arr(true)
    if not len(a):
        return float("nan")
    return float(math.sqrt(float(((a - b) ** 2).mean())))


def quadratic_weighted_kappa(pred: Sequence[float], true: Sequence[float], min_rating: int | None = None,
                             max_rating: int | None = None) -> float:
    """Cohen's kappa with quadratic weights on integer ratings (values are rounded first)."""
    a = np.rint(_arr(pred)).astype(int)
    b = np.rint(_arr(true)).astype(int)
    if not len(a):
        return float("nan")
    lo = min(int(a.min()), int(b.min())) if min_rating is None else min_rating
    hi = max(int(a.max()), int(b.max())) if max_rating is None else max_rating
    a, b = np.clip(a, lo, hi), np.clip(b, lo, hi)
    n = hi - lo + 1
    if n <= 1:
        return 1.0
    obs = np.zeros((n, n))
    for i, j in zip(a - lo, b - lo, strict=True):
        obs[i, j] += 1
    hist_a, hist_b = obs.sum(1), obs.sum(0)
    exp = np.outer(hist_a, hist_b) / len(a)
    idx = np.arange(n)
    w = (idx[:, None] - idx[None, :]) ** 2 / (n - 1) ** 2
    den = float((w * exp).sum())
    return float(1.0 - (w * obs).sum() / den) if den > 0 else 1.0


def roc_auc(scores: Sequence[float], labels: Sequence[int | bool]) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); nan with one class."""
    s, y = _arr(scores), np.asarray(labels, dtype=bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def best_threshold_accuracy(scores: Sequence[float], labels: Sequence[int | bool]) -> tuple[float, float]:
    """The accuracy of the best cut ``score >= t`` -> positive, and that ``t``."""
    s, y = _arr(scores), np.asarray(labels, dtype=bool)
    if not len(s):
        return float("nan"), float("nan")
    order = np.argsort(-s, kind="mergesort")
    ss, yy = s[order], y[order]
    tp = np.cumsum(yy)
    fp = np.cumsum(~yy)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    # cut after position i (all of ss[:i+1] positive), only where the next score differs
    best_acc, best_t = n_neg / len(y), float(ss[0]) + 1e-9
    for i in range(len(ss)):
        if i + 1 < len(ss) and ss[i + 1] == ss[i]:
            continue
        acc = (tp[i] + (n_neg - fp[i])) / len(y)
        if acc > best_acc:
            best_acc, best_t = float(acc), float(ss[i])
    return float(best_acc), best_t
