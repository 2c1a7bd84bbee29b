"""Bark through mmgen: semantic and coarse token stages, the fine stage, EnCodec; audio equals ``model.generate``'s."""

import pytest
import torch
from tiny_codebook_models import BARK_CODEBOOK, BARK_TEXT_LENGTH, bark
from torch.nn.utils.rnn import pad_sequence

from mmgen.api import generate, stream
from mmgen.core.frames import FinishReason, TokenStep
from mmgen.core.options import OptionError
from mmgen.families import family_for
from mmgen.families.bark import route_options


@pytest.fixture(scope="module")
def model():
    return bark()


@pytest.fixture
def text():
    """Two texts padded to the semantic stage's input length, as BarkProcessor pads them (right, masked)."""
    ids = torch.randint(0, 30, (2, BARK_TEXT_LENGTH), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 6:], mask[1, 4:] = 0, 0
    return {"input_ids": ids, "attention_mask": mask}


def voice():
    """A speaker prompt (``history_prompt``): semantic, coarse (2 codebooks) and fine (8 codebooks) histories."""
    generator = torch.Generator().manual_seed(4)
    return {"semantic_prompt": torch.randint(0, 20, (10,), generator=generator),
            "coarse_prompt": torch.randint(0, BARK_CODEBOOK, (2, 30), generator=generator),
            "fine_prompt": torch.randint(0, BARK_CODEBOOK, (8, 30), generator=generator)}


def test_the_bark_family_drives_it(model):
    assert family_for(model).name == "bark"


def test_options_are_routed_as_transformers_routes_them():
    routed = route_options({"do_sample": False, "semantic_num_beams": 2, "num_beams": 3, "fine_temperature": 0.5})
    assert routed == {"semantic": {"num_beams": 2, "do_sample": False}, "coarse": {"do_sample": False, "num_beams": 3},
                      "fine": {"temperature": 0.5, "do_sample": False, "num_beams": 3}}


@pytest.mark.parametrize("strategy", [{"do_sample": False}, {"do_sample": False, "num_beams": 3}],
                         ids=["greedy", "beam"])
@pytest.mark.parametrize("speaker", [False, True], ids=["no voice", "voice"])
def test_audio_equals_model_generate(model, text, strategy, speaker):
    extra = {"history_prompt": voice()} if speaker else {}
    expected = model.generate(**text, **strategy, **extra)
    result = generate(model, **text, **strategy, **extra)
    assert torch.equal(torch.stack(result.audio), expected)
    assert result.sequences.shape[:2] == (2, 8) and bool((result.sequences < BARK_CODEBOOK).all())
    assert result.sampling_rate == 16000 and expected.abs().max() > 0


def test_rows_end_on_their_own_and_keep_their_lengths():
    """A model whose first row ends its speech early (EOS) while the second runs to its token budget."""
    model = bark(seed=2)
    ids = torch.randint(0, 30, (2, BARK_TEXT_LENGTH), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 6:], mask[1, 4:] = 0, 0
    expected, lengths = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, return_output_lengths=True)
    result = generate(model, input_ids=ids, attention_mask=mask, return_output_lengths=True)
    assert [a.shape[0] for a in result.audio] == lengths and lengths[0] < lengths[1]
    assert torch.equal(pad_sequence(list(result.audio), batch_first=True), expected)
    assert result.finish_reasons == (FinishReason.EOS, FinishReason.LENGTH)


def test_min_eos_p_ends_the_speech_as_in_transformers(model, text):
    expected = model.generate(**text, do_sample=False, min_eos_p=0.05)
    result = generate(model, **text, min_eos_p=0.05)
    assert torch.equal(torch.stack(result.audio), expected) and result.finish_reasons == (FinishReason.EOS,) * 2


def test_stream_yields_the_token_stages_frames(model, text):
    events = list(stream(model, **text))
    assert events and all(isinstance(e, TokenStep) for e in events)
    semantic = [e for e in events if e.tokens.max() < 24]  # the semantic model's 24 output ids
    assert len(semantic) >= 12  # the semantic stage's 12 steps come first, then the coarse windows'


def test_a_length_without_a_stage_is_refused_where_transformers_fails(model, text):
    with pytest.raises(TypeError, match="multiple values"):
        model.generate(**text, max_new_tokens=5)
    with pytest.raises(OptionError, match="semantic_max_new_tokens"):
        generate(model, **text, max_new_tokens=5)
    with pytest.raises(OptionError, match="num_beams"):  # a stage's options are checked before any stage runs
        generate(model, **text, coarse_num_beam=2)
    shorter = generate(model, **text, semantic_max_new_tokens=5)
    assert torch.equal(torch.stack(shorter.audio), model.generate(**text, do_sample=False, semantic_max_new_tokens=5))


def test_fine_sampling_is_seeded(model, text):
    first = generate(model, **text, fine_temperature=0.7, fine_seed=3)
    again = generate(model, **text, fine_temperature=0.7, fine_seed=3)
    greedy = generate(model, **text)
    assert torch.equal(first.sequences, again.sequences)
    assert torch.equal(first.sequences[:, :2], greedy.sequences[:, :2])  # the coarse codebooks do not change
    assert not torch.equal(first.sequences[:, 2:], greedy.sequences[:, 2:])
