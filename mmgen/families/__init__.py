"""Model families: how the decode core drives each kind of model (`Family`, in `family.py`).

`FAMILIES` lists one instance of each, specific families first: the first whose ``matches``
is true drives a model (`family_for`). A new family is a new file with a `Family` subclass
plus one line here.
"""

from __future__ import annotations

import torch

from mmgen.families.bark import Bark
from mmgen.families.blip import Blip, BlipQuestionAnswering
from mmgen.families.csm import Csm
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.dia import Dia
from mmgen.families.encoder_decoder import EncoderDecoder
from mmgen.families.family import Family
from mmgen.families.git import Git
from mmgen.families.higgs_audio import HiggsAudio
from mmgen.families.kosmos2 import Kosmos2
from mmgen.families.kyutai_stt import KyutaiSpeechToText
from mmgen.families.latent_speech import LatentSpeech
from mmgen.families.musicgen import MusicGen
from mmgen.families.musicgen_decoder import MusicGenDecoder
from mmgen.families.musicgen_melody import MusicGenMelody
from mmgen.families.omni import Omni
from mmgen.families.prepared import Call, Prepared
from mmgen.families.query_former import QueryFormer
from mmgen.families.seamless_m4t import SeamlessM4T
from mmgen.families.speecht5 import SpeechT5
from mmgen.families.translation import Translation
from mmgen.families.voxtral_realtime import VoxtralRealtime
from mmgen.families.whisper import Whisper

FAMILIES: tuple[Family, ...] = (
    # Specific families first.
    Whisper(),
    Blip(),
    BlipQuestionAnswering(),
    QueryFormer(),
    Kosmos2(),
    Git(),
    SpeechT5(),
    LatentSpeech(),
    MusicGen(),
    MusicGenMelody(),
    MusicGenDecoder(),
    Csm(),
    Dia(),
    HiggsAudio(),
    Bark(),
    KyutaiSpeechToText(),
    VoxtralRealtime(),
    Omni(),
    Translation(),
    SeamlessM4T(),
    # Then the generic ones.
    EncoderDecoder(),
    DecoderOnly(),
)


def family_for(model: torch.nn.Module) -> Family:
    """The family that drives ``model``: the first of `FAMILIES` that matches it."""
    for family in FAMILIES:
        if family.matches(model):
            return family
    raise TypeError(f"mmgen has no family for {type(model).__name__} (model_type={model.config.model_type!r}).")


__all__ = ["FAMILIES", "Call", "Family", "Prepared", "family_for"]
