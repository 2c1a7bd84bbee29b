"""Inputs: files, folders and globs (ids from paths), text lines, manifests, datasets; ids checked before any work."""

from __future__ import annotations

import codecs
import io
import json
import time
import tracemalloc
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from job_fakes import ReadFile, UpperText, write_lines
from job_files import read_records

from mmgen.jobs import JobError, run
from mmgen.jobs.inputs import open_inputs, scan


def by_id(path: Path) -> dict:
    return {r["id"]: r for r in read_records(path)}


def tree(root: Path) -> None:
    for name, text in {"a.txt": "alpha", "sub/b.txt": "beta", "sub/deep/c.dat": "gamma", ".cache/d.txt": "hidden",
                       "e.bin": "not a text extension"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_files_folders_and_globs_get_ids_relative_to_their_root(tmp_path, monkeypatch):
    tree(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    ids = [i.id for s in open_inputs("data", ReadFile()) for i in s]
    assert ids == ["a.txt", "sub/b.txt", "sub/deep/c.dat"]  # sorted, recursive, hidden and other extensions skipped
    assert [i.id for s in open_inputs("data/**/*.txt", ReadFile()) for i in s] == ["a.txt", "sub/b.txt"]
    assert [i.id for s in open_inputs("data/sub/b.txt", ReadFile()) for i in s] == ["b.txt"]
    report = run(ReadFile(), ["data", "missing.txt", "data/*.nothing"], tmp_path / "out.jsonl", progress=False)
    records = by_id(tmp_path / "out.jsonl")
    assert records["sub/deep/c.dat"]["content"] == "gamma" and records["a.txt"]["error"] is None
    assert "no such file or folder" in records["missing.txt"]["error"]
    assert "matches no file" in records["data/*.nothing"]["error"]
    assert report.failed == 2 and report.records == 5


def test_files_are_read_by_background_workers(tmp_path):
    tree(tmp_path / "data")
    run(ReadFile(), tmp_path / "data", tmp_path / "out.jsonl", workers=2, progress=False)
    assert {r["reader"].split("_")[0] for r in read_records(tmp_path / "out.jsonl")} == {"mmgen-read"}


def test_same_file_names_under_two_folders_are_duplicate_ids_named_with_the_fix(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "talk.txt").write_text(folder)
    with pytest.raises(JobError, match=r"Duplicate input ids: 'talk.txt'.*common parent folder"):
        run(ReadFile(), [tmp_path / "a", tmp_path / "b"], tmp_path / "out.jsonl", progress=False)
    assert not (tmp_path / "out.jsonl.parts").exists()  # refused before any work, nothing left behind
    run(ReadFile(), tmp_path, tmp_path / "out.jsonl", progress=False)
    assert sorted(by_id(tmp_path / "out.jsonl")) == ["a/talk.txt", "b/talk.txt"]


def test_text_files_give_one_input_per_line_in_utf8_with_or_without_bom_and_utf16_or_as_encoded(tmp_path):
    (tmp_path / "bom.txt").write_bytes(codecs.BOM_UTF8 + "héllo\r\n\nworld\n".encode())
    (tmp_path / "wide.txt").write_text("ünï\ncode\n", encoding="utf-16")
    (tmp_path / "broken.txt").write_bytes(b"fine\nbad \xff byte\nfine again\n")
    run(UpperText(), [tmp_path / "bom.txt", tmp_path / "wide.txt", tmp_path / "broken.txt"], tmp_path / "o.jsonl",
        progress=False)
    records = by_id(tmp_path / "o.jsonl")
    assert [records[f"bom.txt:{n}"]["upper"] for n in (1, 2, 3)] == ["HÉLLO", "", "WORLD"]
    assert [records[f"wide.txt:{n}"]["upper"] for n in (1, 2)] == ["ÜNÏ", "CODE"]
    # The lines before the one that does not decode are done; that line is the file's error record, naming the
    # line, the byte and --encoding; the lines after it are not read (it is in another encoding: pass it).
    assert records["broken.txt:1"]["upper"] == "FINE" and records["broken.txt:1"]["error"] is None
    assert "broken.txt:3" not in records
    error = records["broken.txt:2"]["error"]
    assert "broken.txt" in error and "line 2 is not valid UTF-8 (byte 0xFF at offset 9)" in error
    assert "--encoding" in error
    run(UpperText(), tmp_path / "broken.txt", tmp_path / "latin.jsonl", encoding="latin-1", progress=False)
    latin = by_id(tmp_path / "latin.jsonl")
    assert latin["broken.txt:3"]["upper"] == "FINE AGAIN" and "ÿ" in latin["broken.txt:2"]["error"]  # decoded


def write_manifest(path: Path, rows: list[dict]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        columns = list(rows[0])
        path.write_text(",".join(columns) + "\n" + "".join(",".join(json.dumps(r[c]) if isinstance(r[c], str) and
                                                                     "," in r[c] else str(r[c]) for c in columns) + "\n"
                                                            for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
@pytest.mark.parametrize("ids", ["int", "str"])
def test_manifests_of_texts_and_of_paths(tmp_path, suffix, ids):
    make_id = (lambda n: n * 10) if ids == "int" else (lambda n: f"row-{n}")
    texts = ["one", "two, with a comma", "three"]
    manifest = tmp_path / f"texts{suffix}"
    write_manifest(manifest, [{"id": make_id(n), "text": t, "extra": 1} for n, t in enumerate(texts)])
    run(UpperText(), manifest, tmp_path / "texts.parquet", progress=False)
    records = by_id(tmp_path / "texts.parquet")
    assert {i: r["upper"] for i, r in records.items()} == {make_id(n): t.upper() for n, t in enumerate(texts)}

    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "x.txt").write_text("ex")
    paths = tmp_path / f"paths{suffix}"  # relative paths start at the manifest's folder
    write_manifest(paths, [{"id": make_id(0), "path": "files/x.txt"}, {"id": make_id(1), "path": "files/none.txt"}])
    run(ReadFile(), paths, tmp_path / "paths.jsonl", progress=False)
    records = by_id(tmp_path / "paths.jsonl")
    assert records[make_id(0)]["content"] == "ex" and "No such file" in records[make_id(1)]["error"]


def test_manifest_mistakes_are_named_before_any_work(tmp_path):
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}, {"id": 1, "text": "c"},
                              {"id": "x", "text": "d"}, {"id": "x", "text": "e"}])
    task = UpperText()
    with pytest.raises(JobError, match=r"Duplicate input ids: 1, 'x'"):
        run(task, manifest, tmp_path / "o.jsonl", progress=False)
    assert task.set_up == 0  # no model loaded, nothing computed
    write_manifest(manifest, [{"id": 1, "sentence": "a"}])
    with pytest.raises(JobError, match=r"no 'text' column \(its columns: \['id', 'sentence'\]\).*column="):
        run(UpperText(), manifest, tmp_path / "o.jsonl", progress=False)
    run(UpperText(), manifest, tmp_path / "o.jsonl", column="sentence", progress=False)
    assert by_id(tmp_path / "o.jsonl")[1]["upper"] == "A"
    manifest.write_text('{"id": 1, "text": "a"}\n{"id": 2, "text": \n')
    with pytest.raises(JobError, match=r"m.jsonl:2: not valid JSON"):
        run(UpperText(), manifest, tmp_path / "o2.jsonl", progress=False)
    manifest.write_text('{"id": 1.5, "text": "a"}\n')
    with pytest.raises(JobError, match=r"m.jsonl:1: the id 1.5 is not a string or an integer"):
        run(UpperText(), manifest, tmp_path / "o3.jsonl", progress=False)


def test_empty_manifest_cells_are_error_records(tmp_path):
    manifest = tmp_path / "m.parquet"
    write_manifest(manifest, [{"id": "a", "text": "fine"}, {"id": "b", "text": None}])
    run(UpperText(), manifest, tmp_path / "o.jsonl", progress=False)
    records = by_id(tmp_path / "o.jsonl")
    assert records["a"]["upper"] == "FINE" and "'text' value is empty" in records["b"]["error"]


def test_datasets_objects_saved_datasets_and_streams(tmp_path):
    texts = ["a", "bb", "ccc"]
    plain = datasets.Dataset.from_dict({"text": texts})  # no id column: the row number is the id
    run(UpperText(), plain, tmp_path / "plain.jsonl", progress=False)
    assert {i: r["upper"] for i, r in by_id(tmp_path / "plain.jsonl").items()} == {0: "A", 1: "BB", 2: "CCC"}

    with_ids = datasets.Dataset.from_dict({"id": ["x", "y", "z"], "text": texts})
    with_ids.save_to_disk(tmp_path / "saved")
    report = run(UpperText(), tmp_path / "saved", tmp_path / "saved.parquet", progress=False)
    assert report.total == 3 and sorted(by_id(tmp_path / "saved.parquet")) == ["x", "y", "z"]

    stream = with_ids.to_iterable_dataset()
    report = run(UpperText(), stream, tmp_path / "stream.jsonl", progress=False)
    assert report.total is None and by_id(tmp_path / "stream.jsonl")["z"]["upper"] == "CCC"
    repeated = datasets.Dataset.from_dict({"id": ["x", "y", "x"], "text": texts}).to_iterable_dataset()
    with pytest.raises(JobError, match="Duplicate input ids: 'x'"):
        run(UpperText(), repeated, tmp_path / "repeated.jsonl", progress=False)

    splits = datasets.DatasetDict({"train": with_ids, "test": with_ids})
    with pytest.raises(JobError, match=r"splits \['train', 'test'\]: pass one"):
        run(UpperText(), splits, tmp_path / "splits.jsonl", progress=False)


def test_an_image_column_reaches_the_workers_undecoded(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 3), "red").save(tmp_path / "red.png")
    images = datasets.Dataset.from_dict({"image": [str(tmp_path / "red.png")]}).cast_column("image", datasets.Image())
    seen = []

    class Sizes(ReadFile):
        dataset_columns = ("image",)

        def read(self, source):
            seen.append(sorted(source))
            return Image.open(io.BytesIO(source["bytes"]) if source["bytes"] else source["path"]).size, "worker"

        def compute(self, values):
            return [{"content": str(size), "reader": reader} for size, reader in values]

    run(Sizes(), images, tmp_path / "o.jsonl", progress=False)
    assert seen == [["bytes", "path"]] and by_id(tmp_path / "o.jsonl")[0]["content"] == "(4, 3)"


def test_a_100000_line_file_streams_in_seconds_with_flat_memory(tmp_path):
    write_lines(tmp_path / "big.txt", 100_000)
    started = time.perf_counter()
    report = run(UpperText(), tmp_path / "big.txt", tmp_path / "big.jsonl", batch_size=32, progress=False)
    assert report.records == 100_000 and time.perf_counter() - started < 60

    def peak(lines: int) -> int:
        write_lines(tmp_path / f"{lines}.txt", lines)
        tracemalloc.start()
        run(UpperText(), tmp_path / f"{lines}.txt", tmp_path / f"{lines}.jsonl", batch_size=32, progress=False)
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak_bytes

    small, large = peak(4_000), peak(20_000)
    # Only the set of ids grows with the input (a few hundred bytes per id); the rest is one window.
    assert large - small < 16_000 * 400, (small, large)


def test_scan_counts_inputs(tmp_path):
    write_lines(tmp_path / "a.txt", 7)
    assert scan(open_inputs([tmp_path / "a.txt"], UpperText())) == 7
