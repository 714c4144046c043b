"""Would the whole-answer model (train_answer.py) add to the stacked grader? A blend of the two, fitted on dev.

    python scripts/entail/train_answer.py                             # -> build/answer-model/predictions.json
    python scripts/entail/fit_answer_blend.py [--grades-cache PATH]   # -> build/answer-model/blend.json

The whole-answer model was trained on the graded answers of the train topics, so the blend is fitted where it
has seen nothing: the dev topics. There the stacker's grades are its
out-of-fold predictions (the shipped stacker's model, refitted in the same topic-grouped folds over the train
and dev topics, with its calibration), so neither input has seen the answers it is weighed on. A least-squares
line, grade ~ a x stacked + b x answer + c, is chosen over either grade alone only when it ranks the dev
answers better in leave-one-topic-out cross-validation. Printed: the test topics, stacked, whole-answer
model and blend side by side (the test topics are never fitted on).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "build" / "answer-model"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grades-cache", metavar="PATH", help="the graders' grades, as fit_stacker.py keeps them")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VIVA_GRADER_PRECISION", "float32")  # the same cross-encoder figures on any CPU
    import numpy as np
    from fit_stacker import OUT as STACKED
    from fit_stacker import PARTS, cached_grades, fit, load, report
    from scipy.stats import spearmanr
    from sklearn.model_selection import GroupKFold

    from agent.grading.stacked import Stacker, features

    t0 = time.perf_counter()
    rows = load()
    grades = cached_grades(rows, args.grades_cache)
    shipped = json.loads(STACKED.read_text("utf-8"))
    parts = tuple(shipped["parts"])
    # the stacker without the graded-answer anchors: these answers are the anchors
    shipped = dict(shipped.get("no_anchors") or shipped, parts=list(parts))
    fs = [features({p: grades[p][i] for p in PARTS}, r["answer"]) for i, r in enumerate(rows)]
    names = list(shipped["features"])
    x = np.array([[f.get(n, 0.0) for n in names] for f in fs])
    y = np.array([r["grade"] for r in rows], dtype=float)
    split = {s: np.array([i for i, r in enumerate(rows) if r["split"] == s]) for s in ("train", "dev", "test")}

    # the stacker's out-of-fold grades over the train and dev topics, in fit_stacker's folds
    fit_idx = np.concatenate([split["train"], split["dev"]])
    groups = np.array([rows[i]["topic"] for i in fit_idx])
    oof = np.zeros(len(rows))
    params = shipped.get("params") or {"alpha": shipped.get("alpha")}
    for a, b in GroupKFold(5).split(fit_idx, groups=groups):
        w = fit(shipped["model"], params, x[fit_idx[a]], y[fit_idx[a]], names, parts)
        st = Stacker(STACKED, dict(w, parts=list(parts), caps_from=shipped.get("caps_from", []),
                                   stretch=shipped.get("stretch"), calibration=shipped.get("calibration")))
        oof[fit_idx[b]] = [st.predict(fs[i]) for i in fit_idx[b]]
    stacker = Stacker()
    for i in split["test"]:
        oof[i] = stacker.predict(fs[i])  # the shipped stacker never saw the test topics

    saved_pred = OUT / "predictions.json"
    if not saved_pred.is_file():
        sys.exit(f"{saved_pred} is missing: run scripts/entail/train_answer.py first")
    pred = json.loads(saved_pred.read_text("utf-8"))
    need = np.concatenate([split["dev"], split["test"]])
    ans = np.zeros(len(rows))
    ans[need] = [pred[f"{rows[i]['file']}:{rows[i]['line']}"] for i in need]

    dev = split["dev"]
    dev_topics = np.array([rows[i]["topic"] for i in dev])

    def line(idx: np.ndarray) -> np.ndarray:
        m = np.column_stack([oof[idx], ans[idx], np.ones(len(idx))])
        return np.linalg.lstsq(m, y[idx], rcond=None)[0]

    cv = np.zeros(len(dev))
    for t in sorted(set(dev_topics)):
        tr, te = dev[dev_topics != t], dev_topics == t
        a, b, c = line(tr)
        cv[te] = np.clip(c + a * oof[dev[te]] + b * ans[dev[te]], 0, 5)
    rho = {"stacked": float(spearmanr(oof[dev], y[dev]).statistic),
           "answer": float(spearmanr(ans[dev], y[dev]).statistic),
           "blend": float(spearmanr(cv, y[dev]).statistic)}
    print("dev topics, leave-one-topic-out Spearman: " + ", ".join(f"{k} {v:.3f}" for k, v in rho.items()))
    a, b, c = line(dev)
    choice = max(rho, key=lambda k: (rho[k] - (2e-3 if k == "blend" else 0.0)))
    blend = ({"stacked": 1.0, "answer": 0.0, "bias": 0.0} if choice == "stacked"
             else {"stacked": 0.0, "answer": 1.0, "bias": 0.0} if choice == "answer"
             else {"stacked": round(float(a), 6), "answer": round(float(b), 6), "bias": round(float(c), 6)})
    print(f"chosen: {choice} {blend}")

    te = split["test"]
    test = [rows[i] for i in te]
    joined = [min(5.0, max(0.0, blend["bias"] + blend["stacked"] * oof[i] + blend["answer"] * ans[i])) for i in te]
    figs = {"stacked": report(test, list(oof[te])), "answer model": report(test, list(ans[te])),
            "joined": report(test, joined)}
    for k, v in figs.items():
        print(f"test topics, {k}: {json.dumps(v)}")
    out = {"blend": blend, "chosen": choice, "fitted_on": "data/graded_answers, dev topics (stacker out of fold)",
           "dev_spearman_loto": {k: round(v, 4) for k, v in rho.items()}, "test": figs}
    (OUT / "blend.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {(OUT / 'blend.json').relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
