"""`viva transcribe FILE [--json] [--question ID]`: transcript, word timings and voice insights."""

from __future__ import annotations

import argparse
import json

ORDER = 61


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe a recorded answer (WAV, FLAC, MP3, OGG) with insights")
    p.add_argument("file", help="audio file")
    p.add_argument("--question", metavar="ID", help="bias recognition toward this question's rubric terms")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--words", action="store_true", help="print every word with its start and end time")
    p.set_defaults(func=cmd_transcribe)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from agent.speech.audio import require_voice

    require_voice("transcribing audio")
    from agent.speech.stt import Transcriber, transcribe_for_question

    transcriber = Transcriber()
    text, tr, ins = transcribe_for_question(args.file, args.question, transcriber)
    if args.json:
        print(json.dumps({"file": args.file, "question": args.question, "text": text, "heard_text": tr.heard_text,
                          "repairs": [{"heard": r.heard, "read_as": r.read_as} for r in tr.repairs],
                          "duration_s": tr.duration, "elapsed_s": tr.elapsed_s, "model": transcriber.label,
                          "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in tr.segments],
                          "words": [{"start": w.start, "end": w.end, "word": w.text, "probability": w.probability}
                                    for w in tr.words],
                          "insights": ins.to_dict()}, indent=2))
        return 0
    if not text:
        print(f"(no speech found in {args.file}: {tr.duration:.1f} s of audio)")
        return 0
    print(text)
    for r in tr.repairs:
        print(f"  ({r})")
    print()
    if args.words:
        for w in tr.words:
            print(f"  {w.start:7.2f} {w.end:7.2f}  {w.text}")
        print()
    print(f"insights: {ins.summary()}")
    if ins.fillers:
        print("  fillers: " + ", ".join(f"{h.text} @{h.start:.1f}s" for h in ins.fillers))
    if ins.pauses:
        print("  pauses over 2 s: " + ", ".join(f"{p.duration:.1f}s @{p.start:.1f}s" for p in ins.pauses))
    if ins.hedges:
        print("  hedges: " + ", ".join(f"{h.text} @{h.start:.1f}s" for h in ins.hedges))
    if args.question:
        print("  rubric terms used: " + (", ".join(ins.terms_used) or "none"))
    print(f"({tr.duration:.1f} s of audio transcribed in {tr.elapsed_s:.1f} s by {transcriber.label} on the "
          f"{transcriber.device.upper()})")
    return 0
