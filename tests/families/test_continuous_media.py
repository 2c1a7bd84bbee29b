"""Continuous batching of speech and images: Whisper windows and VisionEncoderDecoder captions.

As in tests/core/test_continuous.py: a stream through a batch of 2, rows finishing at different
steps, each input's tokens equal to ``mmgen.generate`` on it alone and to ``model.generate``
(tokens, not logits: the padding around a row changes float32 rounding; these seeded models and
inputs have no near tie that it could flip). Whisper's inputs differ in language, prompt
(``prompt_ids`` make a longer decoder prompt, left-padded in the batch) and timestamps, so rows
join with decoder prompts of different lengths; each keeps its no-speech probability and average
log-prob. Models that prepare their own inputs every step (a VLM's image tokens) are refused.
"""

from __future__ import annotations

import pytest
import tiny_vision as tv
import torch
import transformers as T
from test_whisper import PROMPT, drop_in, tiny_whisper
from tiny_speech import RATE, audio

import mmgen


@pytest.fixture(scope="module")
def windows() -> torch.Tensor:
    """(6, 80, 3000) features of 2-7 s of synthetic audio."""
    clips = [audio(seconds, seed) for seed, seconds in enumerate((3, 7, 2, 5, 4, 6))]
    return T.WhisperFeatureExtractor()(clips, sampling_rate=RATE, return_tensors="pt").input_features


def test_whisper_windows_decode_as_alone(windows):
    model = tiny_whisper()
    calls = [{"language": "en"}, {"language": "fr", "prompt_ids": PROMPT}, {"language": "de", "max_new_tokens": 5},
             {"language": "fr", "return_timestamps": True}, {"language": "en", "task": "translate"}, {}]
    items = [{"input_features": windows[i: i + 1], "max_new_tokens": 20, **call} for i, call in enumerate(calls)]
    results = dict(mmgen.generate_many(model, items, batch_size=2))
    ended = set()
    for index, item in enumerate(items):
        alone, got = mmgen.generate(model, **item), results[index]
        assert torch.equal(got.sequences, alone.sequences) and torch.equal(got.prompt_ids, alone.prompt_ids)
        assert got.finish_reasons == alone.finish_reasons
        torch.testing.assert_close(got.no_speech_probs, alone.no_speech_probs)
        torch.testing.assert_close(got.avg_logprobs, alone.avg_logprobs, atol=1e-5, rtol=1e-4)
        reference = model.generate(**item, force_unique_generate_call=True)
        assert torch.equal(got.sequences, drop_in(reference, got.prompt_ids.shape[1])), f"input {index}"
        ended.add(int(got.lengths[0]))
    assert len(ended) >= 3, "rows should finish at different steps"


def test_whisper_windows_are_prefilled_in_groups(windows):
    """Windows with one decoder prompt length stack: six windows through a batch of 3 run two encoder
    forwards of three; each keeps its own tokens and no-speech probability."""
    model = tiny_whisper()
    encoded = []
    model.get_encoder().register_forward_hook(lambda module, args, output: encoded.append(output[0].shape[0]))
    items = [{"input_features": windows[i: i + 1], "language": "en", "max_new_tokens": 4 + 3 * i} for i in range(6)]
    results = dict(mmgen.generate_many(model, items, batch_size=3))
    assert encoded == [3, 3]
    for index, item in enumerate(items):
        alone, got = mmgen.generate(model, **item), results[index]
        assert torch.equal(got.sequences, alone.sequences), f"input {index}"
        torch.testing.assert_close(got.no_speech_probs, alone.no_speech_probs)


def test_captions_decode_as_alone():
    model = tv.vision_encoder_decoder()
    sizes = ((80, 60), (50, 90), (64, 64), (90, 40), (40, 70))
    pixels = T.ViTImageProcessorPil()(images=tv.images(sizes, seed=1), return_tensors="pt").pixel_values
    items = [{"pixel_values": pixels[i: i + 1], "max_new_tokens": limit} for i, limit in enumerate((12, 3, 9, 5, 14))]
    results = dict(mmgen.generate_many(model, items, batch_size=2))
    for index, item in enumerate(items):
        got = results[index]
        assert torch.equal(got.sequences, mmgen.generate(model, **item).sequences)
        assert torch.equal(got.sequences, model.generate(**item, do_sample=False)), f"input {index}"
    assert len({tuple(r.new_tokens[0, :3].tolist()) for r in results.values()}) >= 3, "captions ignore the image"


def test_a_model_that_prepares_its_own_inputs_is_refused():
    model = tv.llava()
    ids = torch.tensor([[tv.BOS] + [tv.IMAGE_TOKEN] * tv.llava_image_tokens(model) + [7, 8]])
    pixels = T.CLIPImageProcessorPil()(images=tv.images()[:1], return_tensors="pt").pixel_values
    with pytest.raises(mmgen.OptionError, match="prepares its own inputs"):
        list(mmgen.generate_many(model, [{"input_ids": ids, "pixel_values": pixels, "max_new_tokens": 3}]))
