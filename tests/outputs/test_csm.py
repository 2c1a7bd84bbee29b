"""CSM through mmgen's loop: backbone then depth decoder per frame; codes and audio equal ``model.generate``'s."""

import pytest
import torch
from tiny_codebook_models import CSM_CODEBOOKS as K
from tiny_codebook_models import CSM_EOS, CSM_PAD, CSM_TEXT_PAD, csm
from transformers import LogitsProcessorList

from mmgen.api import generate, stream
from mmgen.core.frames import CodebookStep, FinishReason
from mmgen.core.options import OptionError
from mmgen.families import family_for


@pytest.fixture(scope="module")
def model():
    return csm()


@pytest.fixture
def prompts():
    """Two left-padded text prompts (rows, 6), row 1 two tokens shorter."""
    ids = torch.randint(1, 50, (2, 6), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    ids[1, :2], mask[1, :2] = CSM_TEXT_PAD, 0
    return ids, mask


def test_the_csm_family_drives_it(model):
    assert family_for(model).name == "csm"


def test_greedy_codes_equal_model_generate(model, prompts):
    ids, mask = prompts
    expected = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False)
    result = generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False)
    assert expected.shape == result.sequences.shape == (2, 8, K)
    assert torch.equal(result.sequences, expected)
    assert len(set(map(tuple, expected.reshape(-1, K).tolist()))) > 8  # frames vary: the depth decoder matters
    assert result.finish_reasons == (FinishReason.LENGTH,) * 2 and result.audio is None
    assert result.logprobs.shape == (2, 8, K) and bool((result.logprobs <= 0).all())


def test_audio_equals_generate_output_audio(model, prompts):
    ids, mask = prompts
    expected = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False, output_audio=True)
    result = generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=6, output_audio=True)
    assert [a.shape for a in result.audio] == [a.shape for a in expected] == [(192,), (192,)]
    assert all(torch.equal(a, b) for a, b in zip(result.audio, expected, strict=True))
    assert result.sampling_rate == 16000 and expected[0].abs().max() > 0


def forced_end(row: int, frame: int, reference: bool):
    """A user processor that makes ``row`` choose codebook 0 = EOS at ``frame``. transformers hands its
    processors the text prompt first, then the (rows, frames, K) codes; mmgen codebook 0's (rows, frames)."""
    def force(ids, scores):
        made = (ids.shape[1] if ids.ndim == 3 else 0) if reference else ids.shape[1]
        if made == frame:
            scores = scores.clone()
            scores[row] = -float("inf")
            scores[row, CSM_EOS] = 0.0
        return scores
    return force


@pytest.mark.parametrize("eos_token_id", [None, CSM_EOS])
def test_a_row_ends_on_an_eos_frame_and_the_rest_follows_transformers(prompts, eos_token_id):
    """The depth decoder biased to EOS (a ``depth_decoder_*`` option); row 0 picks EOS for codebook 0 at frame 2.
    With an ``eos_token_id`` the ended row gets pad frames, without one it goes on, as in transformers."""
    ids, mask = prompts
    options = dict(max_new_tokens=6, do_sample=False, depth_decoder_sequence_bias=[[[CSM_EOS], 50.0]],
                   eos_token_id=eos_token_id)
    expected = csm().generate(input_ids=ids, attention_mask=mask,  # a fresh model: generate keeps depth options
                              logits_processor=LogitsProcessorList([forced_end(0, 2, reference=True)]), **options)
    model = csm()
    result = generate(model, input_ids=ids, attention_mask=mask, logits_processor=[forced_end(0, 2, reference=False)],
                      **options)
    assert torch.equal(result.sequences, expected)
    assert result.sequences[0, 2].tolist() == [CSM_EOS] * K
    assert result.finish_reasons[0] == FinishReason.EOS and result.lengths[0] == 3
    after = result.sequences[0, 3:]
    assert bool(after.eq(CSM_PAD).all()) == (eos_token_id is not None)


def test_stream_yields_a_frame_of_k_codes_per_step(model, prompts):
    ids, mask = prompts
    steps = list(stream(model, input_ids=ids, attention_mask=mask, max_new_tokens=5))
    assert len(steps) == 5 and all(isinstance(s, CodebookStep) and s.codes.shape == (2, K) for s in steps)
    assert torch.equal(torch.stack([s.codes for s in steps], dim=1),
                       generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=5).sequences)


def test_sampling_is_seeded_in_both_stages(model, prompts):
    ids, mask = prompts
    options = dict(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=True, depth_decoder_do_sample=True)
    first, again = generate(model, seed=3, **options), generate(model, seed=3, **options)
    greedy = generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=6)
    assert torch.equal(first.sequences, again.sequences)
    assert (first.sequences[..., 1:] != greedy.sequences[..., 1:]).float().mean() > 0.5  # the depth decoder sampled


def test_options_transformers_refuses_are_refused(model, prompts):
    ids, mask = prompts
    with pytest.raises(ValueError, match="not supported for CSM"):
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, num_beams=2)
    with pytest.raises(OptionError, match="num_beams=1"):
        generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=4, num_beams=2)
    with pytest.raises(OptionError, match="depth_decoder_max_new_tokens"):
        generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=4, depth_decoder_max_new_tokens=2)
    with pytest.raises(OptionError, match="pixel_values"):
        generate(model, input_ids=ids, attention_mask=mask, pixel_values=torch.zeros(2, 3))
