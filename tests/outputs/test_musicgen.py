"""MusicGen through mmgen's loop: delay pattern, guidance, multi-codebook frames; parity with ``model.generate``."""

import pytest
import torch
import transformers as T

from mmgen.api import generate, stream
from mmgen.core.frames import CodebookStep
from mmgen.core.options import OptionError
from mmgen.outputs.codebooks import delay_pattern, make_guidance, undelay

PAD = 64


@pytest.mark.parametrize("stereo", [False, True])
def test_delay_pattern_equals_transformers(stereo):
    config = T.MusicgenDecoderConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     ffn_dim=8, num_codebooks=4, audio_channels=2 if stereo else 1, pad_token_id=PAD)
    decoder = T.MusicgenForCausalLM(config)
    start = torch.full((2 * 4, 1), PAD)
    _, mask = decoder.build_delay_pattern_mask(start, pad_token_id=PAD, max_length=11)
    assert torch.equal(delay_pattern(4, 11, PAD, stereo=stereo).repeat(2, 1), mask)


def test_undelay_aligns_each_codebooks_free_columns():
    pattern = delay_pattern(3, 6, PAD)  # free: codebook 0 cols 1-3, 1 cols 2-4, 2 cols 3-5
    values = torch.arange(6).repeat(3, 1)
    assert undelay(values, pattern, rows=1).tolist() == [[[1, 2, 3], [2, 3, 4], [3, 4, 5]]]


def test_guidance_folds_the_unconditional_half():
    scores = torch.tensor([[1.0, 2.0], [0.0, 5.0], [1.0, 0.0], [0.0, 1.0]])  # two conditional rows, then two
    guided = make_guidance(3.0)(None, scores)
    assert guided.tolist() == [[1.0, 6.0], [0.0, 13.0]]


@pytest.fixture
def prompts():
    ids = torch.randint(2, 50, (2, 5), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 3:] = 0
    return ids, mask


def reference_codes(model, scores, rows, max_length):
    """Greedy codes from transformers' processed scores: argmax per step, delay pattern applied, pads dropped."""
    steps = torch.stack([s.argmax(-1) for s in scores], dim=1)
    sequence = torch.cat([torch.full((steps.shape[0], 1), PAD), steps], dim=1)
    _, mask = model.decoder.build_delay_pattern_mask(sequence[:, :1], pad_token_id=PAD, max_length=max_length)
    sequence = model.decoder.apply_delay_pattern_mask(sequence, mask)
    return sequence[sequence != PAD].reshape(rows, model.decoder.num_codebooks, -1)


@pytest.mark.parametrize("guidance_scale", [None, 3.0])
def test_greedy_codes_and_audio_equal_model_generate(music, prompts, guidance_scale):
    ids, mask = prompts
    expected = music.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                              guidance_scale=guidance_scale, return_dict_in_generate=True, output_scores=True)
    result = generate(music, input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                      guidance_scale=guidance_scale)
    codes = reference_codes(music, expected.scores, 2, max_length=13)
    assert result.sequences.shape == codes.shape == (2, 4, 9)
    assert torch.equal(result.sequences, codes)
    assert torch.equal(torch.stack(result.audio), expected.sequences)  # transformers puts the audio in .sequences
    assert result.sampling_rate == 16000
    assert expected.sequences.abs().max() > 0.05


def test_guidance_changes_the_codes(music, prompts):
    ids, mask = prompts
    plain = generate(music, input_ids=ids, attention_mask=mask, max_new_tokens=12)
    guided = generate(music, input_ids=ids, attention_mask=mask, max_new_tokens=12, guidance_scale=3.0)
    assert (plain.sequences != guided.sequences).float().mean() > 0.3


def test_stream_yields_k_delayed_codes_per_frame(music, prompts):
    ids, mask = prompts
    steps = list(stream(music, input_ids=ids, attention_mask=mask, max_new_tokens=8))
    assert len(steps) == 8 and all(isinstance(s, CodebookStep) for s in steps)
    assert steps[0].codes.shape == (2, 4)
    # Step 0 fills column 1: only codebook 0 is free; the last step fills column 8: only codebook 3 is.
    assert steps[0].codes[:, 1:].eq(PAD).all() and steps[0].codes[:, 0].ne(PAD).all()
    assert steps[-1].codes[:, :3].eq(PAD).all() and steps[-1].codes[:, 3].ne(PAD).all()


def test_too_few_steps_for_the_delay_pattern_is_an_error(music, prompts):
    ids, mask = prompts
    with pytest.raises(OptionError, match="max_new_tokens"):
        generate(music, input_ids=ids, attention_mask=mask, max_new_tokens=3)
