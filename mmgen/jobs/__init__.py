"""Jobs: tasks over many inputs that run unattended, lose nothing, and scale out on Ray.

    from mmgen.jobs import CaptionJob, run
    report = run(CaptionJob("demo/caption"), "photos/", "captions.parquet", resume=True)
    print(report.summary())

- `run` (`mmgen.jobs.runner`): inputs -> one record per input -> one JSONL or Parquet file,
  committed as results complete and merged atomically (`mmgen.jobs.journal` has the protocol);
  ``resume=True`` skips what was committed; ``engine="ray"`` runs on Ray Data.
- Job tasks (`JobTask`): `CaptionJob`, `TranscribeJob`, `TranslateJob`, `SummarizeJob`,
  `GenerateJob`, `SpeakJob`, or your own subclass (``read`` a file in a background worker,
  ``length`` for bucketing, ``compute`` a batch).
- `JobSettings` (batch size, readers, commits, progress), `JobReport` (what a run did), and the
  errors `JobError`, `OutputError`, `JobInterrupted`.
- `output_names`: file names made from inputs, safe and unique (a file per input: subtitles, audio).
- `batches`: an in-memory batch runner (`run_batches`, `Item`, `Report`) for small lists in Python.

The names are imported on first use (`mmgen.lazy`): the command line's ``--help`` and a light
module (``mmgen.jobs.records``) do not pay for pyarrow, Ray's engine or the job tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmgen.lazy import lazy_exports

_EXPORTS = {
    "Failure": "mmgen.jobs.batches",
    "Item": "mmgen.jobs.batches",
    "Report": "mmgen.jobs.batches",
    "run_batches": "mmgen.jobs.batches",
    "CaptionJob": "mmgen.jobs.caption_job",
    "JobError": "mmgen.jobs.errors",
    "JobInterrupted": "mmgen.jobs.errors",
    "OutputError": "mmgen.jobs.errors",
    "GenerateJob": "mmgen.jobs.generate_job",
    "Input": "mmgen.jobs.inputs",
    "InputSet": "mmgen.jobs.inputs",
    "ListInputs": "mmgen.jobs.inputs",
    "ModelJob": "mmgen.jobs.model_job",
    "RaySettings": "mmgen.jobs.ray_engine",
    "JobReport": "mmgen.jobs.report",
    "run": "mmgen.jobs.runner",
    "JobSettings": "mmgen.jobs.settings",
    "SpeakJob": "mmgen.jobs.speak_job",
    "SummarizeJob": "mmgen.jobs.summarize_job",
    "JobTask": "mmgen.jobs.task",
    "TranscribeJob": "mmgen.jobs.transcribe_job",
    "TranslateJob": "mmgen.jobs.translate_job",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["CaptionJob", "Failure", "GenerateJob", "Input", "InputSet", "Item", "JobError", "JobInterrupted",
           "JobReport", "JobSettings", "JobTask", "ListInputs", "ModelJob", "OutputError", "RaySettings", "Report",
           "SpeakJob", "SummarizeJob", "TranscribeJob", "TranslateJob", "run", "run_batches"]

if TYPE_CHECKING:
    from mmgen.jobs.batches import Failure, Item, Report, run_batches
    from mmgen.jobs.caption_job import CaptionJob
    from mmgen.jobs.errors import JobError, JobInterrupted, OutputError
    from mmgen.jobs.generate_job import GenerateJob
    from mmgen.jobs.inputs import Input, InputSet, ListInputs
    from mmgen.jobs.model_job import ModelJob
    from mmgen.jobs.ray_engine import RaySettings
    from mmgen.jobs.report import JobReport
    from mmgen.jobs.runner import run
    from mmgen.jobs.settings import JobSettings
    from mmgen.jobs.speak_job import SpeakJob
    from mmgen.jobs.summarize_job import SummarizeJob
    from mmgen.jobs.task import JobTask
    from mmgen.jobs.transcribe_job import TranscribeJob
    from mmgen.jobs.translate_job import TranslateJob
