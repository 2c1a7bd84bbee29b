"""Dia through mmgen's loop: delayed channels, Dia's guidance and EOS rules; codes equal ``model.generate``'s."""

import pytest
import torch
from tiny_codebook_models import DIA_BOS, DIA_DELAYS, DIA_EOS, DIA_PAD, dia, dia_decoder_prompt

from mmgen.api import generate, stream
from mmgen.core.frames import CodebookStep, FinishReason
from mmgen.core.options import OptionError
from mmgen.families import family_for
from mmgen.families.dia_processors import DelayedEos, make_channel_filter, make_dia_guidance

C = len(DIA_DELAYS)


@pytest.fixture(scope="module")
def model():
    return dia()


@pytest.fixture
def text():
    """Two right-padded texts (rows, 7), row 1 three tokens shorter."""
    ids = torch.randint(1, 50, (2, 7), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    ids[1, 4:], mask[1, 4:] = 0, 0
    return {"input_ids": ids, "attention_mask": mask}


def audio_prompt():
    """Audio prompts of 3 and 1 frames (codes below EOS), as DiaProcessor delays them."""
    generator = torch.Generator().manual_seed(1)
    return dia_decoder_prompt([torch.randint(0, DIA_EOS, (3, C), generator=generator),
                               torch.randint(0, DIA_EOS, (1, C), generator=generator)], rows=2)


def test_the_dia_family_drives_it(model):
    assert family_for(model).name == "dia"


# -- the processors, on hand-made scores ------------------------------------------------------------

def test_guidance_is_centred_on_the_conditional_logits_and_keeps_its_top_k():
    scores = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])  # one conditional row, one unconditional
    assert make_dia_guidance(2.0, None)(None, scores).tolist() == [[3.0, 4.0, -6.0]]
    assert make_dia_guidance(2.0, 2)(None, scores).tolist() == [[1.0, 2.0, -float("inf")]]


def test_channel_filter_lets_only_channel_zero_end_and_only_when_eos_is_its_best():
    eos, inf = 2, -float("inf")
    scores = torch.tensor([[0.0, 1.0, 5.0, 9.0],   # channel 0: EOS best once pad/BOS (3) are banned
                           [0.0, 1.0, 5.0, 9.0],   # channel 1: never EOS nor above
                           [3.0, 1.0, 2.0, 0.0],   # channel 0 again (second row): EOS not best -> banned
                           [0.0, 4.0, 9.0, 9.0]])
    filtered = make_channel_filter(2, eos)(None, scores)
    assert filtered.tolist() == [[inf, inf, 5.0, inf], [0.0, 1.0, inf, inf], [3.0, 1.0, inf, inf],
                                 [0.0, 4.0, inf, inf]]


def test_delayed_eos_ends_each_channel_its_delay_after_channel_zero():
    eos, vocab = 3, 5
    rule = DelayedEos([0, 1, 2], eos, max_length=100, device="cpu")
    chosen = []
    for step in range(4):
        scores = torch.zeros(3, vocab)
        scores[:, 0] = 1.0
        if step == 1:
            scores[0, eos] = 2.0  # channel 0 picks EOS at step 1
        chosen.append(rule(torch.zeros(1, 1 + step, dtype=torch.long), scores).argmax(-1).tolist())
    assert chosen == [[0, 0, 0], [eos, 0, 0], [0, eos, 0], [0, 0, eos]]


# -- parity with model.generate ----------------------------------------------------------------------

@pytest.mark.parametrize("prompt", ["start column", "tts", "audio"])
@pytest.mark.parametrize("guidance_scale", [None, 3.0])
def test_greedy_codes_equal_model_generate(model, text, prompt, guidance_scale):
    decoder = {"start column": {}, "tts": dia_decoder_prompt(None, rows=2), "audio": audio_prompt()}[prompt]
    options = dict(max_new_tokens=14, do_sample=False, guidance_scale=guidance_scale)
    expected = model.generate(**text, **decoder, **options)
    result = generate(model, **text, **{k: v.clone() for k, v in decoder.items()}, **options)
    assert result.sequences.shape == expected.shape and torch.equal(result.sequences, expected)
    assert result.sequences.shape[2] == C


def test_rows_end_on_the_delay_diagonal_as_in_transformers(model, text):
    """Without max_new_tokens Dia gets max_length plus room for the delays; both rows end on their own."""
    decoder = dia_decoder_prompt(None, rows=2)
    expected = model.generate(**text, **decoder, max_length=40, do_sample=False)
    result = generate(model, **text, **decoder, max_length=40, do_sample=False)
    assert torch.equal(result.sequences, expected)
    assert result.finish_reasons == (FinishReason.EOS, FinishReason.EOS)
    for row in range(2):
        ended = (result.sequences[row, :, 0] == DIA_EOS).nonzero()[0, 0]
        for channel, delay in enumerate(DIA_DELAYS):  # each channel's EOS on the diagonal, pad after it
            column = result.sequences[row, :, channel]
            assert column[ended + delay] == DIA_EOS and bool(column[ended + delay + 1:].eq(DIA_PAD).all())
    assert result.lengths.tolist() == [int((result.sequences[r, :, -1] == DIA_EOS).nonzero()[0, 0]) for r in range(2)]


def test_stream_yields_the_delay_masked_codes(model, text):
    decoder = dia_decoder_prompt(None, rows=2)
    steps = list(stream(model, **text, **decoder, max_new_tokens=6))
    assert len(steps) == 6 and all(isinstance(s, CodebookStep) and s.codes.shape == (2, C) for s in steps)
    for step in steps:  # channel c is held at BOS for its first `delay` columns after the start
        column = step.index + 1
        assert [bool(step.codes[0, c] == DIA_BOS) for c in range(C)] == [column <= d for d in DIA_DELAYS]


def test_options_transformers_refuses_are_refused(model, text):
    with pytest.raises(ValueError, match="incompatible mode"):
        model.generate(**text, max_new_tokens=4, num_beams=2)
    with pytest.raises(OptionError, match="num_beams=1"):
        generate(model, **text, max_new_tokens=4, num_beams=2)
    with pytest.raises(OptionError, match="logits_processor"):
        generate(model, **text, max_new_tokens=4, logits_processor=[lambda ids, scores: scores])


def test_sampling_is_seeded(model, text):
    first = generate(model, **text, max_new_tokens=6, do_sample=True, seed=5)
    again = generate(model, **text, max_new_tokens=6, do_sample=True, seed=5)
    greedy = generate(model, **text, max_new_tokens=6)
    assert torch.equal(first.sequences, again.sequences) and not torch.equal(first.sequences, greedy.sequences)
