"""Higgs Audio V2 through mmgen's loop: the codebook delay pattern, audio prompts, rows ending on the stream EOS."""

import pytest
import torch
from tiny_codebook_models import HIGGS_AUDIO as AUDIO
from tiny_codebook_models import HIGGS_AUDIO_BOS as AUDIO_BOS
from tiny_codebook_models import HIGGS_CODEBOOKS as K
from tiny_codebook_models import HIGGS_PAD as PAD
from tiny_codebook_models import HIGGS_STREAM_BOS as STREAM_BOS
from tiny_codebook_models import HIGGS_STREAM_EOS as STREAM_EOS
from tiny_codebook_models import higgs_audio

from mmgen.api import generate, stream
from mmgen.core.frames import CodebookStep, FinishReason
from mmgen.core.options import OptionError
from mmgen.families import family_for
from mmgen.families.higgs_audio_delay import HiggsDelayPattern


@pytest.fixture(scope="module")
def model():
    return higgs_audio(eos_gain=4.0)


def text_prompt():
    """(input_ids, attention_mask) (2, 9): left-padded text ending in the audio-out BOS; rows 0 and 1 hold 3 and
    2 audio placeholders for an audio prompt."""
    ids = torch.randint(2, 50, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    ids[1, :2], mask[1, :2] = PAD, 0
    ids[0, 2:5], ids[1, 3:5] = AUDIO, AUDIO
    ids[:, -1] = AUDIO_BOS
    return ids, mask


def audio_prompt():
    codes = torch.randint(0, 64, (2, 3, K), generator=torch.Generator().manual_seed(1))
    return {"audio_input_ids": codes, "audio_input_ids_mask": torch.tensor([[True, True, True], [True, True, False]])}


def test_the_higgs_family_drives_it(model):
    assert family_for(model).name == "higgs-audio-v2"


def test_delay_pattern_starts_and_ends_the_codebooks_one_step_apart():
    bos_id, delay_id, stream_bos, stream_eos = 9, 8, 4, 5
    rule = HiggsDelayPattern(3, 6, audio_bos_token_id=bos_id, audio_delay_token_id=delay_id, stream_bos_id=stream_bos,
                             stream_eos_id=stream_eos)
    # The text generate keeps: the prompt ends with the audio BOS; a frame's id is the delay id once it has an EOS.
    texts = [[1, 2, bos_id], [1, 2, bos_id, 7], [1, 2, bos_id, 7, 7], [1, 2, bos_id, 7, 7, 7],
             [1, 2, bos_id, 7, 7, 7, delay_id], [1, 2, bos_id, 7, 7, 7, delay_id, delay_id]]
    chosen = [rule(torch.tensor([text]), torch.zeros(1, 3 * 6)).argmax(-1).tolist() for text in texts]
    b, e = stream_bos, stream_eos
    assert chosen == [[b, b, b], [0, b, b], [0, 0, b], [0, 0, 0], [e, 0, 0], [e, e, 0]]


@pytest.mark.parametrize("with_audio", [False, True])
@pytest.mark.parametrize("new_frames", [4, 40])
def test_greedy_codes_equal_model_generate(model, with_audio, new_frames):
    ids, mask = text_prompt()
    extra = audio_prompt() if with_audio else {}
    if not with_audio:
        ids = torch.where(ids == AUDIO, 7, ids)
    expected = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_frames, do_sample=False, **extra)
    result = generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=new_frames, do_sample=False, **extra)
    assert result.sequences.shape == expected.shape and torch.equal(result.sequences, expected)
    assert result.prompt_length == (3 if with_audio else 0)
    new = result.new_tokens
    assert bool((new[:, 0, :] == STREAM_BOS).all())  # every codebook starts at the stream BOS
    if new_frames == 4:  # too few frames for all K codebooks to reach the stream EOS
        assert result.finish_reasons == (FinishReason.LENGTH,) * 2
    else:  # the rows end on their own, on the stream EOS in every codebook
        assert result.finish_reasons == (FinishReason.EOS,) * 2 and result.lengths.tolist() != [40, 40]
        for row in range(2):
            assert bool((new[row, int(result.lengths[row]) - 1] == STREAM_EOS).all())


def test_stream_yields_k_codes_per_frame(model):
    ids, mask = text_prompt()
    steps = list(stream(model, input_ids=ids, attention_mask=mask, max_new_tokens=5))
    assert len(steps) == 5 and all(isinstance(s, CodebookStep) and s.codes.shape == (2, K) for s in steps)
    assert [int((s.codes[0] == STREAM_BOS).sum()) for s in steps[:K]] == [K, K - 1, K - 2, K - 3]


def test_repetition_aware_sampling_redraws_repeated_codes_seeded(model):
    ids, mask = text_prompt()
    options = dict(input_ids=ids, attention_mask=mask, max_new_tokens=12, ras_win_len=4, ras_win_max_num_repeat=1)
    redrawn, again = generate(model, seed=2, **options), generate(model, seed=2, **options)
    plain = generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=12)
    assert torch.equal(redrawn.sequences, again.sequences) and not torch.equal(redrawn.sequences, plain.sequences)
    assert bool((redrawn.sequences[:, 0] == STREAM_BOS).all())  # the stream's own codes are never redrawn


def test_options_transformers_refuses_are_refused(model):
    ids, mask = text_prompt()
    with pytest.raises(ValueError, match="not supported for HiggsAudioV2"):
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, num_beams=2)
    with pytest.raises(ValueError, match="not compatible"):
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, repetition_penalty=1.3)
    with pytest.raises(OptionError, match="num_beams=1"):
        generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=4, num_beams=2)
    with pytest.raises(OptionError, match="repetition_penalty"):
        generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=4, repetition_penalty=1.3)
