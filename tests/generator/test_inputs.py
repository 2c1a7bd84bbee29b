"""Raw inputs of every kind through a Generator give the tokens of the manual path: processor + model.generate.

Strings and chat messages (decoder-only and encoder-decoder), images in every form (path, bytes,
PIL, numpy, torch, datasets dicts), image + prompt pairs, audio in every form (path, bytes,
numpy / torch with ``sampling_rate=``, datasets dicts); errors name the input; streamed text
equals generated text.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import tiny_vision as tv
import torch
import torchaudio
import transformers as T
from tiny_models import EOS, PAD
from tiny_tokenizers import byte_level_bpe, metaspace_bpe, model_for

from mmgen.generator import Generator, load
from mmgen.inputs.adapters import Components, as_batch
from mmgen.inputs.errors import InputError

T.utils.logging.disable_progress_bar()

NEW = 8
TEXTS = ["the cat sat on the mat and", "hello", "one two three"]
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
CHATS = [[{"role": "user", "content": "hello there"}],
         [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the end of the road"}]]
RATE = 16_000


def assert_rows(results, expected_new: torch.Tensor, tokenizer, pad: int = PAD):
    """Each result's tokens are its row of ``expected_new`` up to the row's end; only padding follows."""
    assert len(results) == expected_new.shape[0]
    for result, row in zip(results, expected_new):
        n = len(result.tokens)
        assert result.tokens.tolist() == row[:n].tolist()
        assert bool((row[n:] == pad).all())
        assert result.text == tokenizer.decode(result.tokens, skip_special_tokens=True)
        if result.finish_reason.value == "eos":
            assert result.tokens[-1].item() == EOS


def left_padded(rows: list[list[int]]) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([[PAD] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return {"input_ids": ids, "attention_mask": mask}


# -- text ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat_lm(tmp_path_factory):
    """(generator loaded from a directory, model, tokenizer): GPT-2 with a chat template."""
    tokenizer = byte_level_bpe()
    tokenizer.chat_template = CHAT_TEMPLATE
    model = model_for(tokenizer, "gpt2")
    path = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return load(path, device="cpu", max_new_tokens=NEW), model, tokenizer


def test_strings_decoder_only(chat_lm):
    generator, model, tokenizer = chat_lm
    inputs = tokenizer(TEXTS, return_tensors="pt", padding=True, padding_side="left")
    expected = model.generate(**inputs, max_new_tokens=NEW, do_sample=False)
    results = generator.generate(TEXTS)
    assert_rows(results, expected[:, inputs.input_ids.shape[1]:], tokenizer)
    assert [r.input_index for r in results] == [0, 1, 2]
    # One string is a batch of one.
    assert generator.generate(TEXTS[1])[0].tokens.tolist() == results[1].tokens.tolist()


def test_chat_messages_one_conversation_a_batch_and_mixed(chat_lm):
    generator, model, tokenizer = chat_lm
    ids = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
           for c in CHATS]
    inputs = left_padded([list(i) for i in ids])
    expected = model.generate(**inputs, max_new_tokens=NEW, do_sample=False)[:, inputs["input_ids"].shape[1]:]
    assert_rows(generator.generate(CHATS), expected, tokenizer)
    single = generator.generate(CHATS[0])  # a list of message dicts is one conversation
    assert len(single) == 1 and single[0].tokens.tolist() == generator.generate(CHATS)[0].tokens.tolist()
    # A string and a conversation in one batch.
    rows = [tokenizer(TEXTS[0])["input_ids"], list(ids[1])]
    inputs = left_padded(rows)
    expected = model.generate(**inputs, max_new_tokens=NEW, do_sample=False)[:, inputs["input_ids"].shape[1]:]
    assert_rows(generator.generate([TEXTS[0], CHATS[1]]), expected, tokenizer)


def test_strings_encoder_decoder_with_beams():
    tokenizer = metaspace_bpe()
    model = model_for(tokenizer, "bart")
    generator = Generator(model, tokenizer)
    inputs = tokenizer(TEXTS, return_tensors="pt", padding=True, padding_side="right")
    options = dict(max_new_tokens=NEW, num_beams=3, num_return_sequences=2)
    expected = model.generate(**inputs, do_sample=False, **options)
    results = generator.generate(TEXTS, **options)
    assert_rows(results, expected[:, 1:], tokenizer)
    assert [r.input_index for r in results] == [0, 0, 1, 1, 2, 2]
    assert all(r.score is not None for r in results)


def test_stream_joins_to_the_generated_text(chat_lm):
    generator, _, _ = chat_lm
    results = generator.generate(TEXTS, max_new_tokens=12)
    texts = [""] * len(TEXTS)
    finished = {}
    for delta in generator.stream(TEXTS, max_new_tokens=12):
        texts[delta.row] += delta.text
        if delta.finished:
            finished[delta.row] = delta.finish_reason
    assert texts == [r.text for r in results]
    assert finished == {i: r.finish_reason for i, r in enumerate(results)}
    with pytest.raises(TypeError, match="Beam search"):
        generator.stream(TEXTS, num_beams=2)


# -- images -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    """(generator loaded from a directory, model, image processor): ViT + GPT-2, no processor class."""
    model = tv.vision_encoder_decoder()
    image_processor = T.ViTImageProcessorPil()
    path = tmp_path_factory.mktemp("ved")
    model.save_pretrained(path)
    image_processor.save_pretrained(path)
    byte_level_bpe().save_pretrained(path)
    return load(path, device="cpu", max_new_tokens=NEW), model, image_processor


def image_forms(images, tmp_path) -> list:
    """images[i % 3] in six forms: path, bytes, PIL, numpy (H, W, C), torch (C, H, W), datasets dict."""
    encoded = []
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
        (tmp_path / f"{i}.png").write_bytes(buffer.getvalue())
    return [str(tmp_path / "0.png"), encoded[1], images[2], np.asarray(images[0]),
            torch.from_numpy(np.asarray(images[1]).copy()).permute(2, 0, 1), {"bytes": encoded[2], "path": None}]


def test_images_in_every_form(captioner, tmp_path):
    generator, model, image_processor = captioner
    images = tv.images()
    pixel_values = image_processor(images=images * 2, return_tensors="pt").pixel_values
    expected = model.generate(pixel_values=pixel_values, max_new_tokens=NEW, do_sample=False)[:, 1:]
    results = generator.generate(image_forms(images, tmp_path))
    assert_rows(results, expected, generator.tokenizer)
    assert len({tuple(r.tokens.tolist()) for r in results}) >= 2  # the captions depend on the image
    assert [r.tokens.tolist() for r in results[:3]] == [r.tokens.tolist() for r in results[3:]]


def test_image_and_prompt_pairs():
    """BLIP: a dict and a tuple pair through the processor, as processor(images, text, padding=True)."""
    processor = T.BlipProcessor(image_processor=T.BlipImageProcessorPil(), tokenizer=tv.bert_tokenizer())
    model = tv.blip()
    images = tv.images()
    prompts = ["a picture of", "a photo of the cat on", "what is this ?"]
    inputs = processor(images=images, text=prompts, return_tensors="pt", padding=True)
    expected = model.generate(**{k: v.clone() for k, v in inputs.items()}, max_new_tokens=NEW, do_sample=False)
    generator = Generator(model, processor)
    items = [{"image": images[0], "prompt": prompts[0]}, (images[1], prompts[1]), {"image": images[2], "prompt": prompts[2]}]
    results = generator.generate(items, max_new_tokens=NEW)  # BLIP stops at [SEP]
    prompt_length = inputs["input_ids"].shape[1] - 1  # BLIP drops the prompt's last column
    for result, row in zip(results, expected[:, prompt_length:]):
        assert result.tokens.tolist() == row[:len(result.tokens)].tolist()
    assert results[0].finish_reason.value == "eos" and results[0].tokens[-1].item() == tv.SEP


# -- audio --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def transcriber():
    """(generator, model, feature extractor): Speech2Text with a fast tokenizer for decoding."""
    tokenizer = metaspace_bpe()
    config = T.Speech2TextConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=256,
        max_target_positions=64, conv_channels=16, num_conv_layers=2, pad_token_id=PAD, bos_token_id=1,
        eos_token_id=EOS, decoder_start_token_id=EOS, init_std=1.0)
    torch.manual_seed(0)
    model = T.Speech2TextForConditionalGeneration(config).eval()
    feature_extractor = T.Speech2TextFeatureExtractor()
    return Generator(model, Components.from_parts(feature_extractor, tokenizer)), model, feature_extractor


def chirps() -> list[np.ndarray]:
    out = []
    for seconds, hz in ((0.5, 300.0), (0.3, 1200.0), (0.8, 80.0)):
        t = np.arange(int(RATE * seconds)) / RATE
        out.append((0.5 * np.sin(2 * np.pi * hz * t * (1 + t))).astype(np.float32))
    return out


def manual_transcripts(model, feature_extractor, waves) -> torch.Tensor:
    inputs = feature_extractor(waves, sampling_rate=RATE, padding=True, return_tensors="pt")
    return model.generate(**inputs, max_new_tokens=NEW, do_sample=False)[:, 1:]


def test_audio_in_every_form(transcriber, tmp_path):
    generator, model, feature_extractor = transcriber
    waves = chirps()
    encoded = []
    for i, wave in enumerate(waves):
        sf.write(tmp_path / f"{i}.wav", wave, RATE, subtype="FLOAT")  # float WAV: the samples come back exactly
        encoded.append((tmp_path / f"{i}.wav").read_bytes())
    items = [str(tmp_path / "0.wav"), encoded[1], waves[2], torch.from_numpy(waves[0]),
             {"array": waves[1], "sampling_rate": RATE}, {"path": str(tmp_path / "2.wav"), "bytes": None}]
    expected = manual_transcripts(model, feature_extractor, waves * 2)
    results = generator.generate(items, sampling_rate=RATE, max_new_tokens=NEW)
    assert_rows(results, expected, generator.tokenizer)
    assert len({tuple(r.tokens.tolist()) for r in results}) >= 2


def test_audio_at_another_rate_is_resampled(transcriber):
    generator, model, feature_extractor = transcriber
    low = [w[::2].copy() for w in chirps()]  # 8 kHz arrays
    resampled = [torchaudio.functional.resample(torch.from_numpy(w), 8_000, RATE).numpy() for w in low]
    expected = manual_transcripts(model, feature_extractor, resampled)
    assert_rows(generator.generate(low, sampling_rate=8_000, max_new_tokens=NEW), expected, generator.tokenizer)


# -- batching and errors ------------------------------------------------------------------------------

def test_what_is_one_input_and_what_is_a_batch():
    image = tv.images()[0]
    assert as_batch("text") == ["text"]
    assert as_batch(["a", "b"]) == ["a", "b"]
    assert as_batch(CHATS[0]) == [CHATS[0]]
    assert as_batch(CHATS) == CHATS
    assert as_batch((image, "a prompt")) == [(image, "a prompt")]
    assert len(as_batch(np.zeros(16))) == 1
    with pytest.raises(ValueError, match="empty"):
        as_batch([])


@pytest.mark.parametrize("name", ["bart", "marian", "mbart"])
def test_a_text_longer_than_the_encoder_positions_is_named(name):
    """BART / Marian / mBART index a fixed position table (128 here): a longer input is an InputError naming
    it, not an IndexError from inside the model; one that fits runs as before."""
    tokenizer = byte_level_bpe()
    generator = Generator(model_for(tokenizer, name), tokenizer)
    words = "the cat sat on the mat and " * 40
    fits = tokenizer.decode(tokenizer(words, add_special_tokens=False).input_ids[:100])
    assert len(generator.generate([fits, "hello"], max_new_tokens=2)) == 2
    with pytest.raises(InputError, match=r"input #1: the text is \d+ tokens long and this model reads at most 128"):
        generator.generate([fits, words], max_new_tokens=2)


def test_relative_positions_set_no_input_limit():
    tokenizer = byte_level_bpe()
    generator = Generator(model_for(tokenizer, "t5"), tokenizer)
    long = "the cat sat on the mat and " * 40
    assert len(tokenizer(long).input_ids) > 128
    assert len(generator.generate([long], max_new_tokens=2)) == 1


def test_errors_name_the_input(chat_lm, captioner, transcriber, tmp_path):
    text, _, _ = chat_lm
    with pytest.raises(InputError, match=r"input #1 .*a text model takes a string or chat messages"):
        text.generate(["fine", 5])
    no_template = Generator(text.model, byte_level_bpe())
    with pytest.raises(InputError, match=r"input #0: chat messages need a chat template"):
        no_template.generate(CHATS[0])
    images, _, _ = captioner
    missing = str(tmp_path / "missing.png")
    with pytest.raises(InputError, match=rf"input #1 \('{missing}'\): no such file"):
        images.generate([tv.images()[0], missing])
    with pytest.raises(InputError, match="takes no text prompt"):
        images.generate([(tv.images()[0], "a prompt")])
    audio, _, _ = transcriber
    with pytest.raises(InputError, match=r"input #0 .*sampling rate.*sampling_rate=16000"):
        audio.generate(chirps()[0])
    with pytest.raises(InputError, match=r"input #1 \('.*nope.wav'\): no such file"):
        audio.generate([chirps()[0], str(tmp_path / "nope.wav")], sampling_rate=RATE)
