"""MusicGen's and MusicGen Melody's decoders alone (``MusicgenForCausalLM``, ``MusicgenMelodyForCausalLM``).

Their ``generate`` is their own (transformers ``models/musicgen/modeling_musicgen.py`` and
``models/musicgen_melody/modeling_musicgen_melody.py``, ``ForCausalLM.generate``): a code prompt
``input_ids`` (rows * K, P) (column 0 the start column, the pad id) under the delay pattern, then
K codes per row per step, with optional conditioning states (``encoder_hidden_states``: MusicGen's
decoder cross-attends to them at every step, Melody's reads them as a prefix at the prefill) and
classifier-free guidance (the batch doubled, the unconditional rows with zero states). The
result is what ``generate`` returns: (rows, K, frames) codes, the prompt's codes first; no audio
(the decoder holds no audio codec). The delay pattern, guidance and codebook frames are
`mmgen.outputs.codebooks`'s.

transformers 5 runs these only with a ``decoder_start_token_id`` in the generation config (the
checkpoints' ``generation_config.json`` has one; a config-built model does not, and ``generate``
fails) and, for MusicGen's, an explicit ``num_return_sequences=1``. mmgen falls back to the pad
id as the start, and needs neither. Without an ``attention_mask`` mmgen attends to every frame
(transformers infers a mask per code row from the pad id, (rows * K, P), which masks the start
column out and has not the decoder's (rows, P) shape): pass one to compare. As in transformers,
MusicGen's decoder prefills only the last column of the delayed prompt (its input preparation
cuts the prompt to one column whenever there is a cache); Melody's prefills all of it. Beam
search is refused, as transformers refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import MusicgenForCausalLM, MusicgenMelodyForCausalLM

from mmgen.core.collect import Collected
from mmgen.core.decode import TokenBuffer
from mmgen.core.model_step import ModelStep
from mmgen.core.options import OptionError, resolve_options, suggest
from mmgen.core.results import Generation
from mmgen.families.family import Family
from mmgen.families.musicgen_run import DelayedCodebookRun, decoding_roles, guidance_of, refuse_beams
from mmgen.families.prepared import Call
from mmgen.outputs.codebooks import FREE, delay_prompt

INPUTS = ("input_ids", "attention_mask", "encoder_hidden_states", "encoder_attention_mask")


class CodebookDecoderStep(ModelStep):
    """The decoder over the delayed code prompt, then K codes per row per step.

    prompt: (rows * K, P) the delayed prompt. attention_mask: (rows, P + new) the frames' mask, ones
    after the prompt. conditioning: ``encoder_hidden_states`` (rows, S, hidden) and
    ``encoder_attention_mask``, or empty. prefix: Melody's decoder (the states are a prefix, fed
    at the prefill only, and the whole prompt is prefilled); else MusicGen's (cross-attention at every
    step, the prompt's last column prefilled). With ``guided`` every input is doubled, the
    unconditional rows' states zero. Outputs: (rows * K, vocab) float32 logits, doubled when guided.
    """

    def __init__(self, model: torch.nn.Module, prompt: torch.Tensor, attention_mask: torch.Tensor,
                 conditioning: dict[str, torch.Tensor], prefix: bool, guided: bool):
        super().__init__(model)
        self.prompt = prompt
        self.length = prompt.shape[1]
        self.mask = attention_mask
        self.prefix = prefix
        self.guided = guided
        # The unconditional rows: zero states (and a zero mask: they attend to nothing).
        self.conditioning = {k: torch.cat([v, torch.zeros_like(v)]) if guided else v for k, v in conditioning.items()}

    def _doubled(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.repeat(2, 1) if self.guided else tensor

    def _forward(self, input_ids: torch.Tensor, conditioned: bool) -> torch.Tensor:
        inputs = self.conditioning if conditioned else {}
        mask = self._doubled(self.mask[:, : self.length])
        outputs = self.model(input_ids=self._doubled(input_ids), attention_mask=mask,
                             cache=self.cache, use_cache=True, return_dict=True, **inputs)
        return self._logits(outputs)

    def prefill(self) -> torch.Tensor:
        return self._forward(self.prompt if self.prefix else self.prompt[:, -1:], conditioned=True)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        self.length += 1
        return self._forward(codes[:, None], conditioned=not self.prefix)


def prompt_codes(sequences: torch.Tensor, pattern: torch.Tensor, pad_token_id: int, rows: int,
                 codebooks: int) -> torch.Tensor:
    """(rows * K, length) tokens -> (rows, K, frames): the delay pattern applied, its held columns dropped, as
    ``generate`` ends (the prompt's codes, then the generated ones). transformers drops the pad ids of the
    result instead: the same, unless the pad id is inside the vocabulary and the model picks it."""
    pattern = pattern[:, : sequences.shape[1]]
    applied = torch.where(pattern == FREE, sequences, pattern)
    return applied[pattern != pad_token_id].view(rows, codebooks, -1)


@dataclass
class CodebookDecoderRun(DelayedCodebookRun):
    """One call of a MusicGen decoder alone (a `mmgen.core.collect.Run`); ``step`` is a `CodebookDecoderStep`,
    ``pattern`` per row (the code prompt's values held).

    ``result``: ``sequences`` (rows, K, frames) what ``model.generate`` returns (prompt codes first,
    ``prompt_length`` of them); ``logprobs`` (rows, K, new steps) of each step's tokens as chosen.
    """

    def result(self, collected: Collected) -> Generation:
        codes = prompt_codes(self.buffer.view, self.pattern, self.pad_token_id, self.rows, self.codebooks)
        prompt = self.step.prompt.shape[1] - 1  # the start column is held
        frames = torch.full((self.rows,), codes.shape[-1] - prompt, dtype=torch.long, device=codes.device)
        return Generation(sequences=codes, logprobs=collected.logprobs, finish_reasons=collected.finish_reasons,
                          lengths=frames, prompt_length=prompt, timings=collected.timings)


class MusicGenDecoder(Family):
    """MusicGen's or MusicGen Melody's decoder alone: K delayed codebooks from a code prompt."""

    name = "musicgen-decoder"
    options = frozenset({"guidance_scale"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, (MusicgenForCausalLM, MusicgenMelodyForCausalLM))

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> CodebookDecoderRun:
        """Check the call and build its roles; raises `OptionError` before any compute."""
        options = resolve_options(model.generation_config, {k: v for k, v in call.options.items()
                                                            if k != "num_return_sequences" or v != 1})
        refuse_beams(options)
        inputs = dict(call.model_inputs)
        unknown = sorted(set(inputs) - set(INPUTS))
        if unknown or "input_ids" not in inputs:
            name = unknown[0] if unknown else "input_ids"
            raise OptionError(f"{type(model).__name__} takes a code prompt input_ids=... (rows * codebooks, P), "
                              f"column 0 the start id, and optionally {', '.join(INPUTS[1:])}; got {sorted(inputs)}."
                              f"{suggest(name, frozenset(INPUTS)) if unknown else ''}")
        device = model.device
        inputs = {k: v.to(device) for k, v in inputs.items()}
        codebooks = model.config.num_codebooks
        prompt = inputs.pop("input_ids")
        if prompt.shape[0] % codebooks:
            raise OptionError(f"input_ids has {prompt.shape[0]} rows: a code prompt has num_codebooks={codebooks} rows "
                              "per input (rows * codebooks, P).")
        rows, length = prompt.shape[0] // codebooks, prompt.shape[1]
        start = next(i for i in (options.decoder_start_token_id, options.pad_token_id, options.bos_token_id)
                     if i is not None)
        max_length = length + options.max_new_tokens if options.max_new_tokens is not None else options.max_length
        stereo = model.config.audio_channels == 2
        per_channel = codebooks // 2 if stereo else codebooks
        if max_length < max(2 * per_channel - 1, length + per_channel):
            raise OptionError(f"max_new_tokens={max_length - length} is too short for {codebooks} delayed codebooks: "
                              f"pass max_new_tokens >= {max(2 * per_channel - 1 - length, per_channel)}.")
        delayed, pattern = delay_prompt(prompt, codebooks, max_length, int(start), stereo)
        mask = torch.ones(rows, max_length, dtype=torch.long, device=device)
        if "attention_mask" in inputs:
            mask[:, :length] = inputs.pop("attention_mask")
        guidance = guidance_of(model, call)
        prefix = isinstance(model, MusicgenMelodyForCausalLM)
        step = CodebookDecoderStep(model, delayed, mask, inputs, prefix, guidance is not None)
        roles = decoding_roles(options, guidance, length, max_length, rows, codebooks, device)
        buffer = TokenBuffer(delayed, max_length, int(start))
        return CodebookDecoderRun(step, buffer, pattern, *roles, rows, codebooks, int(start))


__all__ = ["CodebookDecoderRun", "CodebookDecoderStep", "MusicGenDecoder", "prompt_codes"]
