"""`SpeakJob`: text to speech (`mmgen.tasks.speak`) as a job task, one audio file per text.

Record fields: ``path`` (the audio file written), ``duration`` (seconds), ``sampling_rate`` (Hz)
and ``sentences`` (how many were synthesized and joined).

An input is a text: a whole text file (``text_unit = "file"``), all of standard input, a
manifest's or dataset's ``text`` column, or a text given as it is. Its audio is written as its
computation ends, to ``targets[id]`` when the job was given one, else to ``folder/<name>`` +
``suffix`` with a name made from the id (`mmgen.jobs.output_names`). A file is written under a
temporary name and renamed into place, so a killed job never leaves half a file under the name.
The format follows the suffix: any libsndfile writes (``.wav``, ``.flac``, ``.ogg``, and ``.mp3``
with libsndfile 1.1 or later; `check_audio_format` says so before any work).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mmgen.jobs.inputs import Input
from mmgen.jobs.model_job import ModelJob
from mmgen.jobs.records import RecordId

# Suffix -> libsndfile's major format.
AUDIO_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}


def check_audio_format(suffix: str) -> str:
    """libsndfile's format name for a file suffix; a `ValueError` naming the fix when it cannot be written here."""
    import soundfile

    fmt = AUDIO_FORMATS.get(suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write audio as {suffix or 'a file without suffix'!r}: name the file .wav, .flac, "
                         ".ogg or .mp3")
    if fmt not in soundfile.available_formats():
        raise ValueError(f"this libsndfile ({soundfile.__libsndfile_version__}) cannot write {fmt}: write .wav or "
                         ".flac and convert it (ffmpeg -i speech.wav speech.mp3), or install libsndfile 1.1 or later")
    return fmt


def write_audio_atomically(path: Path, audio: Any, sampling_rate: int) -> Path:
    """Write a (samples,) waveform in [-1, 1] (clipped) to ``path`` in its suffix's format, whole or not at all."""
    from mmgen.jobs.atomic import write_atomically
    from mmgen.outputs.audio_files import write_audio

    fmt = check_audio_format(path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: write_audio(handle, audio, sampling_rate, format=fmt))
    return path


@dataclass(frozen=True)
class Utterance:
    """A text with the id of its input (what `SpeakJob.read_item` returns)."""

    id: RecordId
    text: str


class SpeakJob(ModelJob):
    """Say each text: ``SpeakJob("demo/tts", folder="audio/")``.

    folder, suffix: where audio files go (``folder/<name><suffix>``); targets: id -> file, for the
    ids named ahead (the command line names every file before any work).
    speaker: speaker embedding (a ``.npy`` / ``.pt`` path or a vector; SpeechT5), vocoder: a
    ``SpeechT5HifiGan`` directory (None: Griffin-Lim), pause_s: silence between sentences,
    sentences_per_call: sentences synthesized together; other options go to synthesis (``seed=``).
    """

    name = "speak"
    source = "text"
    text_unit = "file"
    dataset_columns = ("text", "sentence")
    fields = {"path": pa.string(), "duration": pa.float64(), "sampling_rate": pa.int64(), "sentences": pa.int64()}

    def __init__(self, model: str | os.PathLike | Any, *, folder: str | os.PathLike = ".", suffix: str = ".wav",
                 targets: Mapping[RecordId, str | os.PathLike] | None = None, speaker: Any = None,
                 vocoder: Any = None, pause_s: float | None = None, sentences_per_call: int | None = None,
                 **options: Any):
        super().__init__(model, **options)
        check_audio_format(suffix)
        self.folder = Path(folder)
        self.suffix = suffix
        self.targets = {k: Path(v) for k, v in (targets or {}).items()}
        self.speaker = speaker
        self.vocoder = vocoder
        self.pause_s = pause_s
        self.sentences_per_call = sentences_per_call
        self._voice: Any = None

    def setup(self) -> None:
        super().setup()
        from mmgen.tasks.text_to_speech import as_vocoder

        self._voice = as_vocoder(self.vocoder)

    def target(self, record_id: RecordId) -> Path:
        """Where the audio of input ``record_id`` goes."""
        if record_id in self.targets:
            return self.targets[record_id]
        from mmgen.jobs.output_names import inside, output_stems

        return inside(self.folder, output_stems({record_id: str(record_id)})[record_id] + self.suffix)

    def read_item(self, item: Input) -> Utterance:
        text = item.source
        if not isinstance(text, str):
            import mmgen

            raise mmgen.InputError(f"a {type(text).__name__}", "a text to say must be a string",
                                   "give the manifest or dataset column of strings as column=")
        if not text.strip():
            import mmgen

            raise mmgen.InputError(str(item.id), "the text is empty: there is nothing to say",
                                   "give it some words, or leave it out")
        return Utterance(item.id, text)

    def length(self, utterance: Utterance) -> float:
        return float(len(utterance.text))

    def compute(self, utterances: Sequence[Utterance]) -> list[dict[str, Any] | BaseException]:
        from mmgen.tasks import speak

        options = dict(self.options)
        if self.pause_s is not None:
            options["pause_s"] = self.pause_s
        if self.sentences_per_call is not None:
            options["batch_size"] = self.sentences_per_call
        results: list[dict[str, Any] | BaseException] = []
        for utterance in utterances:  # one text, one waveform; a text that fails alone keeps the others
            try:
                speech = speak(self.generator, utterance.text, speaker_embeddings=self.speaker, vocoder=self._voice,
                               **options)
                path = write_audio_atomically(self.target(utterance.id), speech.audio, speech.sampling_rate)
            except Exception as exc:
                import mmgen

                if isinstance(exc, mmgen.OptionError) and "empty" not in str(exc):
                    raise  # a bad option fails every text: it stops the job
                results.append(exc)
                continue
            results.append({"path": os.fspath(path), "duration": speech.duration,
                            "sampling_rate": speech.sampling_rate, "sentences": len(speech.sentences)})
        return results


__all__ = ["AUDIO_FORMATS", "SpeakJob", "Utterance", "check_audio_format", "write_audio_atomically"]
