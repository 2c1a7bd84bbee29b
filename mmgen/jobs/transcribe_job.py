"""`TranscribeJob`: speech recognition (`mmgen.tasks.transcribe`, one recording per call) as a job task.

Record fields: ``text`` (as `mmgen.tasks.transcribe` returns it), ``language``, ``duration``
(seconds) and ``segments`` (``[{"start", "end", "text"}]``, seconds from the start).

Reading, in the background workers, decodes and resamples the audio to the model's rate
(`mmgen.inputs.files.load_audio`); its length for bucketing is its duration. `transcribe` takes
one recording of any length, so a batch is transcribed recording by recording, and a recording
that fails is an error record without costing the others a retry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from mmgen.jobs.model_job import ModelJob

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".aiff", ".aif", ".aifc", ".au", ".caf", ".w64")
SEGMENT = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("text", pa.string())])


class TranscribeJob(ModelJob):
    """Transcribe each recording: ``TranscribeJob("demo/asr")``, with `mmgen.tasks.transcribe`'s options
    (``language=``, ``task="translate"``, ``return_timestamps=``, ...) and generation options (`ModelJob`)."""

    name = "transcribe"
    source = "path"
    extensions = AUDIO_EXTENSIONS
    dataset_columns = ("audio", "path", "file")
    fields = {"text": pa.string(), "language": pa.string(), "duration": pa.float64(), "segments": pa.list_(SEGMENT)}

    def __init__(self, model: str | os.PathLike | Any, **options: Any):
        super().__init__(model, **options)
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

    def length(self, waveform: Any) -> float:
        return len(waveform) / self.rate

    def compute(self, waveforms: Sequence[Any]) -> list[dict[str, Any] | BaseException]:
        import mmgen
        from mmgen.tasks import transcribe

        results: list[dict[str, Any] | BaseException] = []
        for waveform in waveforms:
            try:
                transcript = transcribe(self.generator, waveform, sampling_rate=self.rate, **self.options)
            except mmgen.OptionError:
                raise  # a bad option fails every recording: it stops the job
            except Exception as exc:
                results.append(exc)  # this recording's error record; the others keep their results
                continue
            segments = [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]
            results.append({"text": transcript.text, "language": transcript.language,
                            "duration": transcript.duration, "segments": segments})
        return results


__all__ = ["AUDIO_EXTENSIONS", "TranscribeJob"]
