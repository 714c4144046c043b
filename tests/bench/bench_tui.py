"""TUI benchmark: time to the first screen after `viva` starts, submit-to-result for a typed answer, and end of
speech to grade for a spoken one.

Run: ``python tests/bench/bench_tui.py [--runs N] [--long N] [--spoken N] [--spoken-seconds S]``. Prints a table and
writes tests/bench/results/tui.json. ``VIVA_WHISPER_MODEL=base`` times the spoken answers with another model.

* first screen: `viva` (the console script installed beside the running interpreter) is started in a
  pseudo-terminal (100x30) and the clock stops when the home screen's "Start" button has been written to the
  terminal. Target: <= 0.5 s. When the `viva` found on PATH is another program (a version manager's shim that
  runs the same script), it is timed too and reported on its own row.
* typed answer: the app runs headless with the real back end (bank, the default grader, interview, SQLite
  history in a temporary folder); once the grader is warm and the question's rubric prepared, the clock runs
  from the ctrl+s key event to the first refresh of the result screen with the grade filled in. Target: <= 0.3 s.
  The key event is sent the way ``Pilot.press`` sends it, but without ``Pilot.press``'s wait for the whole
  process to go idle (that wait ends only after a poll interval in which nothing ran, so it would stop the
  clock late); the same answers timed through ``Pilot.press`` are reported on their own row, for comparison
  with the figures taken that way before. While the grade is computed the benchmark waits for the app's word
  (``bench_app``) instead of polling every millisecond: that polling took CPU from the grader and Whisper
  while the clock ran, and the figures taken with it were late.
* a long typed answer (about 150 words, five sentences), two ways: pasted whole and submitted at once, and
  written sentence by sentence, SENTENCE_GAP_S apart (a fast typist), with ctrl+s pressed as soon as the last
  sentence is in. While the candidate writes, the app grades each draft that stands for a moment, so the models
  have read the earlier sentences when the answer arrives. Each answer goes to another question, so the two
  rows differ by their rubrics too; bench_grader.py compares the two ways on the same answers.
* spoken answer: a 60 s answer synthesised with Piper is fed to the app's recorder in real time, as a
  microphone would (ctrl+r, the app's own streaming Whisper, grader and result screen); the candidate presses
  ctrl+r again at the end of speech, and the clock runs from the end of speech to the first refresh of the
  result screen with the grade filled in. Target: <= 2.0 s (median of --spoken answers, 3 by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGET_FIRST_PAINT_S = 0.5
TARGET_SUBMIT_S = 0.3
TARGET_SPOKEN_S = 2.0  # a 60 s spoken answer, from the end of speech
SENTENCE_GAP_S = 3.0  # a long answer written sentence by sentence: seconds between sentences

ANSWERS = [
    "The loss is the cross-entropy between the model's predicted distribution and the actual next token, "
    "averaged over every position; the targets are the inputs shifted by one, and by the chain rule this is "
    "maximum likelihood of the sequence.",
    "You shift the labels by one, flatten the logits and targets, and apply cross-entropy at every position, "
    "ignoring padding.",
    "I think it is about predicting tokens and making the loss smaller with gradient descent.",
]


def viva_argv() -> list[str]:
    """The `viva` console script of the running interpreter (else ``python -m agent.cli``)."""
    exe = Path(sys.executable).with_name("viva")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "agent.cli"]


def path_viva() -> list[str] | None:
    """The `viva` found on PATH when it is not the interpreter's own script (e.g. a version manager's shim)."""
    exe = shutil.which("viva")
    if exe is None or Path(exe).resolve() == Path(viva_argv()[0]).resolve():
        return None
    return [exe]


def first_paint_once(env: dict[str, str], timeout: float = 20.0, argv: list[str] | None = None) -> float:
    argv = argv or viva_argv()
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.environ.update(env)
        os.execvp(argv[0], argv)
    t0 = time.perf_counter()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    buf = b""
    elapsed = float("nan")
    try:
        while time.perf_counter() - t0 < timeout:
            r, _, _ = select.select([fd], [], [], 0.01)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                buf += chunk
                if b"Start" in buf:
                    elapsed = time.perf_counter() - t0
                    break
    finally:
        try:
            os.write(fd, b"\x11")  # ctrl+q
            deadline = time.time() + 5
            while time.time() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                r, _, _ = select.select([fd], [], [], 0.05)
                if r:
                    try:
                        os.read(fd, 65536)
                    except OSError:
                        pass
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
        finally:
            os.close(fd)
    return elapsed


def python_startup_s(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def until(cond, timeout: float = 300.0, step: float = 0.001) -> None:
    """Wait (polling every ``step`` s) until ``cond()`` holds."""
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(step)


def bench_app(*args, **kwargs):
    """The app, telling the benchmark when a grade is ready: the benchmark waits for that without polling, so
    that its own wake-ups take no CPU from the grader (or from Whisper) while the clock runs."""
    from tui.app import VivaApp

    class BenchApp(VivaApp):
        def on_grade_ready(self, msg) -> None:  # called before the app's own handler (Textual calls both)
            self.grade_ready.set()

    app = BenchApp(*args, **kwargs)
    app.grade_ready = asyncio.Event()
    return app


async def grade_shown(app, result_screen: type, t0: float) -> float:
    """Seconds from ``t0`` to the first refresh of the result screen with the grade filled in."""
    await asyncio.wait_for(app.grade_ready.wait(), 600)
    await until(lambda: isinstance(app.screen, result_screen) and app.screen.is_mounted
                and app.screen.grade is not None)
    shown: list[float] = []
    app.screen.call_after_refresh(lambda: shown.append(time.perf_counter()))
    await until(lambda: bool(shown))  # the refresh that paints the grade
    return shown[0] - t0


async def submit_latencies(n: int, n_long: int = 0) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
    """Submit-to-result seconds per way of answering ('key': a short answer, the key event alone; 'pilot': the
    same through ``Pilot.press``; 'long_pasted': a 150-word answer pasted and submitted at once; 'long_typed':
    the same written sentence by sentence), ``n`` answers each of the first two and ``n_long`` of the others,
    in turn; the grade-only seconds of each (submit to grade ready, in the worker); and the grader's warm-up
    seconds."""
    from textual import events

    from agent.session_config import SessionConfig
    from tests.bench.bench_grader import ANSWER_150
    from tui.screens.followup import FollowUpScreen
    from tui.screens.interview import InterviewScreen
    from tui.screens.result import ResultScreen
    from tui.services import Services

    modes = [m for i in range(max(n, n_long))
             for m in (["key", "pilot"] if i < n else []) + (["long_pasted", "long_typed"] if i < n_long else [])]
    lat: dict[str, list[float]] = {m: [] for m in dict.fromkeys(modes)}
    sentences = [x + "." for x in ANSWER_150.removesuffix(".").split(". ")]
    grade_only: dict[str, list[float]] = {}
    warm = float("nan")
    done = 0
    while done < len(modes):  # a session whose follow-ups leave the bank's rubrics ends; the next one goes on
        app = bench_app(Services(), load_settings=False,
                        options=SessionConfig(n_questions=len(modes) - done + 1, seed=done))

        def send_key(key: str, app=app) -> None:
            """The key event as Pilot.press sends it, without waiting for the process to go idle afterwards."""
            event = events.Key(key, None)
            event.set_sender(app)
            assert app._driver is not None
            app._driver.send_message(event)

        async with app.run_test(size=(100, 30)) as pilot:
            t0 = time.perf_counter()
            await until(lambda app=app: app.model_state["grader"][0] in ("ready", "failed"), step=0.01)
            if warm != warm:
                warm = time.perf_counter() - t0
            if app.model_state["grader"][0] != "ready":
                raise RuntimeError(f"grader failed: {app.model_state['grader'][1]}")
            await pilot.press("ctrl+s")
            while done < len(modes):
                i, how = done, modes[done]
                await until(lambda app=app: isinstance(app.screen, InterviewScreen) and app.screen.is_mounted)
                scr = app.screen
                await until(lambda scr=scr: scr.prepared)
                box = scr.query_one("#answer")
                if how == "long_typed":
                    for k in range(1, len(sentences) + 1):
                        box.text = " ".join(sentences[:k])
                        await asyncio.sleep(SENTENCE_GAP_S if k < len(sentences) else 0.0)
                else:
                    box.text = ANSWER_150 if how == "long_pasted" else ANSWERS[(i // 2) % len(ANSWERS)]
                await pilot.pause()
                app.grade_ready.clear()
                t_submit = time.perf_counter()
                if how != "pilot":
                    send_key("ctrl+s")
                else:
                    await pilot.press("ctrl+s")
                lat[how].append(await grade_shown(app, ResultScreen, t_submit))
                grade_only.setdefault(how, []).append(app.screen.seconds or 0.0)
                done += 1
                if done == len(modes):
                    break
                await pilot.pause()
                await pilot.press("n")
                await until(lambda app=app: isinstance(app.screen, (FollowUpScreen, InterviewScreen)))
                if isinstance(app.screen, FollowUpScreen):
                    # a bank question keeps every answer on a full rubric
                    choices = app.screen.choices
                    pick = next((c for c in choices if not c.ends and c.question is not None
                                 and c.question.id in app.services.bank().rubrics), None)
                    if pick is None:
                        break
                    app.interview.advance(pick)
                    app.show_question()
    return lat, grade_only, warm


async def spoken_latencies(n: int, seconds: float) -> list[dict]:
    """A spoken answer of ``seconds`` through the app's real speech path (the recorder fed in real time, as
    by a microphone, streaming Whisper, the grader, the result screen), ``n`` times: the candidate presses
    ctrl+r again at the end of speech (push-to-talk; the silence endpoint is set out of reach), and the clock
    runs from the end of speech to the first refresh of the result screen with the grade filled in."""
    import numpy as np

    from agent.session_config import SessionConfig
    from agent.speech import capture, record
    from tests.bench.bench_stt import SR, build_answer
    from tests.speech_fixtures import silence
    from tui.screens.interview import InterviewScreen
    from tui.screens.result import ResultScreen
    from tui.services import Services

    started: list[float] = []

    class Microphone(record.ArraySource):  # audio paced like a microphone's; remembers when it started
        def start(self, callback, on_end) -> None:
            started.append(time.perf_counter())
            super().start(callback, on_end)

    async def once(i: int) -> dict:
        speech, _ = build_answer(seconds, seed=10 + i)
        speech_s = speech.size / SR
        feed = np.concatenate([speech, silence(10.0)])  # room tone after the answer until ctrl+r
        capture._source = lambda audio_file: Microphone(feed, realtime=True)
        app = bench_app(Services(), load_settings=False, options=SessionConfig(n_questions=1, seed=i, voice=True))
        async with app.run_test(size=(100, 30)) as pilot:
            await until(lambda: app.model_state.get("grader", ("",))[0] in ("ready", "failed"), step=0.05)
            await pilot.press("ctrl+s")  # start: Whisper is loaded once a spoken interview starts
            await until(lambda: isinstance(app.screen, InterviewScreen) and app.screen.is_mounted
                        and app.screen.prepared
                        and app.model_state.get("whisper", ("",))[0] in ("ready", "failed"), step=0.05)
            whisper = app.model_state["whisper"]
            if whisper[0] != "ready" or app.model_state["grader"][0] != "ready":
                raise RuntimeError(f"models not ready: {app.model_state}")
            started.clear()
            await pilot.press("ctrl+r")
            await until(lambda: bool(started))
            t_end = started[0] + speech_s
            await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
            app.grade_ready.clear()
            await pilot.press("ctrl+r")  # push-to-talk: stop at the end of speech
            took = await grade_shown(app, ResultScreen, t_end)
            res = {"speech_s": round(speech_s, 1), "end_of_speech_to_grade_s": round(took, 3),
                   "grade_call_s": round(app.screen.seconds or 0.0, 3), "words": len(app.screen.answer.split()),
                   "whisper": whisper[1]}
            await pilot.press("ctrl+q")
        return res

    # push-to-talk: a pause in the answer must not end it (the endpoint is 1.5 s of silence by default)
    from agent.config import reset_settings

    os.environ["VIVA_ENDPOINT_SILENCE_S"] = "60"
    reset_settings()
    out = []
    for i in range(n):
        out.append(await once(i))
        print(f"  spoken {seconds:.0f} s answer: {out[-1]}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="start-ups and answers to time")
    ap.add_argument("--long", type=int, default=3, help="150-word typed answers to time each way (0: none)")
    ap.add_argument("--spoken", type=int, default=3, help="spoken answers to time (0: none)")
    ap.add_argument("--spoken-seconds", type=float, default=60.0, help="length of each spoken answer")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="viva-bench-tui-"))
    env = {"VIVA_DATA_DIR": str(tmp / "data"), "VIVA_CACHE_DIR": os.environ.get("VIVA_CACHE_DIR", str(tmp / "cache")),
           "VIVA_CONFIG": str(tmp / "config.toml"), "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color"}
    os.environ.update({k: v for k, v in env.items() if k != "TERM"})

    load_before = os.getloadavg()[0]
    first_paint_once(env)  # one untimed start to warm the file cache
    paints = [first_paint_once(env) for _ in range(args.runs)]
    shim = path_viva()
    shim_paints = [first_paint_once(env, argv=shim) for _ in range(args.runs)] if shim else []
    base = python_startup_s()
    lat, grade_only, warm = asyncio.run(submit_latencies(args.runs, args.long))
    spoken = asyncio.run(spoken_latencies(args.spoken, args.spoken_seconds)) if args.spoken else []
    load_after = os.getloadavg()[0]

    def stats(xs: list[float]) -> dict[str, float]:
        xs = [x for x in xs if x == x]
        if not xs:
            return {"median_s": float("nan"), "min_s": float("nan"), "max_s": float("nan"), "n": 0}
        return {"median_s": round(statistics.median(xs), 4), "min_s": round(min(xs), 4),
                "max_s": round(max(xs), 4), "n": len(xs)}

    out = {
        "first_screen": {**stats(paints), "target_s": TARGET_FIRST_PAINT_S,
                         "met": statistics.median(paints) <= TARGET_FIRST_PAINT_S,
                         "python_startup_s": round(base, 4), "command": " ".join(viva_argv())},
        "typed_submit_to_result": {**stats(lat["key"]), "target_s": TARGET_SUBMIT_S,
                                   "met": statistics.median(lat["key"]) <= TARGET_SUBMIT_S},
        "typed_submit_to_result_pilot_press": stats(lat["pilot"]),
        "grade_call_only": stats(grade_only.get("key", [])),
        **({"long_typed_answer": {"pasted_submit_to_result": stats(lat["long_pasted"]),
                                  "pasted_grade_call_only": stats(grade_only.get("long_pasted", [])),
                                  "written_submit_to_result": stats(lat["long_typed"]),
                                  "written_grade_call_only": stats(grade_only.get("long_typed", [])),
                                  "sentence_gap_s": SENTENCE_GAP_S}} if args.long else {}),
        "grader_warmup_s": round(warm, 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_1m": round(load_after, 2), "load_avg_1m_at_start": round(load_before, 2),
                    "platform": platform.platform()},
    }
    if shim:
        out["first_screen_path_viva"] = {**stats(shim_paints), "command": shim[0]}
    if spoken:
        out["spoken_end_of_speech_to_grade"] = {
            **stats([x["end_of_speech_to_grade_s"] for x in spoken]), "target_s": TARGET_SPOKEN_S,
            "met": statistics.median(x["end_of_speech_to_grade_s"] for x in spoken) <= TARGET_SPOKEN_S,
            "answers": spoken}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tui.json").write_text(json.dumps(out, indent=2) + "\n")

    rows = [("first screen after `viva` starts", out["first_screen"], TARGET_FIRST_PAINT_S)]
    if shim:
        rows.append(("  same, `viva` from PATH (a shim)", out["first_screen_path_viva"], None))
    rows += [("typed answer: submit -> result shown", out["typed_submit_to_result"], TARGET_SUBMIT_S),
             ("  same, key sent by Pilot.press", out["typed_submit_to_result_pilot_press"], None),
             ("  of which the grade call", out["grade_call_only"], None)]
    if args.long:
        rows += [("150-word answer pasted: submit -> result shown", out["long_typed_answer"]["pasted_submit_to_result"],
                  None),
                 ("  of which the grade call", out["long_typed_answer"]["pasted_grade_call_only"], None),
                 (f"  same, written a sentence each {SENTENCE_GAP_S:g} s", out["long_typed_answer"]
                  ["written_submit_to_result"], None),
                 ("  of which the grade call", out["long_typed_answer"]["written_grade_call_only"], None)]
    if spoken:
        rows += [(f"spoken {args.spoken_seconds:.0f} s answer: end of speech -> grade shown",
                  out["spoken_end_of_speech_to_grade"], TARGET_SPOKEN_S),
                 ("  of which the grade call", stats([x["grade_call_s"] for x in spoken]), None)]
    print(f"{'measure':52} {'median':>8} {'min':>8} {'max':>8} {'n':>3} {'target':>7}  met")
    for name, st, target in rows:
        met = "" if target is None else ("yes" if st["median_s"] <= target else "NO")
        tgt = "" if target is None else f"{target:.2f}s"
        print(f"{name:52} {st['median_s']:8.3f} {st['min_s']:8.3f} {st['max_s']:8.3f} {st['n']:3d} {tgt:>7}  {met}")
    print(f"python -c pass: {base:.3f}s; grader warm-up in the app: {warm:.1f}s; "
          f"load average {load_before:.2f} at start, {load_after:.2f} at the end, on {os.cpu_count()} CPUs")
    print(f"wrote {RESULTS / 'tui.json'}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent.parent))
    sys.exit(main())
