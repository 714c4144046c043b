"""Text encoders behind :class:`agent.grading.cache.Embedder`: token vectors for a batch of token ids.

Two back ends share one small interface (``tokenize``, ``forward``, ``dim``, ``packable``, ``name``):

* :class:`BertEncoder`, for a sentence-transformers folder that is a plain BERT encoder with mean pooling
  and normalisation (the bundled all-MiniLM-L6-v2 is one). It reads the folder's ``config.json``,
  ``tokenizer.json`` and ``model.safetensors`` and runs the BERT forward pass in a few lines of torch:
  the same arithmetic as the reference implementation (a test checks the vectors against
  sentence-transformers), without importing transformers or sentence-transformers, which take most of a
  cold start.
* :class:`SentenceTransformerEncoder`, for any other model sentence-transformers can load.

torch, safetensors, tokenizers and sentence_transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

PLAIN_MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                 "sentence_transformers.models.Normalize"]


def is_plain_bert(path: str | Path) -> bool:
    """A folder holding a BERT encoder + mean pooling + normalisation, with the files BertEncoder reads."""
    p = Path(path)
    try:
        modules = json.loads((p / "modules.json").read_text("utf-8"))
        config = json.loads((p / "config.json").read_text("utf-8"))
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((p / pooling_dir / "config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")
    return ([m.get("type") for m in modules] == PLAIN_MODULES and bool(mean_only)
            and config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and (p / "tokenizer.json").is_file() and (p / "model.safetensors").is_file())


class BertEncoder:
    """BERT forward pass in plain torch, weights from ``model.safetensors``, tokenizer from ``tokenizer.json``."""

    packable = True  # rows may hold several texts (block-diagonal attention, positions restarting at 0)

    def __init__(self, path: str | Path, name: str, tuned: str | Path | None = None):
        """``tuned``: a folder whose ``weights.safetensors`` replaces every weight it holds (a fine-tuned
        encoder shipped without the word-embedding matrix, which stays the base folder's)."""
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        p = Path(path)
        self.name = name
        cfg = json.loads((p / "config.json").read_text("utf-8"))
        st_cfg = {}
        if (p / "sentence_bert_config.json").is_file():
            st_cfg = json.loads((p / "sentence_bert_config.json").read_text("utf-8"))
        self.max_len = int(min(st_cfg.get("max_seq_length") or 512, cfg["max_position_embeddings"]))
        self.dim = int(cfg["hidden_size"])
        self.intermediate = int(cfg["intermediate_size"])
        self.tok = Tokenizer.from_file(str(p / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=self.max_len)
        self.pad_id = int(cfg.get("pad_token_id", 0) or 0)
        w = load_file(str(p / "model.safetensors"))
        if tuned is not None:
            extra = load_file(str(Path(tuned) / "weights.safetensors"))
            known = {k.removeprefix("bert.") for k in w}
            unknown = [k for k in extra if k.removeprefix("bert.") not in known]
            if unknown:
                raise ValueError(f"{tuned}: weights the base encoder does not have: {', '.join(unknown[:3])}")
            w = {k.removeprefix("bert."): v for k, v in w.items()}
            w.update({k.removeprefix("bert."): v.float() for k, v in extra.items()})
        self.word = w.get("embeddings.word_embeddings.weight", w.get("bert.embeddings.word_embeddings.weight")).float()
        self.stack = BertStack(w, cfg)

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        encs = self.tok.encode_batch(list(texts))
        return [e.ids for e in encs], [e.offsets for e in encs]

    def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any | None = None) -> np.ndarray:
        """Last hidden states, (B, T, dim). ``attention_mask``: (B, T) with 1 for tokens, or a boolean
        (B, 1, T, T) mask of which token may attend to which."""
        return self.stack.forward(self.word, input_ids, attention_mask, position_ids).numpy()


class BertStack:
    """The BERT embeddings (less the word matrix) and transformer layers, from a state dict; one forward pass
    in plain torch, the same arithmetic as the reference implementation."""

    def __init__(self, w: dict[str, Any], cfg: dict[str, Any], dtype: str = "float32"):
        """``dtype``: "float32", or "bfloat16" for the transformer layers (weights and the hidden states between
        them; the embeddings and their layer norm stay float32, and the output is float32)."""
        import torch

        w = {k.removeprefix("bert."): v.float() for k, v in w.items()}
        self.dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.dim = int(cfg["hidden_size"])
        self.pos = w["embeddings.position_embeddings.weight"]
        self.types = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(cfg["num_hidden_layers"])):
            g = lambda n, i=i: w[f"encoder.layer.{i}.{n}"]  # noqa: E731
            qkv_w = torch.cat([g("attention.self.query.weight"), g("attention.self.key.weight"),
                               g("attention.self.value.weight")]).contiguous()
            qkv_b = torch.cat([g("attention.self.query.bias"), g("attention.self.key.bias"),
                               g("attention.self.value.bias")]).contiguous()
            self.layers.append((
                qkv_w, qkv_b, g("attention.output.dense.weight"), g("attention.output.dense.bias"),
                g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias"),
                g("intermediate.dense.weight"), g("intermediate.dense.bias"),
                g("output.dense.weight"), g("output.dense.bias"),
                g("output.LayerNorm.weight"), g("output.LayerNorm.bias"),
            ))
            self.layers[-1] = tuple(x.to(self.dtype) for x in self.layers[-1])
        self.pooler = ((w["pooler.dense.weight"], w["pooler.dense.bias"]) if "pooler.dense.weight" in w else None)

    def forward(self, word: Any, input_ids: Any, attention_mask: Any, position_ids: Any | None = None,
                token_type_ids: Any | None = None) -> Any:
        """Last hidden states as a torch tensor, (B, T, dim)."""
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            b, t = input_ids.shape
            if position_ids is None:
                position_ids = torch.arange(t).expand(b, t)
            types = self.types[0] if token_type_ids is None else self.types[token_type_ids]
            x = word[input_ids] + self.pos[position_ids] + types
            x = F.layer_norm(x, (self.dim,), *self.emb_ln, eps=self.eps).to(self.dtype)
            if attention_mask.dim() == 2:
                mask = attention_mask.bool()[:, None, None, :]
            else:
                mask = attention_mask.bool()
            h, d = self.heads, self.dim // self.heads
            for (qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b) in self.layers:
                qkv = F.linear(x, qkv_w, qkv_b).view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)
                a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask,
                                                   scale=1.0 / math.sqrt(d))
                a = a.transpose(1, 2).reshape(b, t, self.dim)
                x = F.layer_norm(F.linear(a, ao_w, ao_b) + x, (self.dim,), ln1_w, ln1_b, eps=self.eps)
                y = F.linear(F.gelu(F.linear(x, in_w, in_b)), out_w, out_b)
                x = F.layer_norm(y + x, (self.dim,), ln2_w, ln2_b, eps=self.eps)
            return x.float()


class SentenceTransformerEncoder:
    """Any model sentence-transformers loads; texts are encoded in padded batches (no packing)."""

    packable = False

    def __init__(self, path: str, name: str):
        from sentence_transformers import SentenceTransformer

        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
        self.name = name
        self.st = SentenceTransformer(path, device="cpu")
        get = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dim = int(get())
        self.max_len = int(getattr(self.st, "max_seq_length", 256) or 256)
        self.pad_id = int(getattr(self.st.tokenizer, "pad_token_id", 0) or 0)

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        enc = self.st.tokenizer(list(texts), truncation=True, max_length=self.max_len, return_offsets_mapping=True)
        return enc["input_ids"], enc["offset_mapping"]

    def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any | None = None) -> np.ndarray:
        import torch

        feats = {"input_ids": input_ids, "attention_mask": attention_mask}
        with torch.inference_mode():
            out = self.st[0](feats)
        return out["token_embeddings"].float().numpy()
