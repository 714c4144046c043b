"""Check hand-written concept files (data/entail/written/*.jsonl): fields, counts, lengths, unique ids.

    python data/entail/check_written.py [FILE ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LISTS = {"states": 5, "partly": 2, "contradicts": 3, "mentions": 2, "misconception_states": 2,
         "misconception_rejects": 2}
STRINGS = ("id", "topic", "area", "question", "statement", "misconception")


def check(path: Path, seen: dict[str, str]) -> list[str]:
    errs: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            errs.append(f"{where}: not JSON ({e})")
            continue
        for k in STRINGS:
            if not isinstance(row.get(k), str) or not row[k].strip():
                errs.append(f"{where}: {k}: missing or empty")
        for k, need in LISTS.items():
            v = row.get(k)
            if not isinstance(v, list) or len(v) < need or not all(isinstance(s, str) and s.strip() for s in v):
                errs.append(f"{where}: {k}: needs at least {need} non-empty sentences")
        extra = set(row) - set(STRINGS) - set(LISTS)
        if extra:
            errs.append(f"{where}: unknown fields {sorted(extra)}")
        if len(str(row.get("statement", "")).split()) > 35:
            errs.append(f"{where}: statement: longer than 35 words")
        cid = row.get("id")
        if cid in seen:
            errs.append(f"{where}: id {cid!r} already used in {seen[cid]}")
        seen[str(cid)] = where
    return errs


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or sorted(Path(__file__).with_name("written").glob("*.jsonl"))
    seen: dict[str, str] = {}
    errs = [e for f in files for e in check(f, seen)]
    for e in errs:
        print(e)
    print(f"{len(seen)} concepts in {len(files)} files, {len(errs)} problems")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
