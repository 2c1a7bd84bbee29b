"""MusicGen Melody through mmgen's loop: the melody and text prefix, guidance; codes and audio equal ``generate``'s."""

import pytest
import torch
from tiny_codebook_models import CODEBOOK_VOCAB as PAD
from tiny_codebook_models import musicgen_melody

from mmgen.api import generate, stream
from mmgen.core.frames import CodebookStep
from mmgen.core.options import OptionError
from mmgen.families import family_for
from mmgen.families.musicgen_melody import melody_prefix


@pytest.fixture(scope="module")
def melody():
    return musicgen_melody()


@pytest.fixture
def prompts():
    ids = torch.randint(2, 50, (2, 5), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 3:] = 0
    return ids, mask


@pytest.fixture
def chroma():
    """(2, 4, 12) a melody per row: a one-hot chroma bin per frame, as the feature extractor gives."""
    bins = torch.tensor([[0, 4, 7, 4], [2, 2, 9, 11]])
    return torch.nn.functional.one_hot(bins, 12).float()


def reference_codes(model, scores, rows, max_length):
    """Greedy codes from transformers' processed scores: argmax per step, delay pattern applied, pads dropped."""
    steps = torch.stack([s.argmax(-1) for s in scores], dim=1)
    sequence = torch.cat([torch.full((steps.shape[0], 1), PAD), steps], dim=1)
    _, mask = model.decoder.build_delay_pattern_mask(sequence[:, :1], pad_token_id=PAD, max_length=max_length)
    sequence = model.decoder.apply_delay_pattern_mask(sequence, mask)
    return sequence[sequence != PAD].reshape(rows, model.decoder.num_codebooks, -1)


def test_the_melody_family_drives_it(melody):
    assert family_for(melody).name == "musicgen-melody"


def test_prefix_is_the_tiled_melody_then_the_masked_text(melody, prompts, chroma):
    ids, mask = prompts
    prefix = melody_prefix(melody, ids, mask, chroma, guided=True)
    length = melody.config.chroma_length
    assert prefix.shape == (4, length + 5, 16)
    projected = melody.audio_enc_to_dec_proj(chroma)
    assert torch.equal(prefix[:2, :4], projected) and torch.equal(prefix[:2, 4:length], projected[:, :length - 4])
    assert prefix[1, length + 3:].abs().max() == 0  # row 1's text padding is zeroed
    assert prefix[2:, length:].abs().max() == 0  # the unconditional rows have no text
    no_melody = melody.audio_enc_to_dec_proj(torch.nn.functional.one_hot(torch.tensor([0]), 12).float())
    assert torch.allclose(prefix[2:, :length], no_melody.expand(2, length, 16))


@pytest.mark.parametrize("guidance_scale", [None, 3.0])
@pytest.mark.parametrize("with_melody", [False, True])
def test_greedy_codes_and_audio_equal_model_generate(melody, prompts, chroma, guidance_scale, with_melody):
    ids, mask = prompts
    extra = {"input_features": chroma} if with_melody else {}
    expected = melody.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False,
                               guidance_scale=guidance_scale, return_dict_in_generate=True, output_scores=True, **extra)
    result = generate(melody, input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False,
                      guidance_scale=guidance_scale, **extra)
    codes = reference_codes(melody, expected.scores, 2, max_length=11)
    assert result.sequences.shape == codes.shape == (2, 4, 7)
    assert torch.equal(result.sequences, codes)
    assert torch.equal(torch.stack(result.audio), expected.sequences)  # transformers puts the audio in .sequences
    assert result.sampling_rate == 16000
    assert expected.sequences.abs().max() > 0.01


def test_the_melody_changes_the_codes(melody, prompts, chroma):
    ids, mask = prompts
    plain = generate(melody, input_ids=ids, attention_mask=mask, max_new_tokens=10)
    with_melody = generate(melody, input_ids=ids, attention_mask=mask, max_new_tokens=10, input_features=chroma)
    assert (plain.sequences != with_melody.sequences).float().mean() > 0.3


def test_stream_yields_k_delayed_codes_per_frame(melody, prompts):
    ids, mask = prompts
    steps = list(stream(melody, input_ids=ids, attention_mask=mask, max_new_tokens=8))
    assert len(steps) == 8 and all(isinstance(s, CodebookStep) for s in steps)
    assert steps[0].codes[:, 1:].eq(PAD).all() and steps[-1].codes[:, :3].eq(PAD).all()


def test_beam_search_is_refused_as_transformers_refuses_it(melody, prompts):
    ids, mask = prompts
    with pytest.raises(ValueError, match="incompatible mode"):
        melody.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, num_beams=2)
    with pytest.raises(OptionError, match="num_beams=1"):
        generate(melody, input_ids=ids, attention_mask=mask, max_new_tokens=10, num_beams=2)
