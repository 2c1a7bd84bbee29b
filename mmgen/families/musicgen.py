"""MusicGen (``MusicgenForConditionalGeneration``): K codec tokens per frame, then EnCodec to audio.

The model step is the encoder-decoder step over the model's public ``forward`` (text encoder
once, the decoder with a transformers cache); with ``guidance_scale > 1`` the batch is doubled
with unconditional rows (zero encoder states and mask, as transformers does) and the logits
are folded back by `mmgen.outputs.codebooks.make_guidance`. The multi-codebook adapter and the
delay pattern are in `mmgen.outputs.codebooks`; the codes are decoded by the model's
``audio_encoder.decode``. Greedy codes and audio equal ``model.generate``'s; sampling uses
mmgen's seeded per-row sampler (one seed per codebook row), not torch's global generator.

MusicGen generates a fixed number of frames: there is no end-of-sequence stop. Audio prompts
(``decoder_input_ids``, ``input_values``) are not supported yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import MusicgenForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from mmgen.core.collect import Collected
from mmgen.core.decode import TokenBuffer
from mmgen.core.model_step import EncoderDecoderStep
from mmgen.core.options import OptionError, resolve_options
from mmgen.core.results import Generation
from mmgen.families.family import Family
from mmgen.families.musicgen_run import DelayedCodebookRun, decoding_roles, guidance_of, refuse_beams
from mmgen.families.prepared import Call
from mmgen.inputs.prompts import encode_call_text
from mmgen.outputs.codebooks import delay_pattern, undelay

UNSUPPORTED_INPUTS = ("decoder_input_ids", "input_values", "padding_mask")


class MusicgenStep(EncoderDecoderStep):
    """Encoder-decoder step with optional classifier-free guidance rows.

    decoder_input_ids: (rows * K, 1) the start column. ``step(codes)``: (rows * K,) delayed codes.
    With ``guided``, the encoder states get ``rows`` unconditional rows (zeros, mask zeros) after
    the conditional ones, and every decoder input is repeated twice along the batch.
    """

    def __init__(self, model: torch.nn.Module, encoder_inputs: dict[str, Any], decoder_input_ids: torch.Tensor,
                 guided: bool):
        super().__init__(model, encoder_inputs, decoder_input_ids)
        self.guided = guided

    def encode(self) -> BaseModelOutput:
        hidden = super().encode().last_hidden_state
        if not self.guided:
            return BaseModelOutput(last_hidden_state=hidden)
        if self.encoder_mask is not None:
            self.encoder_mask = torch.cat([self.encoder_mask, torch.zeros_like(self.encoder_mask)], dim=0)
        return BaseModelOutput(last_hidden_state=torch.cat([hidden, torch.zeros_like(hidden)], dim=0))

    def _doubled(self, ids: torch.Tensor) -> torch.Tensor:
        return ids.repeat(2, 1) if self.guided else ids

    def prefill(self) -> torch.Tensor:
        self.encoder_outputs = self.encode()
        return self._forward(self._doubled(self.decoder_input_ids))

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        return self._forward(self._doubled(codes[:, None]))


def decode_audio(model: torch.nn.Module, codes: torch.Tensor) -> torch.Tensor:
    """(rows, K, frames) codes -> (rows, channels, samples) with the model's ``audio_encoder.decode``."""
    scales = [None] * codes.shape[0]
    if model.decoder.config.audio_channels == 1:
        return model.audio_encoder.decode(codes[None], audio_scales=scales).audio_values
    left = model.audio_encoder.decode(codes[None, :, ::2], audio_scales=scales).audio_values
    right = model.audio_encoder.decode(codes[None, :, 1::2], audio_scales=scales).audio_values
    return torch.cat([left, right], dim=1)


@dataclass
class CodebookRun(DelayedCodebookRun):
    """One MusicGen call (a `mmgen.core.collect.Run`), its roles built before any compute; ``step`` is
    `MusicGen.model_step`'s.

    ``result``: ``sequences`` (rows, K, frames) the codes ``model.generate`` decodes (delay
    pattern undone, ``prompt_length`` 0); ``logprobs`` (rows, K, frames) of those codes; ``audio``
    per row, (channels, samples) at ``sampling_rate`` (the audio ``model.generate`` returns).
    """

    model: torch.nn.Module

    def result(self, collected: Collected) -> Generation:
        pattern = self.pattern[:, : self.buffer.length]
        codes = undelay(self.buffer.view, pattern, self.rows)
        logprobs = collected.logprobs.reshape(self.rows * pattern.shape[0], -1)  # (rows * K, steps)
        start = torch.zeros_like(logprobs[:, :1])  # the decoder start column
        scores = undelay(torch.cat([start, logprobs], 1), pattern, self.rows)
        audio = decode_audio(self.model, codes)
        frames = torch.full((self.rows,), codes.shape[-1], dtype=torch.long, device=codes.device)
        return Generation(sequences=codes, logprobs=scores, finish_reasons=collected.finish_reasons, lengths=frames,
                          prompt_length=0, timings=collected.timings, audio=tuple(audio),
                          sampling_rate=int(self.model.config.audio_encoder.sampling_rate))


class MusicGen(Family):
    """MusicGen: K delayed codebooks per frame, optional classifier-free guidance, EnCodec to audio."""

    name = "musicgen"
    options = frozenset({"guidance_scale"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, MusicgenForConditionalGeneration)

    def model_step(self, model: torch.nn.Module, encoder_inputs: dict[str, Any], start_ids: torch.Tensor,
                   guided: bool) -> Any:
        """The model step of one call: ``prefill()`` and ``step(codes)`` return (rows * K, vocab) logits
        ((2 * rows * K, vocab) with ``guided``). Default: the text encoder once, then the decoder
        cross-attending to it (`MusicgenStep`); MusicGen Melody puts its conditioning in front instead."""
        return MusicgenStep(model, encoder_inputs, start_ids, guided)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> CodebookRun:
        """Check the call and build its roles; raises `OptionError` before any compute."""
        inputs = dict(call.model_inputs)
        for name in UNSUPPORTED_INPUTS:
            if name in inputs:
                raise OptionError(f"{name}=... (an audio prompt) is not supported by mmgen's MusicGen adapter yet: "
                                  "condition on text (input_ids / text=...) only.")
        options = resolve_options(model.generation_config, call.options)
        refuse_beams(options)
        guidance = guidance_of(model, call)
        device = model.device
        if call.text:
            encoded = encode_call_text(tokenizer, call.text, left=False)
            inputs.setdefault("input_ids", encoded["input_ids"])
            inputs.setdefault("attention_mask", encoded["attention_mask"])
        if "input_ids" not in inputs:
            raise OptionError("MusicGen needs its text prompt: pass input_ids=... (and attention_mask=...) or "
                              "text=... with tokenizer=...")
        encoder_inputs = {k: v.to(device) for k, v in inputs.items() if v is not None}
        rows = encoder_inputs["input_ids"].shape[0]
        # transformers builds an all-ones mask when none is given; the guidance rows then get zeros.
        encoder_inputs.setdefault("attention_mask", torch.ones_like(encoder_inputs["input_ids"]))

        codebooks = model.decoder.num_codebooks
        start = options.decoder_start_token_id if options.decoder_start_token_id is not None else options.bos_token_id
        pad = options.pad_token_id if options.pad_token_id is not None else start
        max_length = 1 + options.max_new_tokens if options.max_new_tokens is not None else options.max_length
        stereo = model.decoder.config.audio_channels == 2
        per_channel = codebooks // 2 if stereo else codebooks
        if max_length - 1 < max(2 * per_channel - 2, per_channel):
            raise OptionError(f"max_new_tokens={max_length - 1} is too short for {codebooks} delayed codebooks: pass "
                              f"max_new_tokens >= {max(2 * per_channel - 2, per_channel)} (each frame of audio needs "
                              f"{per_channel - 1} extra steps).")

        start_ids = torch.full((rows * codebooks, 1), int(start), dtype=torch.long, device=device)
        step = self.model_step(model, encoder_inputs, start_ids, guidance is not None)
        buffer = TokenBuffer(start_ids, max_length, int(pad))
        pattern = delay_pattern(codebooks, max_length, int(pad), stereo, device)
        roles = decoding_roles(options, guidance, 1, max_length, rows, codebooks, device)
        return CodebookRun(step, buffer, pattern, *roles, rows, codebooks, int(pad), model=model)


__all__ = ["CodebookRun", "MusicGen", "MusicgenStep", "decode_audio"]
