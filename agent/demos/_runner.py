"""Run demos in a child process, streaming what happens, with an optional time limit per demo.

The one way a demo leaves the parent process: ``viva demo run/verify`` and the app's demo screen both call
:func:`events` (the CLI through :func:`run_in_child`, which keeps only the reports).

The child (``python -m agent.demos._runner SPEC``) writes one JSON line per event: ``ready`` once torch is
imported and warmed up (with the resolved device), ``ran`` after each demo's ``run()`` (its result), ``report``
when a demo is done (a :class:`RunReport`), or ``error`` for bad input (an unknown demo, CUDA without a GPU),
after which it exits with code 2. Any other line it prints, on stdout or stderr, comes back as
:class:`Output`. The parent waits at most ``timeout`` seconds for each demo's report; a demo that overruns is
killed and reported as timed out, and a fresh child carries on with the rest.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from agent.demos import DemoResult, RunReport

IMPORT_GRACE_S = 120.0  # starting torch in a cold process can take a while on a busy laptop


@dataclass(frozen=True)
class Started:
    """The child imported torch and resolved the device; the demos start now."""

    device: str
    import_s: float


@dataclass(frozen=True)
class Ran:
    """One demo's ``run()`` finished; its checks come next (in the demo's :class:`Finished` report)."""

    name: str
    result: DemoResult
    run_s: float


@dataclass(frozen=True)
class Finished:
    """One demo is done: its result, checks and timings, or ``error`` (a crash, a time-out)."""

    report: RunReport


@dataclass(frozen=True)
class Output:
    """A line the child printed that is not part of the protocol (a library's warning, a traceback)."""

    line: str


DemoEvent = Started | Ran | Finished | Output


# ---------------------------------------------------------------- child


def _emit(event: str, **data: object) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


def _child_main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    from agent.demos import report, resolve_device, warm_up
    from agent.errors import UserError

    t0 = time.perf_counter()
    try:
        warm_up()  # torch's one-time start-up happens before the clock for the first demo starts
        device = resolve_device(spec["device"])
        _emit("ready", device=device, import_s=round(time.perf_counter() - t0, 3))
        for name in spec["names"]:
            rep = report(name, device, do_run=spec["run"], do_verify=spec["verify"], seed=spec["seed"],
                         on_run=lambda result, run_s, name=name: _emit(
                             "ran", name=name, result=result.to_dict(), run_s=round(run_s, 3)))
            _emit("report", report=rep.to_dict())
    except UserError as e:
        _emit("error", error=str(e))
        return 2
    return 0


# ---------------------------------------------------------------- parent


def _pump(stream: IO[str], q: queue.Queue[tuple[str, str] | None], tag: str, keep: list[str] | None) -> None:
    for line in stream:
        if keep is not None:
            keep.append(line)
        q.put((tag, line))
    if tag == "out":
        q.put(None)


def _parse(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "event" in data else None


def events(names: list[str], device: str = "auto", *, do_run: bool = True, do_verify: bool = True,
           seed: int | None = None, timeout: float | None = 60.0) -> Iterator[DemoEvent]:
    """Run ``names`` in a child process, yielding what happens as it happens: :class:`Started` once per
    child, :class:`Ran` after each demo's run, :class:`Output` for anything else it prints, and exactly one
    :class:`Finished` per name, in order. ``timeout`` (seconds per demo, None: no limit) stops a demo that
    overruns; its report says so and a fresh child runs the rest. Bad input (an unknown demo, ``cuda``
    without a GPU) raises a UserError."""
    pending = list(names)
    while pending:
        spec = {"names": pending, "device": device, "run": do_run, "verify": do_verify, "seed": seed}
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-m", "agent.demos._runner", json.dumps(spec)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, bufsize=1)
        assert proc.stdout is not None and proc.stderr is not None
        q: queue.Queue[tuple[str, str] | None] = queue.Queue()
        err_lines: list[str] = []
        threading.Thread(target=_pump, args=(proc.stdout, q, "out", None), daemon=True).start()
        err_reader = threading.Thread(target=_pump, args=(proc.stderr, q, "err", err_lines), daemon=True)
        err_reader.start()
        ready = False
        limit = IMPORT_GRACE_S if timeout is not None else None
        deadline = time.monotonic() + limit if limit is not None else None
        try:
            while pending:
                try:
                    item = q.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    name = pending.pop(0)
                    if ready:
                        msg = f"timed out after {timeout:g} s; raise the limit with --timeout"
                    else:
                        msg = f"the demo process did not start within {IMPORT_GRACE_S:g} s (starting torch)"
                    yield Finished(RunReport(name=name, device=device, error=msg))
                    break
                if item is None:  # the child died (crash, out of memory ...)
                    proc.wait()
                    err_reader.join(timeout=1.0)
                    while not q.empty():  # what it wrote to stderr last (a traceback) may still be queued
                        rest = q.get_nowait()
                        if rest is not None:
                            yield Output(rest[1].rstrip("\n"))
                    name = pending.pop(0)
                    tail = "".join(err_lines[-15:]).strip()
                    yield Finished(RunReport(name=name, device=device,
                                             error=f"the demo process exited with code {proc.returncode}"
                                                   + (f":\n{tail}" if tail else "")))
                    break
                tag, line = item
                line = line.rstrip("\n")
                data = _parse(line) if tag == "out" else None
                if data is None:
                    yield Output(line)
                    continue
                kind = data["event"]
                if kind == "ready":
                    ready = True
                    deadline = time.monotonic() + timeout if timeout is not None else None
                    yield Started(device=data["device"], import_s=data["import_s"])
                elif kind == "ran":
                    yield Ran(name=data["name"], result=DemoResult.from_dict(data["result"]), run_s=data["run_s"])
                elif kind == "report":
                    pending.pop(0)
                    deadline = time.monotonic() + timeout if timeout is not None else None
                    yield Finished(RunReport.from_dict(data["report"]))
                elif kind == "error":
                    from agent.errors import UserError

                    raise UserError(data["error"])
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def run_in_child(names: list[str], device: str = "auto", *, do_run: bool = True, do_verify: bool = True,
                 seed: int | None = None, timeout: float | None = 60.0) -> Iterator[RunReport]:
    """Yield one RunReport per name, in order; a demo over ``timeout`` seconds gets ``error`` set."""
    for ev in events(names, device, do_run=do_run, do_verify=do_verify, seed=seed, timeout=timeout):
        if isinstance(ev, Finished):
            yield ev.report


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
