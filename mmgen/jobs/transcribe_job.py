"""`TranscribeJob`: speech recognition (`mmgen.tasks.transcribe`, one recording per call) as a job task.

Record fields: ``text`` (as `mmgen.tasks.transcribe` returns it), ``language``, ``duration``
(seconds) and ``segments`` (``[{"start", "end", "text"}]``, seconds from the start).

Reading, in the background workers, decodes and resamples the audio to the model's rate
(`mmgen.inputs.files.load_audio`); its length for bucketing is its duration. A batch goes to
`mmgen.tasks.transcribe_many`, which decodes the recordings that fit one window together; if
the batch fails, its recordings are transcribed one by one, so a recording that fails is an
error record and the others keep their results.
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
        from mmgen.tasks import transcribe_many

        try:
            return [self.record(t) for t in transcribe_many(self.generator, waveforms, sampling_rate=self.rate,
                                                            **self.options)]
        except mmgen.OptionError:
            raise  # a bad option fails every recording: it stops the job
        except Exception:
            if len(waveforms) == 1:
                raise
        results: list[dict[str, Any] | BaseException] = []
        for waveform in waveforms:  # one of them failed the batch: find it, keep the others
            try:
                results.append(self.record(transcribe_many(self.generator, [waveform], sampling_rate=self.rate,
                                                           **self.options)[0]))
            except mmgen.OptionError:
                raise
            except Exception as exc:
                results.append(exc)
        return results

    @staticmethod
    def record(transcript: Any) -> dict[str, Any]:
        segments = [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]
        return {"text": transcript.text, "language": transcript.language, "duration": transcript.duration,
                "segments": segments}


__all__ = ["AUDIO_EXTENSIONS", "TranscribeJob"]
