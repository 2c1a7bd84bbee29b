"""The Ray engine: the same job on Ray Data, from one machine to a cluster (``run(..., engine="ray")``).

    inputs -> Ray Data dataset (Ray's readers for a manifest) -> map_batches(JobActor pool) -> driver -> Journal

- A manifest is read with Ray's own readers (``read_parquet``, ``read_csv``, ``read_json``), a
  ``datasets.Dataset`` with ``from_huggingface``; files, folders and globs (and an
  ``IterableDataset``, read once) are listed on the driver and handed over with ``from_items``.
- `JobActor` is the callable class of ``map_batches``: each actor of the pool loads the model
  once (`JobTask.setup`), then for each block of rows reads the inputs in threads, buckets them
  by length and computes them with the local engine's `BatchComputer` (a continuous task: the
  block through its running batch, `mmgen.jobs.compute.record_batches`), so a failure becomes that
  row's ``error`` record, exactly as locally (Ray's own error tolerance would drop whole blocks).
  Rows already committed are dropped in the actor (resume by id).
- The driver iterates the results and commits them to the same `Journal` as the local engine
  (atomic parts, one merged output, SIGINT stops after the current block), so both engines
  give the same records and the same durability.

Which cluster: a running Ray instance is used as it is (``ray.init(...)`` before `run`);
otherwise `RaySettings.address` or the ``RAY_ADDRESS`` environment variable
(``ray://head:10001``, ``auto``) names an existing cluster, and without either a local instance
is started (and shut down at the end). Actors take `RaySettings.cpus_per_actor` CPUs (and
``gpus_per_actor`` GPUs): on a small machine give them a fraction, and start Ray with more
logical CPUs than the actors take (``ray.init(num_cpus=4)``), or the pool starves the read tasks.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mmgen.jobs import dataset_inputs, manifests
from mmgen.jobs.compute import BatchComputer, record_batches
from mmgen.jobs.errors import JobError, JobInterrupted
from mmgen.jobs.inputs import Input, InputSet
from mmgen.jobs.interrupt import stop_on_sigint
from mmgen.jobs.journal import Journal
from mmgen.jobs.prefetch import read_ahead
from mmgen.jobs.progress import progress_bar
from mmgen.jobs.records import Record, RecordId, error_record, record_schema
from mmgen.jobs.report import Tally
from mmgen.jobs.settings import JobSettings

SOURCE, PROBLEM = "source", "problem"


@dataclass(frozen=True)
class RaySettings:
    """actors: the actor pool's size (an int, or ``(min, max)`` to autoscale).
    cpus_per_actor, gpus_per_actor: what each actor reserves (fractions allowed).
    rows_per_call: rows per ``map_batches`` call (default 4 job batches): the unit a resume can lose.
    address: the cluster to join when Ray is not started yet (default ``RAY_ADDRESS``, else a local instance).
    read_workers: reader threads inside each actor.
    """

    actors: int | tuple[int, int] = 1
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    rows_per_call: int | None = None
    address: str | None = None
    read_workers: int = 2


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise JobError("engine='ray' needs Ray Data: pip install 'mmgen[ray]' (or 'ray[data]').") from exc
    return ray


@dataclass(frozen=True)
class RowLayout:
    """How a block's rows hold an input (next to the ``id`` column): the input column, the column of problems
    found while listing (files), whether the input is a text, and the folder relative paths start from."""

    input_column: str
    text: bool
    problem_column: str | None = None
    root: str | None = None


class JobActor:
    """``map_batches``' callable class: loads the task once per actor, then block of rows -> block of records."""

    def __init__(self, task: Any, layout: RowLayout, committed: frozenset, settings: JobSettings, read_workers: int):
        self.task = task
        self.layout = layout
        self.committed = committed
        self.settings = settings
        self.read_workers = read_workers
        task.setup()
        self.computer = BatchComputer(task)

    def _inputs(self, rows: list[dict[str, Any]]) -> list[Input]:
        layout, inputs = self.layout, []
        for row in rows:
            record_id = row["id"]
            if record_id in self.committed:
                continue
            problem = row.get(layout.problem_column) if layout.problem_column else None
            if problem is not None:
                inputs.append(Input(record_id, None, problem))
                continue
            root = Path(layout.root) if layout.root is not None else None
            inputs.append(manifests.row_input(record_id, row.get(layout.input_column), layout.input_column,
                                              layout.text, root))
        return inputs

    def __call__(self, block: pa.Table) -> pa.Table:
        fields = list(self.task.fields)
        loaded = list(read_ahead(self._inputs(block.to_pylist()), self.task, self.read_workers,
                                 self.settings.batch_size))
        records: list[Record] = [error_record(item.id, item.error, fields) for item in loaded if item.error is not None]
        readable = [item for item in loaded if item.error is None]
        for batch in record_batches(self.computer, readable, self.settings.batch_size, self.settings.window):
            records += batch
        schema = record_schema(self.task.fields, block.schema.field("id").type)
        return pa.Table.from_pylist(records, schema=schema)


def _dataset(ray: Any, sources: Sequence[InputSet], task: Any) -> tuple[Any, RowLayout]:
    """The Ray dataset of the job's inputs and how its rows hold them (module docstring)."""
    text = task.source == "text"
    if len(sources) == 1 and isinstance(sources[0], manifests.ManifestInputs):
        manifest = sources[0].manifest
        columns = ["id", manifest.column]
        path = os.fspath(manifest.path.absolute())
        if manifest.fmt == "parquet":
            ds = ray.data.read_parquet(path, columns=columns)
        elif manifest.fmt == "csv":
            import pyarrow.csv as pa_csv

            types = {"id": manifests._csv_id_type(manifest.path), manifest.column: pa.string()}
            ds = ray.data.read_csv(path, convert_options=pa_csv.ConvertOptions(include_columns=columns,
                                                                               column_types=types))
        else:
            ds = ray.data.read_json(path, lines=True).select_columns(columns)
        return ds, RowLayout(manifest.column, text, root=os.fspath(manifest.root))
    if len(sources) == 1 and isinstance(sources[0], dataset_inputs.DatasetInputs) and sources[0].countable:
        source = sources[0]
        hf = source.dataset
        if not source.has_ids:
            hf = hf.add_column("id", list(range(len(hf))))
        return ray.data.from_huggingface(hf), RowLayout(source.column, text)
    # Files, folders, globs, several sources: listed here (paths and texts, a few bytes each).
    rows = [{"id": item.id, SOURCE: item.source, PROBLEM: item.problem} for source in sources for item in source]
    return ray.data.from_items(rows), RowLayout(SOURCE, text, problem_column=PROBLEM)


def _actor_pool(ray: Any, actors: int | tuple[int, int]) -> Any:
    """``ActorPoolStrategy`` of a fixed size, or autoscaling between ``(min, max)`` (``concurrency=`` is deprecated
    since Ray 2.51)."""
    if isinstance(actors, tuple):
        return ray.data.ActorPoolStrategy(min_size=actors[0], max_size=actors[1])
    return ray.data.ActorPoolStrategy(size=actors)


def run_ray(task: Any, sources: Sequence[InputSet], journal: Journal, committed: set[RecordId],
            settings: JobSettings, ray_settings: RaySettings | None,
            on_records: Callable[[list[Record]], None] | None = None) -> Tally:
    """Run the job on Ray Data (module docstring), committing to ``journal`` on the driver; returns the run's tally."""
    ray = _import_ray()
    ray_settings = ray_settings or RaySettings()
    started_here = False
    if not ray.is_initialized():
        ray.init(address=ray_settings.address or os.environ.get("RAY_ADDRESS"), log_to_driver=False)
        started_here = True
    try:
        return _run(ray, task, sources, journal, committed, settings, ray_settings, on_records)
    finally:
        if started_here:
            ray.shutdown()


def _run(ray: Any, task: Any, sources: Sequence[InputSet], journal: Journal, committed: set[RecordId],
         settings: JobSettings, ray_settings: RaySettings,
         on_records: Callable[[list[Record]], None] | None) -> Tally:
    ds, layout = _dataset(ray, sources, task)
    rows_per_call = ray_settings.rows_per_call or 4 * settings.batch_size
    results = ds.map_batches(
        JobActor,
        fn_constructor_args=(task, layout, frozenset(committed), settings, ray_settings.read_workers),
        batch_size=rows_per_call,
        batch_format="pyarrow",
        compute=_actor_pool(ray, ray_settings.actors),
        num_cpus=ray_settings.cpus_per_actor,
        num_gpus=ray_settings.gpus_per_actor or None,
    )
    total = None
    if all(s.countable for s in sources):
        total = sum(1 for s in sources for i in s.ids() if i not in committed)
    tally = Tally()
    bar = progress_bar(f"{task.name} (ray)", total, settings.progress)
    pending: list[Record] = []
    last_commit = time.monotonic()
    stopped = False
    try:
        with stop_on_sigint() as stop:
            for block in results.iter_batches(batch_size=None, batch_format="pyarrow"):
                records = block.to_pylist()
                if on_records is not None and records:
                    on_records(records)
                pending += records
                tally.add(records)
                bar.update(len(records))
                if len(pending) >= settings.commit_records or time.monotonic() - last_commit >= settings.commit_seconds:
                    journal.commit(pending)
                    pending, last_commit = [], time.monotonic()
                if stop.requested:
                    stopped = True
                    break
            journal.commit(pending)
    finally:
        bar.close()
    if stopped:
        message = (f"Stopped by SIGINT after the current block: {len(journal.parts)} part(s) committed in "
                   f"{str(journal.folder)!r}. Run the same job again with resume=True (command line: --resume).")
        print(message, file=sys.stderr, flush=True)
        raise JobInterrupted(message)
    return tally


__all__ = ["JobActor", "RaySettings", "RowLayout", "run_ray"]
