"""Option routing and length rules of the families that wrap another generate: pure functions, no model.

SeamlessM4T's speech classes route ``text_`` options to their text stage; the Qwen Omni classes route
``thinker_`` options (and their ``generate``'s thinker defaults) to the thinker; Voxtral Realtime cuts
the text at the audio's end. Parity with ``model.generate`` is checked by the coverage sweep
(``tests/coverage``: seamless_m4t, qwen2_5_omni, qwen3_omni_moe, voxtral_realtime).
"""

from types import SimpleNamespace

import pytest

from mmgen.core.options import OptionError
from mmgen.families.omni import thinker_options
from mmgen.families.prepared import Call
from mmgen.families.seamless_m4t import text_stage_options
from mmgen.families.voxtral_realtime import capped_length


def test_seamless_text_options_win_over_unprefixed_ones():
    assert text_stage_options({"num_beams": 2, "text_num_beams": 4, "max_new_tokens": 9}) == {
        "num_beams": 4, "max_new_tokens": 9}


def test_seamless_speech_options_are_refused():
    with pytest.raises(OptionError, match="speech_num_beams"):
        text_stage_options({"speech_num_beams": 2})


class OmniLike:
    """A class whose generate has thinker defaults, as Qwen3-Omni's has."""

    def generate(self, input_ids=None, speaker="Ethan", thinker_max_new_tokens=1024, thinker_eos_token_id=7,
                 talker_max_new_tokens=4096, **kwargs):
        raise AssertionError("never called")


def test_omni_thinker_options_prefix_then_defaults_then_unprefixed():
    routed = thinker_options(OmniLike(), {"max_new_tokens": 10, "num_beams": 3, "thinker_eos_token_id": 5,
                                          "generation_mode": "text"})
    # the generate's thinker default wins over the unprefixed max_new_tokens, as in transformers
    assert routed == {"max_new_tokens": 1024, "eos_token_id": 5, "num_beams": 3}


@pytest.mark.parametrize("options", [{"generation_mode": "audio"}, {"return_audio": True},
                                     {"talker_do_sample": False}, {"speaker": "Ethan"}])
def test_omni_speech_is_refused(options):
    with pytest.raises(OptionError):
        thinker_options(OmniLike(), options)


def call(**options):
    return Call(options, {}, {}, {})


NO_LENGTH = SimpleNamespace(max_new_tokens=None, max_length=None)


@pytest.mark.parametrize(("options", "expected"), [
    ({}, 10),  # no length set: up to the audio's end (16 positions, 6 of them the prompt)
    ({"max_new_tokens": 4}, 4),
    ({"max_new_tokens": 40}, 10),  # cut at the audio's end
    ({"max_length": 8}, 2),
    ({"max_length": 80}, 10),
])
def test_voxtral_realtime_text_stops_at_the_audio_end(options, expected):
    assert capped_length(call(**options), NO_LENGTH, prompt_length=6, positions=16) == expected


def test_voxtral_realtime_length_from_the_generation_config():
    assert capped_length(call(), SimpleNamespace(max_new_tokens=3, max_length=None), 6, 16) == 3
