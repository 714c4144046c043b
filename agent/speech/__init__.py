"""The voice pipeline: speak the question, record the answer, transcribe it, measure how it was said.

Modules (each documents its API in its docstring; heavy libraries load inside functions):

- ``tts``: ``Speaker`` (Piper, espeak-ng fallback, none): ``speak(text)`` streams sentence by sentence,
  ``stop()``, ``prefetch(text)``, disk cache under ``<cache_dir>/tts``; no output device -> said once.
- ``record``: ``Recorder`` (push-to-talk ``start()``/``stop()``, VAD endpointing, ``max_answer_s``, level
  callback, ``on_chunk`` hand-off while recording), ``MicrophoneSource`` / ``ArraySource``,
  ``RecorderUnavailable`` (no microphone or PortAudio: show the message, keep typing available).
- ``stt``: ``Transcriber`` (faster-whisper with Silero VAD and hallucination guards, rubric hotwords, word
  timestamps), ``StreamingTranscriber`` (re-decodes a growing window while speaking; final pass on the whole
  recording),
  ``Transcript``/``Segment``/``Word``, ``rubric_terms``, ``transcribe_for_question``.
- ``insights``: pace, fillers, pauses, hedges, talk time, rubric terms used (pure functions).
- ``audio``: ``load_audio`` (files and arrays -> 16 kHz mono, clear errors), ``require_voice``.
- ``capture``: ``capture_answer`` (all of the below in one call, from the microphone or a file, returning an
  ``agent.answer.Answer``), ``CaptureUnavailable`` / ``NothingHeard``, ``microphone_available``; the app
  and `viva interview --text --voice` both use it.

A typical spoken turn in the app (all in worker threads)::

    speaker.speak(question.prompt)
    stream = StreamingTranscriber(transcriber, hotwords=rubric_terms(question.id), on_text=show)
    rec = Recorder(on_chunk=stream, on_level=meter, on_stop=...)  # RecorderUnavailable -> typing only
    rec.start(); recording = rec.wait()          # or rec.stop() on push-to-talk release
    transcript = stream.finish(recording.audio)   # settled sentences + the rest decoded
    insights = compute_insights(transcript.words, terms=rubric_terms(question.id), duration=recording.duration)
"""
