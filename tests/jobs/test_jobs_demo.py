"""End to end on the demo models: the job's records are what the task functions return; bad files are error records."""

from __future__ import annotations

import random
import shutil

import numpy
import pytest
import torch
from job_files import read_records
from mmgen.tasks import caption, transcribe, translate

import mmgen
from mmgen.demo.data import scenes
from mmgen.inputs.adapters.components import Components
from mmgen.jobs import CaptionJob, TranscribeJob, TranslateJob, run
from mmgen.jobs.caption_job import EncodedImage, stacked
from mmgen.jobs.transcribe_job import Recording
from mmgen.registry import SAMPLES_DIR


@pytest.fixture(scope="module")
def captioner():
    return mmgen.load("demo/caption")


def test_caption_job_matches_the_caption_task_and_records_a_corrupt_image(tmp_path, captioner):
    rng = random.Random(3)
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    for n, scene in enumerate(scenes.scenes(10, seed=11)):
        side = rng.choice([48, 64, 200, 517])
        scenes.render(scene).resize((side, int(side * rng.uniform(0.6, 1.4)))).save(folder / ("more" if n % 3 else "")
                                                                                   / f"scene{n}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    report = run(CaptionJob(captioner), folder, tmp_path / "captions.parquet", batch_size=4, progress=False)
    records = {r["id"]: r for r in read_records(tmp_path / "captions.parquet")}
    assert report.records == 11 and report.failed == 1
    assert "broken.png" in records["broken.png"]["error"]
    for record_id, record in records.items():
        if record_id == "broken.png":
            continue
        expected = caption(captioner, [folder / record_id])[0]
        assert (record["text"], record["finish_reason"]) == (expected.text, expected.finish_reason.value)


def test_the_background_resize_gives_the_processors_pixel_values_bit_for_bit(captioner):
    # transformers' Pillow processor (the one loaded where torchvision is missing); with a prompt the processor
    # itself runs on the main thread, so the reader resizes
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    pil = ViTImageProcessorPil(**captioner.components.image_processor.to_dict())
    captioner = mmgen.Generator(captioner.model, Components(tokenizer=captioner.tokenizer, image_processor=pil))
    job = CaptionJob(captioner, prompt="a picture of")
    job.setup()
    image = scenes.render(scenes.scenes(1, seed=5)[0]).resize((333, 250))
    fitted = job.read(image)
    assert fitted.size == (64, 64)
    assert torch.equal(captioner.encode([image])["pixel_values"], captioner.encode([fitted])["pixel_values"])


def test_images_encoded_one_by_one_in_the_readers_stack_to_the_processors_batch(captioner):
    job = CaptionJob(captioner, encode_in_readers=True)
    job.setup()
    images = [scenes.render(scene).resize(size) for scene, size in
              zip(scenes.scenes(3, seed=6), [(333, 250), (64, 64), (40, 90)])]
    encoded = [job.read(image) for image in images]
    assert all(isinstance(e, EncodedImage) for e in encoded)
    assert torch.equal(stacked(encoded)["pixel_values"], captioner.encode(images)["pixel_values"])
    records = job.compute(encoded)
    expected = caption(captioner, images)
    assert [(r["text"], r["finish_reason"]) for r in records] == [(c.text, c.finish_reason.value) for c in expected]


def test_transcribe_job_matches_the_transcribe_task(tmp_path):
    recognizer = mmgen.load("demo/asr")
    for name in ("command.wav", "numbers.flac"):
        shutil.copy(SAMPLES_DIR / name, tmp_path / name)
    (tmp_path / "empty.wav").write_bytes(b"")
    run(TranscribeJob(recognizer), tmp_path, tmp_path / "out.jsonl", progress=False)
    records = {r["id"]: r for r in read_records(tmp_path / "out.jsonl")}
    assert "empty.wav" in records["empty.wav"]["error"] and records["empty.wav"]["text"] is None
    for name in ("command.wav", "numbers.flac"):
        expected = transcribe(recognizer, SAMPLES_DIR / name)
        record = records[name]
        assert record["text"] == expected.text and record["error"] is None
        assert record["duration"] == pytest.approx(expected.duration)
        assert [s["text"] for s in record["segments"]] == [s.text for s in expected.segments]
    assert "set a timer for five minutes" in records["command.wav"]["text"]


def test_translate_job_over_a_text_file_matches_the_translate_task(tmp_path):
    translator = mmgen.load("demo/translate")
    source = SAMPLES_DIR / "sentences_en.txt"
    lines = source.read_text(encoding="utf-8").splitlines()
    run(TranslateJob(translator), source, tmp_path / "fr.jsonl", batch_size=4, progress=False)
    records = {r["id"]: r for r in read_records(tmp_path / "fr.jsonl")}
    expected = translate(translator, lines)
    assert [records[f"sentences_en.txt:{n}"]["text"] for n in range(1, len(lines) + 1)] == [t.text for t in expected]
    assert records["sentences_en.txt:1"]["source"] == lines[0]


def test_model_jobs_pickle_without_their_model_when_named():
    import pickle

    job = TranslateJob("demo/translate", num_beams=2)
    job.setup()
    again = pickle.loads(pickle.dumps(job))
    assert again.generator is None and again.options == {"num_beams": 2}
    assert repr(job) == "TranslateJob('demo/translate', num_beams=2)"


def test_a_batch_prepared_ahead_gives_each_image_its_row_and_the_same_captions(captioner):
    job = CaptionJob(captioner, encode_in_readers=False)
    job.setup()
    images = [scenes.render(scene).resize(size) for scene, size in
              zip(scenes.scenes(3, seed=8), [(120, 90), (64, 64), (300, 500)])]
    read = [job.read(image) for image in images]
    prepared = job.prepare(read)
    assert all(isinstance(p, EncodedImage) for p in prepared)
    assert torch.equal(stacked(prepared)["pixel_values"], captioner.encode(images)["pixel_values"])
    assert job.compute(prepared) == job.compute(read)
    with_prompt = CaptionJob(captioner, prompt="a picture of")
    with_prompt.setup()
    assert with_prompt.prepare(images) == images  # processed with its text at compute


def test_a_transcription_batch_prepared_ahead_has_each_recordings_own_features_and_the_same_records():
    from mmgen.families.whisper_prompt import encode
    from mmgen.tasks.speech_recognition.features import whisper_features

    from mmgen.inputs.files import load_audio

    job = TranscribeJob("demo/asr")
    job.setup()
    command, numbers = (load_audio(SAMPLES_DIR / name, job.rate) for name in ("command.wav", "numbers.flac"))
    longer = numpy.concatenate([numbers, command, numbers])  # past demo/asr's 5 s window: its own long-form path
    read = [Recording(f"r{i}", w) for i, w in enumerate([command, numbers[: job.rate // 2], longer, numbers])]
    assert len(longer) > 5 * job.rate
    prepared = job.prepare(read)
    for recording, ready in zip(read, prepared):
        assert torch.equal(ready.prepared.features, whisper_features(job.generator, recording.waveform))
    fits = [prepared[i].prepared for i in (0, 1, 3)]  # encoded ahead together, as decoding batches them
    assert prepared[2].prepared.encoded is None and [f.encoded.row for f in fits] == [0, 1, 2]
    assert torch.equal(fits[0].encoded.batch, encode(job.generator.model, torch.cat([f.features for f in fits])))
    assert job.compute(prepared) == job.compute(read)
