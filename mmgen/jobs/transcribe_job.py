"""`TranscribeJob`: speech recognition (`mmgen.tasks.transcribe`) as a job task.

Record fields: ``text`` (as `mmgen.tasks.transcribe` returns it, stripped), ``language``,
``duration`` (seconds) and ``segments``: ``[{"start", "end", "text", "seek", "tokens",
"temperature", "avg_logprob", "compression_ratio", "no_speech_prob", "words"}]`` (seconds from
the start; ``words`` ``[{"word", "start", "end", "probability"}]`` with word timestamps, else
None). A record holds all a subtitle file needs: `transcript_of` rebuilds the `Transcript`.

Reading, in the background workers, decodes and resamples the audio to the model's rate
(`mmgen.inputs.files.load_audio`); its length for bucketing is its duration. With Whisper, the
batch's log-mel features and its encoder output on the first window are computed in the runner's
prepare thread while the model decodes the batch before it (`TranscribeJob.prepare`,
`mmgen.jobs.compute.pipelined`), which leaves the decoder steps to the main thread. A batch goes to
`mmgen.tasks.transcribe_many`, which decodes the recordings that fit one window together; if
the batch fails, its recordings are transcribed one by one, so a recording that fails is an
error record and the others keep their results.

``on_segment(id, segment)``: called as each segment is decoded (window by window on long
audio; the command line prints whisper's live lines with it), for a local job; it is not sent
to Ray's actors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mmgen.jobs.inputs import Input
from mmgen.jobs.model_job import ModelJob
from mmgen.jobs.records import Record, RecordId

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".aiff", ".aif", ".aifc", ".au", ".caf", ".w64")
WORD = pa.struct([("word", pa.string()), ("start", pa.float64()), ("end", pa.float64()),
                  ("probability", pa.float64())])
SEGMENT = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("text", pa.string()), ("seek", pa.int64()),
                     ("tokens", pa.list_(pa.int64())), ("temperature", pa.float64()), ("avg_logprob", pa.float64()),
                     ("compression_ratio", pa.float64()), ("no_speech_prob", pa.float64()),
                     ("words", pa.list_(WORD))])


@dataclass(frozen=True)
class Recording:
    """A decoded recording with the id of its input (what `TranscribeJob.read_item` returns)."""

    id: RecordId
    waveform: Any  # (samples,) float32 at the model's rate
    prepared: Any = None  # Whisper's `PreparedAudio` (features, encoder output) once prepared (`TranscribeJob.prepare`)


class TranscribeJob(ModelJob):
    """Transcribe each recording: ``TranscribeJob("demo/asr")``, with `mmgen.tasks.transcribe`'s options
    (``language=``, ``task="translate"``, ``return_timestamps=``, ...) and generation options (`ModelJob`)."""

    name = "transcribe"
    source = "path"
    extensions = AUDIO_EXTENSIONS
    dataset_columns = ("audio", "path", "file")
    fields = {"text": pa.string(), "language": pa.string(), "duration": pa.float64(), "segments": pa.list_(SEGMENT)}

    def __init__(self, model: str | os.PathLike | Any, *,
                 on_segment: Callable[[RecordId, Any], None] | None = None, **options: Any):
        super().__init__(model, **options)
        self.on_segment = on_segment
        self.rate: int | None = None

    def setup(self) -> None:
        super().setup()
        extractor = self.generator.components.feature_extractor
        if extractor is None:
            import mmgen

            raise mmgen.OptionError(f"{self.model!r} has no feature extractor: TranscribeJob needs a speech-to-text "
                                    "model (Whisper, Speech2Text), e.g. 'demo/asr'.")
        self.rate = int(extractor.sampling_rate)

    def read(self, source: Any) -> Any:
        from mmgen.inputs.files import load_audio

        return load_audio(source, self.rate)

    def read_item(self, item: Input) -> Recording:
        return Recording(item.id, self.read(item.source))

    def length(self, recording: Recording) -> float:
        return len(recording.waveform) / self.rate

    def prepare(self, recordings: Sequence[Recording]) -> list[Recording]:
        """Whisper's features and first-window encoder output of a batch at once (`prepare_audio`, in the batches
        `transcribe_many` decodes), in the runner's prepare thread while the batch before it decodes; for other
        models the recordings as they are (their processor runs per window)."""
        from mmgen.tasks.speech_recognition.prepared import prepare_audio
        from mmgen.tasks.speech_recognition.transcribe import is_whisper
        from mmgen.tasks.speech_recognition.windowed import DEFAULT_BATCH_SIZE

        if not recordings or not is_whisper(self.generator):
            return list(recordings)
        batch_size = self.options.get("batch_size", DEFAULT_BATCH_SIZE)
        prepared = prepare_audio(self.generator, [r.waveform for r in recordings], batch_size)
        return [Recording(r.id, r.waveform, p) for r, p in zip(recordings, prepared)]

    def _transcribe(self, recordings: Sequence[Recording]) -> list[Any]:
        from mmgen.tasks import transcribe_many

        options = dict(self.options)
        if self.on_segment is not None:
            ids = [r.id for r in recordings]
            options["on_segment"] = lambda index, segment: self.on_segment(ids[index], segment)
        audios = [r.waveform if r.prepared is None else r.prepared for r in recordings]
        return transcribe_many(self.generator, audios, sampling_rate=self.rate, **options)

    def compute(self, recordings: Sequence[Recording]) -> list[dict[str, Any] | BaseException]:
        import mmgen

        try:
            return [self.record(t) for t in self._transcribe(recordings)]
        except mmgen.OptionError:
            raise  # a bad option fails every recording: it stops the job
        except Exception:
            if len(recordings) == 1:
                raise
        results: list[dict[str, Any] | BaseException] = []
        for recording in recordings:  # one of them failed the batch: find it, keep the others
            try:
                results.append(self.record(self._transcribe([recording])[0]))
            except mmgen.OptionError:
                raise
            except Exception as exc:
                results.append(exc)
        return results

    @staticmethod
    def record(transcript: Any) -> dict[str, Any]:
        segments = [{"start": s.start, "end": s.end, "text": s.text, "seek": s.seek, "tokens": list(s.tokens),
                     "temperature": s.temperature, "avg_logprob": s.avg_logprob,
                     "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob,
                     "words": None if s.words is None else [{"word": w.word, "start": w.start, "end": w.end,
                                                             "probability": w.probability} for w in s.words]}
                    for s in transcript.segments]
        return {"text": transcript.text, "language": transcript.language, "duration": transcript.duration,
                "segments": segments}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["on_segment"] = None  # a local printer: Ray's actors report through their records
        return state


def transcript_of(record: Record) -> Any:
    """The `mmgen.tasks.Transcript` a result record holds (`TranscribeJob.record` read back)."""
    from mmgen.tasks.speech_recognition import Segment, Transcript, Word

    segments = []
    for s in record["segments"] or ():
        words = None if s.get("words") is None else tuple(Word(w["word"], w["start"], w["end"], w["probability"])
                                                            for w in s["words"])
        segments.append(Segment(start=s["start"], end=s["end"], text=s["text"], words=words,
                                tokens=tuple(s.get("tokens") or ()), seek=s.get("seek") or 0,
                                temperature=s.get("temperature") or 0.0, avg_logprob=s.get("avg_logprob"),
                                compression_ratio=s.get("compression_ratio"), no_speech_prob=s.get("no_speech_prob")))
    return Transcript(text=record["text"], language=record["language"], segments=tuple(segments),
                      duration=record["duration"])


__all__ = ["AUDIO_EXTENSIONS", "Recording", "SEGMENT", "TranscribeJob", "transcript_of"]
