"""Train the rejection classifier (agent/grading/rejects.py): does a sentence name a wrong belief in order to
reject it ("people often think ..., but ...", "it's not a copy task: ...")?

    python scripts/entail/train_rejects.py      # -> agent/grading/entail_model/rejects.json, in a few seconds

Data: the project's hand-written concepts (data/entail/written/*.jsonl). Positive: each misconception's two
sentences that name it only to reject it. Negative: every other sentence of the concept (those that state it,
state it partly, contradict it or only mention its terms, and the two that state the misconception), so that
a plain negation or a stated error is not read as a rejection. Split by topic as the corpus is
(build_corpus.split_of): the regularisation is chosen on the dev topics, the model refitted on train and dev and
reported on the test topics. Model: scikit-learn's TfidfVectorizer (words and word pairs, sublinear counts) and a
class-balanced LogisticRegression, exported as terms, idf and weights that agent/grading/rejects.py reads in plain
Python. Deterministic.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
WRITTEN = ROOT / "data" / "entail" / "written"
OUT = ROOT / "agent" / "grading" / "entail_model" / "rejects.json"
NEGATIVE_FIELDS = ("states", "partly", "contradicts", "mentions", "misconception_states")
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def load() -> list[dict]:
    from build_corpus import split_of

    rows = []
    for path in sorted(WRITTEN.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if not line.strip():
                continue
            c = json.loads(line)
            split = split_of(c["topic"])
            rows += [{"text": t, "label": 1, "split": split} for t in c.get("misconception_rejects", [])]
            rows += [{"text": t, "label": 0, "split": split} for f in NEGATIVE_FIELDS for t in c.get(f, [])]
    return rows


def vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    # the defaults agent/grading/rejects.py reproduces: lower case, tokens of 2+ word characters, l2 norm,
    # smoothed idf
    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)


def fit(texts: list[str], labels: list[int], c: float):
    from sklearn.linear_model import LogisticRegression

    vec = vectorizer()
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, labels)
    return vec, clf


def export(vec, clf) -> dict:
    """The fitted model in rejects.json's form: terms sorted, each with its idf and weight."""
    terms = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
    return {"terms": terms, "idf": [round(float(v), 6) for v in vec.idf_],
            "coef": [round(float(v), 6) for v in clf.coef_[0]], "intercept": round(float(clf.intercept_[0]), 6),
            "ngram_range": list(vec.ngram_range), "sublinear_tf": bool(vec.sublinear_tf)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args(argv)
    from sklearn.metrics import roc_auc_score

    t0 = time.perf_counter()
    rows = load()
    by = {s: [r for r in rows if r["split"] == s] for s in ("train", "dev", "test")}
    print("sentences per split:", {s: len(v) for s, v in by.items()},
          "rejecting:", {s: sum(r["label"] for r in v) for s, v in by.items()})
    best = None
    for c in C_GRID:
        vec, clf = fit([r["text"] for r in by["train"]], [r["label"] for r in by["train"]], c)
        auc = roc_auc_score([r["label"] for r in by["dev"]],
                            clf.decision_function(vec.transform([r["text"] for r in by["dev"]])))
        print(f"  C {c:g}: dev ROC-AUC {auc:.3f}")
        if best is None or auc > best[0] + 1e-3:
            best = (auc, c)
    c = best[1]
    fit_rows = by["train"] + by["dev"]
    vec, clf = fit([r["text"] for r in fit_rows], [r["label"] for r in fit_rows], c)
    test_x = vec.transform([r["text"] for r in by["test"]])
    y = [r["label"] for r in by["test"]]
    pred = clf.predict(test_x)
    figures = {"test_roc_auc": round(float(roc_auc_score(y, clf.decision_function(test_x))), 4),
               "test_accuracy": round(float(sum(int(p) == t for p, t in zip(pred, y, strict=True)) / len(y)), 4),
               "test_sentences": len(y), "test_rejecting": int(sum(y)), "C": c}
    print(f"chosen C {c:g}; test topics: {json.dumps(figures)}")
    OUT.write_text(json.dumps({**export(vec, clf), "figures": figures,
                               "fitted_on": "data/entail/written, train and dev topics"}, separators=(",", ":")) + "\n",
                   "utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KB) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
