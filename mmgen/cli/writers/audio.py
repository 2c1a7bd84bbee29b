"""Speech: the audio files `mmgen.jobs.SpeakJob` writes, one per text, named before any work.

``-o out.mp3`` (one text) names the file; a folder gets one file per text named after its input
(``notes.txt`` -> ``notes.wav``; a text given on the command line: ``speech.wav``, or
``speech_1.wav``, ``speech_2.wav``, ... for several; stdin: ``stdin.wav``), safely and uniquely
(`mmgen.jobs.output_names`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmgen.cli.writers.base import Writer, sidecar
from mmgen.cli.writers.subtitles import input_names
from mmgen.jobs.inputs import InputSet
from mmgen.jobs.output_names import inside, output_stems
from mmgen.jobs.records import RecordId


class AudioFiles(Writer):
    """Where each text's audio goes (module docstring): a folder, or one file."""

    fresh = True

    def __init__(self, folder: Path, suffix: str = ".wav", single: Path | None = None):
        self.folder, self.suffix, self.single = folder, suffix, single
        self.journal = sidecar(folder, "speak") if single is None else sidecar(single)
        self.targets: dict[RecordId, Path] = {}

    def prepare(self, sources: Sequence[InputSet]) -> None:
        names = {record_id: name.strip("<>") for record_id, name in input_names(sources).items()}
        if self.single is not None:
            if len(names) != 1:
                from mmgen.jobs.errors import JobError

                raise JobError(f"--output {str(self.single)!r} is one file and there are {len(names)} texts: pass a "
                               "folder (one file per text).")
            self.targets = {record_id: self.single for record_id in names}
            return
        self.targets = {record_id: inside(self.folder, stem + self.suffix)
                        for record_id, stem in output_stems(names).items()}


__all__ = ["AudioFiles"]
