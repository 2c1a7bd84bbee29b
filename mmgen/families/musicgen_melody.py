"""MusicGen Melody (``MusicgenMelodyForConditionalGeneration``): MusicGen conditioned on text and a melody.

Unlike MusicGen, the decoder does not cross-attend: the conditioning is a prefix in front of the
codes (transformers ``models/musicgen_melody/modeling_musicgen_melody.py``; Copet et al. 2023,
"Simple and Controllable Music Generation", section 2.3, melody conditioning). The prefix is, per
row, ``chroma_length`` frames of the melody's chromagram (``input_features`` (rows, frames,
num_chroma) from the processor, projected by ``audio_enc_to_dec_proj``, tiled to
``chroma_length``; a one-hot "no melody" frame without one) followed by the text encoder's states
(projected by ``enc_to_dec_proj``, zeroed on padding). With guidance the unconditional rows get
zero text and the "no melody" frame. The prefix is fed once, at the prefill; every step after it
feeds the decoder K codes per row through the model's public ``forward`` with its cache.

Everything after the model step is MusicGen's (`mmgen.families.musicgen`): the delay pattern, the
guidance processor, the codebook frames and EnCodec decoding. Greedy codes and audio equal
``model.generate``'s; transformers refuses beam search for this model, and so does mmgen.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from transformers import MusicgenMelodyForConditionalGeneration

from mmgen.core.model_step import ModelStep
from mmgen.families.musicgen import MusicGen


def melody_prefix(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  input_features: torch.Tensor | None, guided: bool) -> torch.Tensor:
    """(rows, chroma_length + text, hidden) the decoder's prefix; (2 * rows, ...) with ``guided``.

    The computation of transformers' ``_prepare_encoder_hidden_states_kwargs_for_generation``, on the
    model's public submodules. input_ids, attention_mask: (rows, text). input_features: (rows,
    frames, num_chroma) chroma, or None (a one-hot "no melody" frame: chroma bin 0).
    """
    config = model.config
    text = model.text_encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state
    if model.text_encoder.config.hidden_size != model.decoder.config.hidden_size:
        text = model.enc_to_dec_proj(text)
    if guided:  # the unconditional rows: no text at all
        text = torch.cat([text, torch.zeros_like(text)], dim=0)
        attention_mask = torch.cat([attention_mask, torch.zeros_like(attention_mask)], dim=0)
    text = text * attention_mask[..., None]

    if input_features is not None:
        no_melody = torch.zeros_like(input_features)
    else:
        no_melody = torch.zeros((input_ids.shape[0], 1, config.num_chroma), device=input_ids.device, dtype=model.dtype)
    no_melody[:, :, 0] = 1
    melody = input_features if input_features is not None else no_melody
    if guided:
        melody = torch.cat([melody, no_melody], dim=0)
    if config.num_chroma != model.decoder.config.hidden_size:
        melody = model.audio_enc_to_dec_proj(melody)
    if melody.shape[1] < config.chroma_length:  # tiled to the model's chroma length, then cut to it
        melody = melody.repeat(1, math.ceil(config.chroma_length / melody.shape[1]), 1)
    melody = melody[:, : config.chroma_length]
    return torch.cat([melody, text], dim=1)


class MelodyStep(ModelStep):
    """The decoder over [prefix; codes] with a transformers cache.

    encoder_inputs: ``input_ids``, ``attention_mask`` (rows, text) and optionally ``input_features``.
    start_ids: (rows * K, 1) the start column. ``step(codes)``: (rows * K,) delayed codes. With
    ``guided`` the prefix has 2 * rows rows (conditional first) and every decoder input is repeated
    twice along the batch. Outputs: (rows * K, vocab) float32 logits, (2 * rows * K, vocab) guided.
    """

    def __init__(self, model: torch.nn.Module, encoder_inputs: dict[str, Any], start_ids: torch.Tensor, guided: bool):
        super().__init__(model)
        self.encoder_inputs = encoder_inputs
        self.start_ids = start_ids
        self.guided = guided
        self.rows = start_ids.shape[0]

    def _doubled(self, ids: torch.Tensor) -> torch.Tensor:
        return ids.repeat(2, 1) if self.guided else ids

    def _forward(self, decoder_input_ids: torch.Tensor, **prefix: Any) -> torch.Tensor:
        outputs = self.model(decoder_input_ids=self._doubled(decoder_input_ids), cache=self.cache, use_cache=True,
                             return_dict=True, **prefix)
        return self._logits(outputs)

    def prefill(self) -> torch.Tensor:
        inputs = self.encoder_inputs
        prefix = melody_prefix(self.model, inputs["input_ids"], inputs["attention_mask"],
                               inputs.get("input_features"), self.guided)
        return self._forward(self.start_ids, encoder_hidden_states=prefix)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        return self._forward(codes[:, None])


class MusicGenMelody(MusicGen):
    """MusicGen Melody: MusicGen's codebooks and guidance over a decoder prefixed by melody and text."""

    name = "musicgen-melody"

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, MusicgenMelodyForConditionalGeneration)

    def model_step(self, model: torch.nn.Module, encoder_inputs: dict[str, Any], start_ids: torch.Tensor,
                   guided: bool) -> MelodyStep:
        return MelodyStep(model, encoder_inputs, start_ids, guided)


__all__ = ["MelodyStep", "MusicGenMelody", "melody_prefix"]
