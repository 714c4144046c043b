"""Run demos in a child process with a time limit per demo.

The child (``python -m agent.demos._runner``) imports torch once, says ``ready``, then runs the demos it
was given and writes one JSON line per demo. The parent waits at most ``timeout`` seconds for each line;
a demo that overruns is killed and reported as timed out, and a fresh child carries on with the rest.
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

from agent.demos import RunReport

READY = "__viva_demo_ready__"
IMPORT_GRACE_S = 120.0  # starting torch in a cold process can take a while on a busy laptop


def _child_main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    from agent.demos import report, warm_up

    warm_up()  # torch's one-time start-up happens before the clock for the first demo starts
    from agent.errors import UserError

    print(READY, flush=True)
    for name in spec["names"]:
        try:
            rep = report(name, spec["device"], do_run=spec["run"], do_verify=spec["verify"], seed=spec["seed"])
        except UserError as e:
            print(json.dumps({"user_error": str(e)}), flush=True)
            return 2
        print(json.dumps(rep.to_dict()), flush=True)
    return 0


def _reader(stream, q: queue.Queue) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


def run_in_child(names: list[str], device: str = "auto", *, do_run: bool = True, do_verify: bool = True,
                 seed: int | None = None, timeout: float = 60.0) -> Iterator[RunReport]:
    """Yield one RunReport per name, in order; a demo over ``timeout`` seconds gets ``error`` set."""
    pending = list(names)
    while pending:
        spec = {"names": pending, "device": device, "run": do_run, "verify": do_verify, "seed": seed}
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        proc = subprocess.Popen([sys.executable, "-m", "agent.demos._runner", json.dumps(spec)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        q: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
        err_lines: list[str] = []
        threading.Thread(target=err_lines.extend, args=(proc.stderr,), daemon=True).start()
        ready = False
        deadline = time.monotonic() + IMPORT_GRACE_S
        try:
            while pending:
                try:
                    line = q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    name = pending.pop(0)
                    if ready:
                        msg = f"timed out after {timeout:g} s; raise the limit with --timeout"
                    else:
                        msg = f"the demo process did not start within {IMPORT_GRACE_S:g} s (starting torch)"
                    yield RunReport(name=name, device=device, error=msg)
                    break
                if line is None:  # the child died (crash, out of memory ...)
                    proc.wait()
                    name = pending.pop(0)
                    tail = "".join(err_lines[-15:]).strip()
                    yield RunReport(name=name, device=device,
                                    error=f"the demo process exited with code {proc.returncode}"
                                          + (f":\n{tail}" if tail else ""))
                    break
                line = line.strip()
                if line == READY:
                    ready = True
                    deadline = time.monotonic() + timeout
                    continue
                if not line.startswith("{"):
                    continue  # a stray print from a library; demos themselves print nothing
                data = json.loads(line)
                if "user_error" in data:
                    from agent.errors import UserError

                    raise UserError(data["user_error"])
                rep = RunReport.from_dict(data)
                pending.pop(0)
                deadline = time.monotonic() + timeout
                yield rep
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
