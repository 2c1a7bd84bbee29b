"""mmgen.tasks.captioning: captions (unconditional, prefix prompts, VLM questions) and the metadata
files datasets' imagefolder reads back. (Named *_task so it does not clash with tests/families/test_captioning.py.)"""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest
import tiny_saved as ts
from mmgen.tasks import Caption, caption, write_captions
from mmgen.tasks.captioning import DEFAULT_QUESTION, caption_records

from mmgen.generator import load

NEW = 6


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    return load(ts.save_captioner(tmp_path_factory.mktemp("vit-gpt2")), device="cpu", max_new_tokens=NEW)


@pytest.fixture(scope="module")
def blip(tmp_path_factory):
    return load(ts.save_blip(tmp_path_factory.mktemp("blip")), device="cpu", max_new_tokens=NEW)


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return load(ts.save_llava(tmp_path_factory.mktemp("llava")), device="cpu", max_new_tokens=NEW)


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    paths = ts.write_images(folder, 2) + ts.write_images(folder / "sub", 1, prefix="nested")
    return folder, paths


def test_unconditional_captions_are_the_generators_rows(captioner, image_folder):
    _, paths = image_folder
    captions = caption(captioner, paths)
    expected = captioner.generate(paths)
    assert [c.text for c in captions] == [r.text.strip() for r in expected]
    assert [c.image for c in captions] == [str(p) for p in paths]
    assert all(isinstance(c, Caption) and c.prompt is None for c in captions)
    assert [c.finish_reason for c in captions] == [r.finish_reason for r in expected]


def test_blip_prefix_prompt_is_part_of_the_caption(blip, image_folder):
    _, paths = image_folder
    captions = caption(blip, paths, prompt="a picture of")
    # BLIP stops at [SEP], as its own generate does, without the caller passing eos_token_id.
    expected = blip.generate([(p, "a picture of") for p in paths], eos_token_id=blip.model.config.text_config.sep_token_id)
    for c, r in zip(captions, expected):
        assert c.text == f"a picture of {r.text.strip()}".strip()
        assert c.prompt == "a picture of"


def test_vlm_question_goes_through_the_chat_template(llava, image_folder):
    _, paths = image_folder
    asked = caption(llava, paths, question="what is this?")
    chats = [{"image": p, "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what is this?"}]}]}
             for p in paths]
    assert [c.text for c in asked] == [r.text.strip() for r in llava.generate(chats)]
    assert all(c.prompt == "what is this?" for c in asked)
    assert all(c.prompt == DEFAULT_QUESTION for c in caption(llava, paths[:1]))  # a chat model is always asked


def test_question_needs_a_chat_template(captioner, image_folder):
    with pytest.raises(ValueError, match="chat template"):
        caption(captioner, image_folder[1], question="what?")
    with pytest.raises(ValueError, match="not both"):
        caption(captioner, image_folder[1], prompt="a", question="b")


def test_records_are_relative_to_the_folder(image_folder):
    folder, paths = image_folder
    captions = [Caption(str(p), f"caption {i}", None, None) for i, p in enumerate(paths)]
    rows = caption_records(captions, folder)
    assert [r["file_name"] for r in rows] == ["img0.png", "img1.png", "sub/nested0.png"]
    assert list(rows[0]) == ["file_name", "text"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "json"])
def test_metadata_files_parse(captioner, image_folder, fmt):
    folder, paths = image_folder
    captions = caption(captioner, paths)
    target = folder / f"metadata.{fmt}"
    write_captions(captions, target)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in target.read_text().splitlines()]
    elif fmt == "json":
        rows = json.loads(target.read_text())
    elif fmt == "csv":
        with open(target, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = pq.read_table(target).to_pylist()
    assert rows == [{"file_name": n, "text": c.text}
                    for n, c in zip(["img0.png", "img1.png", "sub/nested0.png"], captions)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_imagefolder_reads_the_captions_back(captioner, image_folder, fmt, tmp_path):
    datasets = pytest.importorskip("datasets")
    folder, paths = image_folder
    captions = caption(captioner, paths)
    write_captions(captions, folder / f"metadata.{fmt}")
    dataset = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train", cache_dir=str(tmp_path / "cache"))
    by_name = {p.name: c.text for p, c in zip(paths, captions)}
    assert len(dataset) == len(paths)
    for row in dataset:
        assert row["text"] == by_name[row["image"].filename.rsplit("/", 1)[-1]]
        assert row["image"].size in {(80, 60), (50, 90)}
