"""The Ray engine on a local Ray instance gives the local engine's records: ids, results and errors."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from job_fakes import ReadFile, UpperStream, UpperText
from job_files import read_records

import mmgen
from mmgen.jobs import RaySettings, TranscribeJob, TranslateJob, run
from mmgen.registry import SAMPLES_DIR

pytestmark = pytest.mark.ray

ON_A_SMALL_MACHINE = RaySettings(actors=1, cpus_per_actor=0.5)


def sorted_records(path):
    return sorted(read_records(path), key=lambda r: json.dumps(r["id"]))


def test_ray_gives_the_local_records_for_a_csv_manifest_and_resumes_by_id(tmp_path, ray_instance):
    rows = [{"id": n, "text": ("bad " if n % 9 == 0 else "") + "x" * (n % 17)} for n in range(120)]
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in rows))
    run(UpperText(), manifest, tmp_path / "local.jsonl", progress=False)
    report = run(UpperText(), manifest, tmp_path / "ray.jsonl", engine="ray", ray=ON_A_SMALL_MACHINE, progress=False)
    assert report.records == 120 and report.failed == 14
    assert sorted_records(tmp_path / "ray.jsonl") == sorted_records(tmp_path / "local.jsonl")

    # Resume by id: half the manifest done locally, the rest on Ray.
    (tmp_path / "half.csv").write_text("id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in rows[:60]))
    run(UpperText(), tmp_path / "half.csv", tmp_path / "resumed.parquet", progress=False)
    report = run(UpperText(), manifest, tmp_path / "resumed.parquet", engine="ray", resume=True,
                 ray=ON_A_SMALL_MACHINE, progress=False)
    assert report.skipped == 60 and report.processed == 60
    assert sorted_records(tmp_path / "resumed.parquet") == sorted_records(tmp_path / "local.jsonl")


def test_ray_gives_the_local_records_for_files_with_missing_ones(tmp_path, ray_instance):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for n in range(7):
        (tmp_path / "d" / ("sub" if n % 2 else "") / f"f{n}.txt").write_text("y" * n)
    inputs = [tmp_path / "d", tmp_path / "gone.txt"]
    run(ReadFile(), inputs, tmp_path / "local.jsonl", progress=False)
    run(ReadFile(), inputs, tmp_path / "ray.jsonl", engine="ray", ray=ON_A_SMALL_MACHINE, progress=False)
    strip = lambda records: [{**r, "reader": None} for r in records]
    assert strip(sorted_records(tmp_path / "ray.jsonl")) == strip(sorted_records(tmp_path / "local.jsonl"))
    records = {r["id"]: r for r in read_records(tmp_path / "ray.jsonl")}
    assert "no such file" in records[str(tmp_path / "gone.txt")]["error"]


def test_ray_runs_a_demo_model_once_per_actor_with_the_local_records(tmp_path, ray_instance):
    lines = (SAMPLES_DIR / "sentences_en.txt").read_text(encoding="utf-8").splitlines()
    rows = [{"id": f"s{n}", "text": line} for n, line in enumerate(lines)] + [{"id": "empty", "text": None}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    run(TranslateJob(mmgen.load("demo/translate")), tmp_path / "m.parquet", tmp_path / "local.jsonl", progress=False)
    run(TranslateJob("demo/translate"), tmp_path / "m.parquet", tmp_path / "ray.jsonl", engine="ray",
        ray=ON_A_SMALL_MACHINE, progress=False)
    ray_records = sorted_records(tmp_path / "ray.jsonl")
    assert ray_records == sorted_records(tmp_path / "local.jsonl")
    empty = {r["id"]: r for r in ray_records}["empty"]
    assert empty["error"] == "the 'text' value is empty. Fix: give every row its text"


def test_ray_actors_compute_a_continuous_task_through_its_running_batch(tmp_path, ray_instance):
    rows = [{"id": n, "text": ("bad " if n % 11 == 0 else "") + "x" * (n * 7 % 23)} for n in range(70)]
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in rows))
    run(UpperStream(), manifest, tmp_path / "local.jsonl", progress=False)
    report = run(UpperStream(), manifest, tmp_path / "ray.jsonl", engine="ray", ray=ON_A_SMALL_MACHINE,
                 progress=False)
    assert report.records == 70 and report.failed == 7
    ray_records = sorted_records(tmp_path / "ray.jsonl")
    assert ray_records == sorted_records(tmp_path / "local.jsonl")
    assert {r["how"] for r in ray_records if r["error"] is None} == {"continuous"}


def test_ray_actors_prepare_a_transcription_batch_and_give_the_local_records(tmp_path, ray_instance):
    for name in ("command.wav", "numbers.flac"):
        shutil.copy(SAMPLES_DIR / name, tmp_path / name)
    (tmp_path / "again.wav").write_bytes((SAMPLES_DIR / "command.wav").read_bytes())
    (tmp_path / "empty.wav").write_bytes(b"")
    run(TranscribeJob(mmgen.load("demo/asr")), tmp_path, tmp_path / "local.jsonl", progress=False)
    run(TranscribeJob("demo/asr"), tmp_path, tmp_path / "ray.jsonl", engine="ray", ray=ON_A_SMALL_MACHINE,
        progress=False)
    ray_records = sorted_records(tmp_path / "ray.jsonl")
    assert ray_records == sorted_records(tmp_path / "local.jsonl")
    assert [r["error"] is None for r in ray_records] == [True, True, False, True]  # again, command, empty, numbers
