"""Speech recognition: audio of any length -> a `Transcript` with timed segments (and words).

    generator = mmgen.load("openai/whisper-small")
    transcript = transcribe(generator, "talk.flac", word_timestamps=True)
    transcript.language, transcript.text
    for segment in transcript.segments:
        print(f"[{segment.start:.2f} -> {segment.end:.2f}] {segment.text}")

The path depends on the model: Whisper goes to `mmgen.tasks.speech_recognition.whisper`
(long-form decoding on its timestamps, or windows without them); other speech-to-text models
(Speech2Text) to windowed decoding (`mmgen.tasks.speech_recognition.windowed`). Times are
seconds from the start of the audio, clipped to its duration; segments with no text are left out.
Texts are stripped: `Segment.text` and `Transcript.text` never start with Whisper's space.
``on_segment(index, segment)`` sees each segment as it is decoded (a live transcript).

Decoding options go to the decode core (``max_new_tokens``, ``num_beams``, ...); for Whisper
also the long-form ones (``temperature`` fallback, thresholds, ``condition_on_prev_tokens``).
Unset, the model's ``generation_config`` decides; `OPENAI_WHISPER_DEFAULTS` holds the settings
of openai-whisper's command line (``transcribe(..., **OPENAI_WHISPER_DEFAULTS)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mmgen.tasks.speech_recognition.prepared import PreparedAudio
from mmgen.tasks.speech_recognition.transcript import Segment, Transcript, join_texts
from mmgen.tasks.speech_recognition.whisper import transcribe_whisper
from mmgen.tasks.speech_recognition.windowed import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_LENGTH_S,
    DEFAULT_STRIDE_LENGTH_S,
    transcribe_windows,
)

from mmgen.core.options import OptionError
from mmgen.families.whisper import Whisper
from mmgen.generator import Generator, as_generator
from mmgen.inputs.files.audio import load_audio

TASKS = ("transcribe", "translate")

# openai-whisper's command-line defaults, by the names mmgen's Whisper decoding takes.
OPENAI_WHISPER_DEFAULTS: dict[str, Any] = {
    "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "compression_ratio_threshold": 2.4,
    "logprob_threshold": -1.0,
    "no_speech_threshold": 0.6,
    "condition_on_prev_tokens": True,
}


def is_whisper(generator: Generator) -> bool:
    return Whisper().matches(generator.model)


def prompt_ids(generator: Generator, text: str) -> Any:
    """Whisper's decoder prompt for an initial prompt (openai-whisper's ``initial_prompt``): ``<|startofprev|>``
    and the text's tokens, which condition the first window (transformers' ``get_prompt_ids``)."""
    if not isinstance(text, str):
        raise OptionError(f"initial_prompt must be a text, got {type(text).__name__}.")
    get = getattr(generator.tokenizer, "get_prompt_ids", None)
    if get is None or not is_whisper(generator):
        raise OptionError(f"initial_prompt needs a Whisper model; {type(generator.model).__name__} takes no prompt.")
    return get(text, return_tensors="pt")


def transcribe(model_or_generator: Any, audio: Any, *, language: str | None = None, task: str = "transcribe",
               return_timestamps: bool | None = None, word_timestamps: bool = False,
               batch_size: int = DEFAULT_BATCH_SIZE, sampling_rate: int | None = None,
               chunk_length_s: float = DEFAULT_CHUNK_LENGTH_S, stride_length_s: float = DEFAULT_STRIDE_LENGTH_S,
               processor: Any = None, on_segment: Callable[[Segment], None] | None = None,
               **options: Any) -> Transcript:
    """Transcribe (or translate, with Whisper) one recording of any length.

    model_or_generator: a `mmgen.Generator` (``mmgen.load(...)``), a model directory or name, or a
      model with ``processor=``.
    audio: a path, the bytes of a file, an array or tensor of samples (with ``sampling_rate=``),
      or a ``datasets`` Audio dict (`mmgen.inputs.files.audio.load_audio`); or a `PreparedAudio`
      (`mmgen.tasks.speech_recognition.prepared.prepare_audio`: samples at the model's rate with
      their features, and Whisper's encoder output, computed ahead).
    language: Whisper's source language (``"en"``, ``"english"``, ``"<|en|>"``); None detects it.
    task: ``"transcribe"``, or ``"translate"`` (into English; Whisper only).
    return_timestamps: Whisper predicts timestamps and segments follow them; False decodes
      without them (windowed past 30 s; segments are then the windows). None (the default):
      True when the model has timestamp tokens (every released Whisper, and ``demo/asr``).
    word_timestamps: add each segment's words with their times (Whisper only).
    batch_size: windows per decoding call on the windowed path; segments per alignment pass
      for word timestamps (`transcribe_many`: also recordings per call).
    chunk_length_s, stride_length_s: the windowed path's window length and overlap (with
      Whisper, at most one model window, and the overlap at most a quarter of it).
    on_segment: called with each `Segment` as it is decoded, in order (long-form Whisper: window
      by window; words are aligned after the last window, so these segments have none).
    options: decoding options (module docstring); for Whisper also ``best_of`` (candidates of its
      sampled passes) and ``initial_prompt`` (a text conditioning the first window, as
      openai-whisper's; ``prompt_ids=`` takes its tokens).

    Raises `mmgen.inputs.InputError` for audio that cannot be read, `OptionError` for a bad option.
    """
    return transcribe_many(model_or_generator, [audio], language=language, task=task,
                           return_timestamps=return_timestamps, word_timestamps=word_timestamps, batch_size=batch_size,
                           sampling_rate=sampling_rate, chunk_length_s=chunk_length_s,
                           stride_length_s=stride_length_s, processor=processor,
                           on_segment=None if on_segment is None else lambda _, segment: on_segment(segment),
                           **options)[0]


def transcribe_many(model_or_generator: Any, audios: Sequence[Any], *, language: str | None = None,
                    task: str = "transcribe", return_timestamps: bool | None = None, word_timestamps: bool = False,
                    batch_size: int = DEFAULT_BATCH_SIZE, sampling_rate: int | None = None,
                    chunk_length_s: float = DEFAULT_CHUNK_LENGTH_S, stride_length_s: float = DEFAULT_STRIDE_LENGTH_S,
                    processor: Any = None, on_segment: Callable[[int, Segment], None] | None = None,
                    **options: Any) -> list[Transcript]:
    """`transcribe` for many recordings, one `Transcript` each, in order: with Whisper, the recordings
    that fit one window are decoded ``batch_size`` at a time (each with its own language and its own
    seeking), which is what makes a folder of short clips fast; the others one by one.

    on_segment: called with (index of the recording in ``audios``, segment) as segments are decoded.
    """
    if task not in TASKS:
        raise OptionError(f"task={task!r}: pass one of {', '.join(TASKS)}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"batch_size={batch_size!r} must be an integer of at least 1.")
    generator = as_generator(model_or_generator, processor)
    options = {**generator.defaults, **options}
    initial_prompt = options.pop("initial_prompt", None)
    default_rate = options.pop("sampling_rate", None)  # a generator default; the call's own wins
    sampling_rate = sampling_rate if sampling_rate is not None else default_rate
    extractor = generator.components.feature_extractor
    if extractor is None or generator.tokenizer is None:
        raise OptionError("transcribe needs a speech-to-text model with a feature extractor and a tokenizer "
                          f"(got {type(generator.model).__name__}).")
    rate = int(extractor.sampling_rate)
    waveforms = [audio.waveform if isinstance(audio, PreparedAudio) else load_audio(audio, rate, source_rate=sampling_rate)
                 for audio in audios]
    features = [audio.features if isinstance(audio, PreparedAudio) else None for audio in audios]
    encoded = [audio.encoded if isinstance(audio, PreparedAudio) else None for audio in audios]
    if initial_prompt is not None:
        options["prompt_ids"] = prompt_ids(generator, initial_prompt)
    if is_whisper(generator):
        decoded = transcribe_whisper(
            generator, waveforms, language=language, task=task, return_timestamps=return_timestamps,
            word_timestamps=word_timestamps, batch_size=batch_size,
            windowed={"chunk_length_s": chunk_length_s, "stride_length_s": stride_length_s}, on_segment=on_segment,
            features=features, encoded=encoded, **options)
    else:
        for name, value, allowed in (("language", language, None), ("task", task, "transcribe"),
                                     ("word_timestamps", word_timestamps, False)):
            if value != allowed:
                raise OptionError(f"{name}={value!r} needs a Whisper model; {type(generator.model).__name__} "
                                  "transcribes in its own language without word timings.")
        if options.get("best_of") is not None:
            raise OptionError(f"best_of needs Whisper's temperature fallback; {type(generator.model).__name__} "
                              "decodes windows without it: leave best_of out.")
        decoded = []
        for index, waveform in enumerate(waveforms):
            segments = transcribe_windows(generator, waveform, chunk_length_s=chunk_length_s,
                                          stride_length_s=stride_length_s, batch_size=batch_size, **options)
            for segment in segments if on_segment is not None else ():
                on_segment(index, segment)
            decoded.append((segments, None))
    return [Transcript(text=join_texts([s.text for s in segments]), language=found, segments=tuple(segments),
                       duration=len(waveform) / rate)
            for waveform, (segments, found) in zip(waveforms, decoded)]


__all__ = ["OPENAI_WHISPER_DEFAULTS", "TASKS", "is_whisper", "prompt_ids", "transcribe", "transcribe_many"]
