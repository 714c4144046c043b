"""Child process for the demo screen: run one demo, then verify it, streaming JSON lines as it goes.

``python -m tui.demo_child NAME [DEVICE]`` prints ``{"event": ...}`` lines: ready (torch imported),
result (narration, numbers, tables), check (one per verified property), done or error. Anything the demo
prints itself comes through as plain lines.
"""

from __future__ import annotations

import json
import sys
import time


def _emit(event: str, **data) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


def main(argv: list[str]) -> int:
    name = argv[0]
    device = argv[1] if len(argv) > 1 else "auto"
    from agent.demos import resolve_device, run_demo, verify_demo
    from agent.errors import UserError

    t0 = time.perf_counter()
    try:
        import torch  # noqa: F401 - imported before "ready", so the screen can say what it is waiting for

        dev = resolve_device(device)
        _emit("ready", device=dev, import_s=round(time.perf_counter() - t0, 3))
        result, run_s = run_demo(name, dev)
        _emit("result", result=result.to_dict(), run_s=round(run_s, 3))
        checks, seed, verify_s = verify_demo(name, dev)
        for c in checks:
            _emit("check", name=c.name, passed=bool(c.passed), detail=c.detail)
        _emit("done", seed=seed, verify_s=round(verify_s, 3), passed=all(c.passed for c in checks))
    except UserError as e:
        _emit("error", error=str(e))
        return 2
    except Exception as e:  # noqa: BLE001 - reported to the screen, which says the demo failed
        _emit("error", error=f"{type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
