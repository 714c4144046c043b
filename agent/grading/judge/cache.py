"""The judge's verdicts on disk, so a re-grade is reproducible and costs nothing."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- cache


class JudgeCache:
    """One JSON file per key under ``<cache_dir>/judge`` (atomic writes; a corrupt file is a miss)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self._path(key)
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable judge cache entry %s: %s", p, e)
            return None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        p = self._path(key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.tmp")
            tmp.write_text(json.dumps(entry, indent=1), encoding="utf-8")
            os.replace(tmp, p)
        except OSError as e:  # a read-only cache costs money later, not the grade now
            log.warning("could not write the judge cache at %s: %s", p, e)
