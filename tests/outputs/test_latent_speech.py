"""Pocket TTS and Gradium Phonon TTS: continuous latents from a flow head."""

import pytest
import tiny_audio

from mmgen.api import generate
from mmgen.core.options import OptionError

KINDS = ("pocket_tts", "gradium_phonon_tts")


@pytest.mark.parametrize("kind", KINDS)
def test_refused_instead_of_decoding_the_wrong_head(kind):
    model = tiny_audio.latent_tts(kind)
    ids, mask = tiny_audio.latent_tts_prompts(model)
    with pytest.raises(OptionError, match=f"{type(model).__name__}.*not supported"):
        generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=4)
