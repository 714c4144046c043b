"""What every demo returns: a ``DemoResult`` from ``run()`` and a list of ``Check`` from ``verify()``.

Plain dataclasses (JSON round-trip through ``to_dict``/``from_dict``) so a demo can run in a child
process and report back. Nothing here imports torch at module level.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass
class Check:
    """One verified property: its name, whether it held, and the numbers behind the verdict."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class DemoResult:
    """What ``run()`` shows: a narration (a few sentences), headline numbers and small tables."""

    narration: str
    numbers: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemoResult:
        tables = [Table(**t) for t in d.get("tables", [])]
        return cls(narration=d["narration"], numbers=d.get("numbers", {}), tables=tables,
                   device=d.get("device", "cpu"))


def fresh_seed(seed: int | None = None) -> int:
    """Seed torch's generators (CPU and CUDA) with ``seed`` or a freshly drawn one; return it."""
    import torch

    if seed is None:
        seed = secrets.randbits(31)
    torch.manual_seed(seed)
    return seed


def check(name: str, passed: bool, detail: str = "") -> Check:
    return Check(name=name, passed=bool(passed), detail=detail)


def check_close(name: str, a: torch.Tensor | float, b: torch.Tensor | float, *, atol: float = 1e-5,
                rtol: float = 1e-4, what: str = "") -> Check:
    """Check that ``a`` and ``b`` agree elementwise within ``atol + rtol*|b|``; report the largest gap."""
    import torch

    ta = torch.as_tensor(a).detach().double().cpu()
    tb = torch.as_tensor(b).detach().double().cpu()
    if ta.shape != tb.shape:
        return Check(name, False, f"shapes differ: {tuple(ta.shape)} vs {tuple(tb.shape)}")
    gap = (ta - tb).abs().max().item() if ta.numel() else 0.0
    ok = bool(torch.allclose(ta, tb, atol=atol, rtol=rtol)) and not math.isnan(gap)
    prefix = f"{what}: " if what else ""
    return Check(name, ok, f"{prefix}max |diff| = {gap:.3g} (atol {atol:g}, rtol {rtol:g})")


def fmt(x: float, digits: int = 4) -> float:
    """Round a number for display in a result table."""
    return float(f"{float(x):.{digits}g}")
