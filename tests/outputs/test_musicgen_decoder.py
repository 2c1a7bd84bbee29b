"""MusicGen's and MusicGen Melody's decoders alone: code prompts under the delay pattern; codes equal ``generate``'s."""

import pytest
import torch
from tiny_codebook_models import CODEBOOK_VOCAB as PAD
from tiny_codebook_models import musicgen_decoder

from mmgen.api import generate
from mmgen.core.options import OptionError
from mmgen.families import family_for
from mmgen.outputs.codebooks import delay_prompt


def code_prompt(columns: int, seed: int = 0) -> torch.Tensor:
    """(2 rows * 4 codebooks, columns) codes, column 0 the start (pad) id."""
    ids = torch.randint(0, PAD, (8, columns), generator=torch.Generator().manual_seed(seed))
    ids[:, 0] = PAD
    return ids


@pytest.mark.parametrize("stereo", [False, True])
@pytest.mark.parametrize("columns", [1, 3])
def test_delay_prompt_equals_build_delay_pattern_mask(stereo, columns):
    decoder = musicgen_decoder(stereo=stereo)
    prompt = code_prompt(columns)
    expected_prompt, expected_pattern = decoder.build_delay_pattern_mask(prompt, pad_token_id=PAD, max_length=12)
    delayed, pattern = delay_prompt(prompt, 4, 12, PAD, stereo=stereo)
    assert torch.equal(pattern, expected_pattern) and torch.equal(delayed, expected_prompt)


@pytest.mark.parametrize("melody", [False, True])
def test_the_decoder_family_drives_both(melody):
    assert family_for(musicgen_decoder(melody)).name == "musicgen-decoder"


@pytest.mark.parametrize("melody", [False, True])
@pytest.mark.parametrize("columns", [1, 3])
@pytest.mark.parametrize("guidance_scale", [None, 3.0])
@pytest.mark.parametrize("conditioned", [False, True])
def test_greedy_codes_equal_model_generate(melody, columns, guidance_scale, conditioned):
    if conditioned and guidance_scale and not melody:
        pytest.skip("transformers' MusicGen decoder does not double its conditioning for guidance: generate fails")
    decoder = musicgen_decoder(melody)
    prompt, mask = code_prompt(columns), torch.ones(2, columns, dtype=torch.long)
    states = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(2))
    extra = {"encoder_hidden_states": states} if conditioned else {}
    expected = decoder.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=10, do_sample=False,
                                num_return_sequences=1, guidance_scale=guidance_scale, **extra)
    result = generate(decoder, input_ids=prompt, attention_mask=mask, max_new_tokens=10, guidance_scale=guidance_scale,
                      **extra)
    assert result.sequences.shape == expected.shape == (2, 4, 6 + columns)
    assert torch.equal(result.sequences, expected)
    assert result.prompt_length == columns - 1 and torch.equal(result.sequences[:, 0, : columns - 1], prompt[::4, 1:])


def test_conditioning_and_guidance_change_the_codes():
    decoder = musicgen_decoder(melody=True)
    prompt = code_prompt(1)
    states = {"encoder_hidden_states": torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(2))}
    plain = generate(decoder, input_ids=prompt, max_new_tokens=10)
    conditioned = generate(decoder, input_ids=prompt, max_new_tokens=10, **states)
    guided = generate(decoder, input_ids=prompt, max_new_tokens=10, guidance_scale=3.0, **states)
    assert not torch.equal(plain.sequences, conditioned.sequences)
    assert not torch.equal(conditioned.sequences, guided.sequences)


def test_transformers_needs_a_start_id_in_the_generation_config_and_mmgen_does_not():
    """A config-built decoder has no decoder_start_token_id: transformers 5's generate fails on it (the
    checkpoints' generation_config.json sets one); mmgen starts from the pad id, as the checkpoints do."""
    bare, configured = musicgen_decoder(start_in_config=False), musicgen_decoder()
    prompt, mask = code_prompt(1), torch.ones(2, 1, dtype=torch.long)
    with pytest.raises(TypeError):
        bare.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=10, num_return_sequences=1)
    with pytest.raises(TypeError):  # MusicGen's decoder also needs num_return_sequences given
        configured.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=10)
    expected = configured.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=10, num_return_sequences=1)
    assert torch.equal(generate(bare, input_ids=prompt, attention_mask=mask, max_new_tokens=10).sequences, expected)


def test_what_transformers_refuses_is_refused():
    decoder = musicgen_decoder()
    with pytest.raises(OptionError, match="num_beams=1"):
        generate(decoder, input_ids=code_prompt(1), max_new_tokens=10, num_beams=2)
    with pytest.raises(OptionError, match="rows per input"):
        generate(decoder, input_ids=code_prompt(1)[:6], max_new_tokens=10)
