"""Pocket TTS and Gradium Phonon TTS (continuous latents from a flow head) through mmgen's loop vs
transformers' ``generate`` (the reference), on tiny random models."""

import pytest
import tiny_audio
import torch

from mmgen.api import generate, generate_many, stream
from mmgen.core.frames import FinishReason, LatentStep
from mmgen.core.options import OptionError

KINDS = ("pocket_tts", "gradium_phonon_tts")
TOL = {"rtol": 1e-4, "atol": 1e-5}
# The tiny models' end-of-speech logits drift slowly around -0.1: with this threshold the two rows of either model
# reach their end of speech frames apart, so rows leave the batch at different steps.
STOPS = {"eos_threshold": -0.09, "min_frames_before_eos": 2, "max_new_tokens": 30}


@pytest.fixture(scope="module", params=KINDS)
def model(request):
    return tiny_audio.latent_tts(request.param)


@pytest.fixture(scope="module")
def prompt(model):
    return tiny_audio.latent_tts_prompts(model)


def reference(model, prompt, global_seed=0, **options):
    ids, mask = prompt
    torch.manual_seed(global_seed)
    return model.generate(input_ids=ids, attention_mask=mask, return_dict_in_generate=True, **options)


def ours(model, prompt, global_seed=0, **options):
    ids, mask = prompt
    torch.manual_seed(global_seed)
    return generate(model, input_ids=ids, attention_mask=mask, **options)


def assert_same_latents(result, expected):
    lengths = expected.audio_latents_mask.sum(-1)
    assert result.lengths.tolist() == lengths.tolist()
    for row, latents in enumerate(result.latents):
        torch.testing.assert_close(latents, expected.audio_latents[row, : lengths[row]], **TOL)
    assert torch.equal(result.sequences, expected.sequences)


def test_greedy_latents_equal_generate_as_rows_stop_apart(model, prompt):
    options = {"do_sample": False, "frames_after_eos": torch.tensor([1, 3]), **STOPS}
    expected = reference(model, prompt, **options)
    result = ours(model, prompt, **options)
    assert_same_latents(result, expected)
    lengths = result.lengths.tolist()
    assert lengths[0] != lengths[1] and min(lengths) >= 3
    assert result.finish_reasons == (FinishReason.EOS, FinishReason.EOS)


def test_sampled_latents_equal_generate_with_the_same_global_seed(model, prompt):
    options = {"do_sample": True, "temperature": 0.7, "frames_after_eos": 2, **STOPS}
    expected = reference(model, prompt, global_seed=3, **options)
    result = ours(model, prompt, global_seed=3, **options)
    assert_same_latents(result, expected)
    greedy = ours(model, prompt, do_sample=False, frames_after_eos=2, max_new_tokens=3)
    assert not torch.allclose(result.latents[0][:3], greedy.latents[0], **TOL)  # the noise is really there


def test_seed_option_draws_what_torch_manual_seed_draws(model, prompt):
    options = {"do_sample": True, "frames_after_eos": 1, **STOPS}
    expected = reference(model, prompt, global_seed=11, **options)
    result = ours(model, prompt, global_seed=99, **{**options, "seed": 11})  # the call's seed, not the global one
    assert_same_latents(result, expected)


def test_several_sequences_per_text_equal_generate(model, prompt):
    options = {"do_sample": True, "num_return_sequences": 2, "frames_after_eos": torch.tensor([1, 2]), **STOPS}
    expected = reference(model, prompt, global_seed=5, **options)
    result = ours(model, prompt, global_seed=5, **options)
    assert len(result.latents) == 4
    assert_same_latents(result, expected)


def test_default_length_is_the_text_budget_of_generate(model, prompt):
    options = {"do_sample": False, "eos_threshold": 1e9, "frames_after_eos": 1}  # no end of speech: the budget ends it
    expected = reference(model, prompt, **options)
    result = ours(model, prompt, **options)
    assert expected.audio_latents.shape[1] == 50  # (6 text tokens / 3 + 2) * frame rate 12.5
    assert_same_latents(result, expected)
    assert result.finish_reasons == (FinishReason.LENGTH, FinishReason.LENGTH)


def test_without_compaction_the_same_latents(model, prompt):
    options = {"do_sample": False, "frames_after_eos": torch.tensor([1, 3]), **STOPS}
    compacted = ours(model, prompt, **options)
    kept = ours(model, prompt, compact=False, **options)
    for a, b in zip(compacted.latents, kept.latents, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_drifting_flow_head_equals_generate():
    model = tiny_audio.latent_tts("pocket_tts", flow_type="drifting")
    prompt = tiny_audio.latent_tts_prompts(model)
    options = {"do_sample": True, "frames_after_eos": 1, **STOPS}
    assert_same_latents(ours(model, prompt, global_seed=2, **options), reference(model, prompt, global_seed=2, **options))


def test_stream_yields_a_latent_per_row_per_step(model, prompt):
    ids, mask = prompt
    frames = list(stream(model, input_ids=ids, attention_mask=mask, do_sample=False, frames_after_eos=1, **STOPS))
    assert all(isinstance(f, LatentStep) for f in frames)
    assert frames[0].latents.shape == (2, model.config.latent_dim)
    result = ours(model, prompt, do_sample=False, frames_after_eos=1, **STOPS)
    assert len(frames) == int(result.lengths.max())
    torch.testing.assert_close(frames[2].latents[0], result.latents[0][2], **TOL)  # normalised vs denormalised: init 0/1


@pytest.mark.parametrize(("options", "message"), [
    ({"num_beams": 3}, "beam search"),
    ({"top_k": 5}, "top_k= has nothing to act on"),
    ({"num_flow_steps": 0}, "num_flow_steps"),
    ({"frames_after_eos": torch.tensor([1, 2, 3])}, "frames_after_eos has 3 values for 2 texts"),
    ({"eos_treshold": 0.0}, "Did you mean 'eos_threshold'"),
])
def test_bad_options_are_refused_before_any_compute(model, prompt, options, message):
    ids, mask = prompt
    with pytest.raises(OptionError, match=message):
        generate(model, input_ids=ids, attention_mask=mask, **options)


def test_a_prompt_must_end_at_the_first_audio_position(model, prompt):
    ids, mask = prompt
    with pytest.raises(OptionError, match="audio_bos_token_id"):
        generate(model, input_ids=ids[:, :-1], attention_mask=mask[:, :-1], max_new_tokens=4)


def test_continuous_batching_refuses_latent_frames(model, prompt):
    ids, mask = prompt
    items = [{"input_ids": ids[:1], "attention_mask": mask[:1]}]
    with pytest.raises(OptionError, match="LatentRun frames"):
        list(generate_many(model, items, max_new_tokens=4))


def test_a_voice_prompt_equals_generate(model, prompt):
    """Voices of 3 and 2 frames (right padded, with their mask) scattered into their placeholders at the prefill."""
    ids, mask = prompt
    config = model.config
    voice_bos = getattr(config, "audio_prompt_bos_token_id", None)  # Phonon has none
    rows = []
    for row, frames in enumerate((3, 2)):
        head = ([voice_bos] if voice_bos is not None else []) + [config.audio_prompt_token_id] * frames
        rows.append(head + ids[row][mask[row].bool()].tolist())
    width = max(len(r) for r in rows)
    voiced = torch.tensor([[config.pad_token_id] * (width - len(r)) + r for r in rows])
    voiced_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    voice = torch.randn(2, 3, model.model.audio_prompt_proj.in_features, generator=torch.Generator().manual_seed(8))
    inputs = {"audio_prompt_latents": voice, "audio_prompt_latents_mask": torch.tensor([[1, 1, 1], [1, 1, 0]])}
    options = {"do_sample": False, "frames_after_eos": 1, **STOPS, **inputs}
    expected = reference(model, (voiced, voiced_mask), **options)
    result = ours(model, (voiced, voiced_mask), **options)
    assert_same_latents(result, expected)
    plain = ours(model, prompt, do_sample=False, frames_after_eos=1, **STOPS)
    assert not torch.allclose(result.latents[0][:2], plain.latents[0][:2], **TOL)  # the voice changes the speech
