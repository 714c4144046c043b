"""Fit the stacked grader (agent/grading/stacked.py) on the project's graded interview answers.

    python scripts/entail/fit_stacker.py            # -> agent/grading/entail_model/stacked.json
    python scripts/entail/fit_stacker.py --report   # only print the shipped weights' figures

Data: data/graded_answers/answers.jsonl (written and graded for this purpose; see its README), split by the
bank question's topic (``split_of``): the ridge regression (scikit-learn) is fitted on the train topics; the
feature set (which graders are joined) and the ridge penalty are chosen by Spearman on the dev topics; the
test topics are graded once with the choice and printed beside each grader alone and the answer length alone.
Deterministic: no sampling anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "data" / "graded_answers" / "answers.jsonl"
OUT = ROOT / "agent" / "grading" / "entail_model" / "stacked.json"
CHOICES = [("embedding",), ("embedding", "contrastive"), ("embedding", "contrastive", "entail"),
           ("contrastive", "entail"), ("entail",)]
ALPHAS = (0.1, 1.0, 10.0, 100.0)


def split_of(topic: str) -> str:
    """A topic's split, by a hash of its name: about 20% test, 15% dev, the rest train."""
    h = int(hashlib.sha1(topic.encode("utf-8")).hexdigest(), 16) % 20
    return "test" if h < 4 else "dev" if h < 7 else "train"


def load() -> list[dict]:
    from agent.bank import default_bank

    bank = default_bank()
    rows = [json.loads(x) for x in DATA.read_text("utf-8").splitlines() if x.strip()]
    for r in rows:
        r["topic"] = bank.question(r["id"]).topic
        r["split"] = split_of(r["topic"])
    return rows


def grade_rows(rows: list[dict], parts) -> dict[str, list]:
    from agent.bank import default_bank
    from agent.grading.base import get_scorer

    bank = default_bank()
    items = [(bank.question(r["id"]), bank.rubrics[r["id"]], r["answer"]) for r in rows]
    out = {}
    for name in parts:
        scorer = get_scorer(name)
        out[name] = [g for i in range(0, len(items), 64) for g in scorer.score_many(items[i : i + 64])]
        print(f"  graded {len(items)} answers with {name}", flush=True)
    return out


def matrix(rows, grades, parts):
    from agent.grading.stacked import features

    fs = [features({p: grades[p][i] for p in parts}, r["answer"]) for i, r in enumerate(rows)]
    names = sorted(fs[0])
    return names, [[f[n] for n in names] for f in fs]


def report(rows: list[dict], pred: list[float]) -> dict:
    from scipy.stats import spearmanr

    true = [r["grade"] for r in rows]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r, p in zip(rows, pred, strict=True):
        by_kind[r["kind"]].append(p - r["grade"])
    mis = [p for r, p in zip(rows, pred, strict=True) if r["kind"] == "misconception"]
    gaming = [p for r, p in zip(rows, pred, strict=True) if r["kind"] == "gaming"]
    return {"answers": len(rows), "spearman": round(float(spearmanr(pred, true).statistic), 4),
            "mae": round(sum(abs(p - t) for p, t in zip(pred, true, strict=True)) / len(rows), 3),
            "bias_by_kind": {k: round(sum(v) / len(v), 2) for k, v in sorted(by_kind.items())},
            "misconception_le_2": round(sum(p <= 2 for p in mis) / max(1, len(mis)), 3),
            "gaming_le_1": round(sum(p <= 1 for p in gaming) / max(1, len(gaming)), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.linear_model import Ridge

    rows = load()
    split = {s: [i for i, r in enumerate(rows) if r["split"] == s] for s in ("train", "dev", "test")}
    print("answers per split:", {s: len(v) for s, v in split.items()},
          "topics:", {s: len({rows[i]["topic"] for i in v}) for s, v in split.items()})
    grades = grade_rows(rows, ("embedding", "contrastive", "entail"))
    y = np.array([r["grade"] for r in rows], dtype=float)
    if args.report:
        from agent.grading.stacked import Stacker, features

        st = Stacker()
        test = [rows[i] for i in split["test"]]
        pred = [st.predict(features({p: grades[p][i] for p in st.parts}, rows[i]["answer"])) for i in split["test"]]
        print("test topics, stacked:", json.dumps(report(test, pred)))
        return 0
    for name in ("embedding", "contrastive", "entail"):
        dv = split["dev"]
        print(f"  {name} alone: dev Spearman {float(spearmanr([grades[name][i].score for i in dv], y[dv]).statistic):.3f}")
    best = None
    for parts in CHOICES:
        names, x = matrix(rows, grades, parts)
        x = np.array(x)
        tr, dv = split["train"], split["dev"]
        mean, scale = x[tr].mean(0), x[tr].std(0) + 1e-9
        for alpha in ALPHAS:
            m = Ridge(alpha=alpha).fit((x[tr] - mean) / scale, y[tr])
            pred = np.clip(m.predict((x[dv] - mean) / scale), 0, 5)
            rho = float(spearmanr(pred, y[dv]).statistic)
            print(f"  {'+'.join(parts)}, alpha {alpha}: dev Spearman {rho:.3f}")
            if best is None or rho > best[0] + 1e-3:  # a richer set must beat a cheaper one clearly
                best = (rho, parts, alpha, names, mean, scale, m)
    rho, parts, alpha, names, mean, scale, m = best
    print(f"chosen: {'+'.join(parts)}, alpha {alpha} (dev Spearman {rho:.3f})")
    weights = {"parts": list(parts), "features": names, "mean": [round(float(v), 6) for v in mean],
               "scale": [round(float(v), 6) for v in scale], "coef": [round(float(v), 6) for v in m.coef_],
               "intercept": round(float(m.intercept_), 6), "alpha": alpha, "caps_from": [],
               "fitted_on": "data/graded_answers, train topics; chosen on dev topics"}
    # whose caps (adversarial at 1, misconception at 2) hold the fitted grade: chosen on dev too
    from agent.grading.stacked import Stacker, features

    def predict_rows(idx: list[int], caps_from: list[str]) -> list[float]:
        st = Stacker(OUT, dict(weights, caps_from=caps_from))
        return [st.predict(features({p: grades[p][i] for p in parts}, rows[i]["answer"])) for i in idx]

    best_caps = None
    for caps_from in ([], ["embedding"], *([[p] for p in parts if p != "embedding"]), list(parts)):
        rho_c = float(spearmanr(predict_rows(split["dev"], caps_from), y[split["dev"]]).statistic)
        print(f"  caps of {caps_from or 'none'}: dev Spearman {rho_c:.3f}")
        if best_caps is None or rho_c > best_caps[0] + 1e-3:
            best_caps = (rho_c, caps_from)
    weights["caps_from"] = best_caps[1]
    print(f"chosen caps: {best_caps[1] or 'none'} (dev Spearman {best_caps[0]:.3f})")
    te = split["test"]
    test = [rows[i] for i in te]
    figs = {"stacked": report(test, predict_rows(te, weights["caps_from"]))}
    for name in ("embedding", "contrastive", "entail"):
        figs[name] = report(test, [grades[name][i].score for i in te])
    figs["length alone (Spearman only)"] = {"spearman": round(float(spearmanr(
        [math.log1p(len(r["answer"].split())) for r in test], [r["grade"] for r in test]).statistic), 4)}
    for k, v in figs.items():
        print(f"test topics, {k}: {json.dumps(v)}")
    weights["test"] = figs
    OUT.write_text(json.dumps(weights, indent=1) + "\n", "utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
