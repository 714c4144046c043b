"""Verified PyTorch demos, one module per demo. torch is imported inside functions only.

Each module defines ``TITLE``, ``CONCEPTS`` (concept ids it illustrates), ``QUESTIONS`` (bank question
ids), ``run(device) -> DemoResult`` and ``verify(device, seed=None) -> list[Check]``.

``demo_names()`` lists the modules without importing them (the bank lint uses it); ``load()`` imports
one (cheap: no torch at import), ``run_demo()``/``verify_demo()`` time a run on a resolved device.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from agent.demos._base import Check, DemoResult

__all__ = ["Check", "DemoResult", "DemoInfo", "RunReport", "demo_names", "load", "info", "source",
           "resolve_device", "run_demo", "verify_demo", "demos_for_question", "warm_up"]

REQUIRED = ("TITLE", "CONCEPTS", "QUESTIONS", "run", "verify")


def demo_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


@dataclass(frozen=True)
class DemoInfo:
    name: str
    title: str
    concepts: tuple[str, ...]
    questions: tuple[str, ...]
    path: Path

    @property
    def source(self) -> str:
        """The demo's source text (the app shows it beside the output)."""
        return self.path.read_text(encoding="utf-8")


def _unknown(name: str) -> Exception:
    import difflib

    from agent.errors import UserError

    close = difflib.get_close_matches(name, demo_names(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UserError(f"no demo named {name!r}{hint}; `viva demo list` shows them all")


def load(name: str) -> ModuleType:
    """Import the demo module ``name`` (a UserError naming the closest demo if there is none)."""
    if name not in demo_names():
        raise _unknown(name)
    mod = importlib.import_module(f"agent.demos.{name}")
    missing = [a for a in REQUIRED if not hasattr(mod, a)]
    if missing:
        raise TypeError(f"demo module {name!r} lacks {', '.join(missing)}")
    return mod


def info(name: str) -> DemoInfo:
    mod = load(name)
    return DemoInfo(name=name, title=mod.TITLE, concepts=tuple(mod.CONCEPTS), questions=tuple(mod.QUESTIONS),
                    path=Path(inspect.getfile(mod)))


def source(name: str) -> str:
    """The demo's source text (`viva demo show` prints it)."""
    return info(name).source


def demos_for_question(question_id: str) -> list[str]:
    """Demos that declare ``question_id`` in their QUESTIONS."""
    return [n for n in demo_names() if question_id in load(n).QUESTIONS]


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without a GPU is a UserError."""
    from agent.errors import UserError

    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"unknown device {device!r}; use cpu, cuda or auto")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda" if device == "auto" else device
    if device == "auto":
        return "cpu"
    raise UserError(f"device {device!r} asked for, but torch sees no CUDA GPU; use --device cpu or auto")


def _set_threads() -> None:
    """One intra-op thread by default: the demos' tensors are tiny, so more threads mostly add
    synchronisation, and on a busy 2-core laptop they were measured 4x slower. VIVA_DEMO_THREADS overrides."""
    import torch

    want = int(os.environ.get("VIVA_DEMO_THREADS", "0")) or 1
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)


def warm_up() -> None:
    """Pay torch's one-time costs before any demo is timed: the import, and the first optimizer's
    construction (it imports torch's compiler hooks: seconds on a laptop, once per process)."""
    import torch

    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1, device="cpu"))])


@dataclass
class RunReport:
    """A demo run and/or verification with timings, JSON-friendly (the demo child process sends it)."""

    name: str
    device: str
    result: DemoResult | None = None
    checks: list[Check] = field(default_factory=list)
    seed: int | None = None
    run_s: float | None = None
    verify_s: float | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device,
                "result": self.result.to_dict() if self.result else None,
                "checks": [c.__dict__ for c in self.checks], "seed": self.seed, "run_s": self.run_s,
                "verify_s": self.verify_s, "error": self.error, "passed": self.passed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunReport:
        return cls(name=d["name"], device=d["device"],
                   result=DemoResult.from_dict(d["result"]) if d.get("result") else None,
                   checks=[Check(**c) for c in d.get("checks", [])], seed=d.get("seed"),
                   run_s=d.get("run_s"), verify_s=d.get("verify_s"), error=d.get("error"))


def run_demo(name: str, device: str = "auto") -> tuple[DemoResult, float]:
    """Run one demo on the resolved device; returns the result and the wall time in seconds."""
    mod = load(name)
    dev = resolve_device(device)
    _set_threads()
    t0 = time.perf_counter()
    result = mod.run(device=dev)
    result.device = dev
    return result, time.perf_counter() - t0


def verify_demo(name: str, device: str = "auto", seed: int | None = None) -> tuple[list[Check], int, float]:
    """Run one demo's checks on fresh random inputs (or ``seed`` to reproduce a failure)."""
    import secrets

    mod = load(name)
    dev = resolve_device(device)
    _set_threads()
    seed = secrets.randbits(31) if seed is None else seed
    t0 = time.perf_counter()
    checks = mod.verify(device=dev, seed=seed)
    return checks, seed, time.perf_counter() - t0


def report(name: str, device: str = "auto", *, do_run: bool = True, do_verify: bool = True,
           seed: int | None = None, on_run: Callable[[DemoResult, float], None] | None = None) -> RunReport:
    """Run and/or verify one demo, catching its failure into ``error`` so that one broken demo is reported,
    not fatal. ``on_run`` gets the run's result and seconds as soon as it exists, before the checks start."""
    import traceback

    rep = RunReport(name=name, device=device)
    try:
        rep.device = resolve_device(device)
        if do_run:
            rep.result, rep.run_s = run_demo(name, rep.device)
            if on_run is not None:
                on_run(rep.result, rep.run_s)
        if do_verify:
            rep.checks, rep.seed, rep.verify_s = verify_demo(name, rep.device, seed)
    except Exception as e:  # noqa: BLE001 - a failing demo is reported with its traceback, not fatal
        from agent.errors import UserError

        if isinstance(e, UserError):
            raise
        rep.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"
    return rep
