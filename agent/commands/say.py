"""`viva say TEXT [--out FILE.wav] [--engine piper|espeak]`: speak text aloud or write it to a WAV file."""

from __future__ import annotations

import argparse
import sys

ORDER = 60


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("say", help="speak text with the interview voice (or write a WAV file)")
    p.add_argument("text", nargs="+", help="the text to speak")
    p.add_argument("--out", metavar="FILE.wav", help="write the audio to this WAV file instead of playing it")
    p.add_argument("--engine", choices=["piper", "espeak"], help="TTS engine (default: the configured one)")
    p.set_defaults(func=cmd_say)


def cmd_say(args: argparse.Namespace) -> int:
    from agent.errors import UserError
    from agent.speech.audio import require_voice

    text = " ".join(args.text).strip()
    if not text:
        raise UserError("nothing to say: give some text, e.g. viva say \"What is perplexity?\"")
    if (args.engine or "piper") == "piper":
        require_voice("speaking text", ("tts",))
    from agent.speech.tts import Speaker

    def status(message: str) -> None:
        print(f"viva: {message}", file=sys.stderr)

    speaker = Speaker(engine=args.engine or None, on_status=status)
    if args.engine is None and speaker.engine_name == "none":
        speaker = Speaker(engine="piper", on_status=status)
    if args.out:
        path = speaker.save(text, args.out)
        import soundfile as sf

        info = sf.info(str(path))
        print(f"wrote {path} ({info.duration:.2f} s, {info.samplerate} Hz, {speaker.engine.name})")
        return 0
    job = speaker.speak(text)
    job.wait()
    if job.error:
        raise UserError(f"speaking failed: {job.error}")
    if job.pieces_played == 0:
        print(text)
    return 0
