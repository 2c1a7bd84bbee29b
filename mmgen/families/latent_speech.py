"""Text-to-speech over continuous latents sampled by a flow head (Pocket TTS, Gradium Phonon TTS).

Their ``generate`` is their own (transformers ``models/pocket_tts/generation_pocket_tts.py``).
Each step makes one audio latent per row:
  1. the backbone (the model's public ``forward``) runs on the prompt once, then on the previous
     latent (``audio_latents`` at an ``audio_latent_token_id`` position); its last hidden state
     is the condition, its ``logits`` the end-of-speech logit (`BackboneStep`);
  2. the flow head maps Gaussian noise, scaled by ``sqrt(temperature)`` when sampling and zero
     otherwise, to the latent (the model's public ``sample_latent``, ``num_flow_steps`` Euler
     steps); the noise is drawn for the whole batch each step, finished rows included, as
     transformers draws it, so with the same seed the latents match (`FlowSampler`);
  3. the stopping rule (`EndOfSpeech`): from frame ``min_frames_before_eos`` on, the first logit
     above ``eos_threshold`` starts a countdown of ``frames_after_eos`` more frames (per row: the
     processor's output); the frames of the countdown are kept. ``max_new_tokens`` counts frames.
``Generation.latents`` holds each row's latents mapped to the audio tokenizer's space
(``denormalize_latents``), what ``generate`` returns as ``audio_latents``; the processor's
``decode`` turns them into waveforms. Beam search is refused, as transformers refuses it.

Differences from transformers, on purpose: rows that finish leave the batch (their cache rows
are dropped; ``compact=False`` keeps them), which changes float rounding, not the arithmetic;
the flow head still samples every row, so the noise each row gets is the one it gets there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GradiumPhononTTSForConditionalGeneration, PocketTTSForConditionalGeneration

from mmgen.core.collect import Collected
from mmgen.core.frames import FinishReason, LatentStep
from mmgen.core.loop import decode
from mmgen.core.options import (
    ACCEPTED_AND_IGNORED,
    OPTION_NAMES,
    GenerationOptions,
    OptionError,
    resolve_options,
    suggest,
)
from mmgen.core.results import Generation
from mmgen.families.family import Family
from mmgen.families.frame_backbone import FrameBackboneStep
from mmgen.families.prepared import Call, checked_inputs

# Phonon's modeling file is generated from Pocket TTS's (transformers' modular files): the same methods, no common class.
CLASSES = (PocketTTSForConditionalGeneration, GradiumPhononTTSForConditionalGeneration)
PROMPT_INPUTS = ("input_ids", "attention_mask", "audio_prompt_latents", "audio_prompt_latents_mask")
OPTIONS = frozenset({"num_flow_steps", "eos_threshold", "min_frames_before_eos", "frames_after_eos"})
# The released checkpoints' values, used when neither the call nor the generation config sets them (transformers' own).
DEFAULTS = {"num_flow_steps": 1, "eos_threshold": -4.0, "min_frames_before_eos": 6, "frames_after_eos": 1}
# Generation options these models read; the token options (processors, warpers, stop strings) have nothing to act on.
USED = frozenset({"max_new_tokens", "max_length", "max_time", "do_sample", "temperature", "seed", "num_beams",
                  "num_return_sequences", "compact"}) | ACCEPTED_AND_IGNORED


@dataclass(frozen=True)
class LatentOptions:
    """The model-specific options of one call (names and defaults as in transformers' ``generate``).

    frames: latents per row at most. noise_scale: ``sqrt(temperature)`` when sampling, else 0.
    frames_after_eos: (rows,) frames after each row's end-of-speech frame.
    """

    frames: int
    noise_scale: float
    num_flow_steps: int
    eos_threshold: float
    min_frames_before_eos: int
    frames_after_eos: torch.Tensor


def placeholder_ids(config: Any) -> list[int]:
    """The prompt's audio positions (voice, its BOS where the model has one, the generated audio): not text."""
    ids = [config.audio_prompt_token_id, config.audio_bos_token_id, config.audio_latent_token_id]
    voice_bos = getattr(config, "audio_prompt_bos_token_id", None)  # Phonon has none
    return ids if voice_bos is None else [voice_bos, *ids]


def frame_budget(config: Any, input_ids: torch.Tensor, mask: torch.Tensor) -> int:
    """transformers' default length: ``ceil((text tokens / 3 + 2) * frame_rate)`` for the longest text."""
    is_text = ~torch.isin(input_ids, torch.tensor(placeholder_ids(config), device=input_ids.device)) & mask.bool()
    return math.ceil((int(is_text.sum(-1).max()) / 3 + 2) * config.frame_rate)


class BackboneStep(FrameBackboneStep):
    """The backbone over the prompt, then one latent per row; outputs ``(condition, eos_logits)``.

    input_ids, attention_mask: (rows, prompt) left padded, each ending at ``audio_bos_token_id``.
    voice: ``audio_prompt_latents`` (and its mask), scattered into the prompt at the prefill.
    ``step(latents)``: (rows, latent_dim) each row's previous latent. Outputs: condition (rows,
    hidden) the last position's hidden state, eos_logits (rows,) float32. As ``generate``: positions
    from the mask (``cumsum - 1``), the mask grown by a column per step.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 voice: dict[str, torch.Tensor], frames: int):
        super().__init__(model, input_ids, attention_mask, frames)
        self.voice = voice
        self.placeholder = torch.full((self.rows, 1), model.config.audio_latent_token_id, device=input_ids.device)

    def _forward(self, input_ids: torch.Tensor, **inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.model(input_ids=input_ids, attention_mask=self.mask_so_far(), position_ids=self.positions,
                             cache=self.cache, use_cache=True, return_dict=True, **inputs)
        self.cache = outputs.cache
        return outputs.last_hidden_state[:, -1], outputs.logits[:, -1, 0].to(copy=True, dtype=torch.float32)

    def prefill(self) -> tuple[torch.Tensor, torch.Tensor]:
        output = self._forward(self.input_ids, **self.voice)
        self.prompt_fed()
        return output

    def step(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.next_frame()
        return self._forward(self.placeholder[: latents.shape[0]], audio_latents=latents[:, None])

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        self.mask = self.mask.index_select(0, rows)
        self.positions = self.positions.index_select(0, rows)


class FlowSampler:
    """Backbone output -> a `LatentStep`: the flow head's latent for every row, written into ``latents``.

    latents: (rows, frames, latent_dim) preallocated, normalised latents. generator: the noise's
    generator (None: torch's global one, as transformers draws it).
    """

    def __init__(self, model: torch.nn.Module, options: LatentOptions, latents: torch.Tensor,
                 generator: torch.Generator | None):
        self.model = model
        self.options = options
        self.latents = latents
        self.generator = generator

    def __call__(self, output: tuple[torch.Tensor, torch.Tensor], index: int, running: torch.Tensor) -> LatentStep:
        condition, eos_logits = output
        noise = condition.new_zeros(condition.shape[0], self.latents.shape[-1])
        if self.options.noise_scale:
            noise = torch.randn(noise.shape, device=noise.device, dtype=noise.dtype, generator=self.generator)
            noise = noise * self.options.noise_scale
        latent = self.model.sample_latent(condition, noise, self.options.num_flow_steps)
        latent = torch.where(running[:, None], latent, 0.0)
        self.latents[:, index] = latent
        return LatentStep(index=index, latents=latent, eos_logits=torch.where(running, eos_logits, 0.0),
                          active=running, finish_codes=torch.zeros_like(running, dtype=torch.int8))


class EndOfSpeech:
    """Pocket TTS's stopping rule, per row (transformers' ``PocketTTSEosThresholdCriteria``), and the length.

    From frame ``min_frames_before_eos`` on (0-based), the first frame whose logit is above
    ``eos_threshold`` leaves ``frames_after_eos`` more frames to the row; it ends (EOS) on the last
    of them. Every row ends (LENGTH) at ``frames``, and all on ``max_time``. EOS wins.
    """

    def __init__(self, options: LatentOptions, max_time: float | None = None):
        self.options = options
        self.max_time = max_time
        self.remaining = torch.full_like(options.frames_after_eos, -1)  # -1 until end of speech
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()

    def __call__(self, frame: LatentStep) -> torch.Tensor:
        options = self.options
        can_end = frame.index >= options.min_frames_before_eos
        just_ended = (self.remaining < 0) & (frame.eos_logits > options.eos_threshold) & can_end
        self.remaining = torch.where(just_ended, options.frames_after_eos, self.remaining)
        ended = self.remaining == 0
        self.remaining = torch.where(self.remaining > 0, self.remaining - 1, self.remaining)
        codes = torch.zeros_like(ended, dtype=torch.int8)
        if self.max_time is not None and time.monotonic() - self.started > self.max_time:
            codes.fill_(FinishReason.TIME.code)
        if frame.index + 1 >= options.frames:
            codes.fill_(FinishReason.LENGTH.code)
        return torch.where(ended, FinishReason.EOS.code, codes).to(torch.int8)


@dataclass
class LatentRun:
    """One call (a `mmgen.core.collect.Run`), its roles built before any compute.

    ``result``: ``latents`` per row, (frames, latent_dim) in the audio tokenizer's space (``generate``'s
    ``audio_latents`` row, without the padding; ``lengths`` counts the frames, the end-of-speech frame
    and those after it included); ``sequences`` the prompt then one ``audio_latent_token_id`` per
    step, as ``generate`` returns them.
    """

    model: torch.nn.Module
    step: BackboneStep
    sample: FlowSampler
    stopping: EndOfSpeech
    compact: bool

    def events(self) -> Iterator[LatentStep]:
        self.stopping.start()
        return decode(self.step, self.sample, self.stopping, self.step.rows, self.step.device, compact=self.compact)

    def stream(self) -> Iterator[LatentStep]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        steps = int(collected.lengths.max())
        latents = self.model.denormalize_latents(self.sample.latents[:, :steps])
        rows = tuple(latents[row, :length] for row, length in enumerate(collected.lengths.tolist()))
        prompt = self.step.input_ids
        placeholders = torch.full((prompt.shape[0], steps), self.model.config.audio_latent_token_id,
                                  dtype=prompt.dtype, device=prompt.device)
        return Generation(sequences=torch.cat([prompt, placeholders], dim=1),
                          logprobs=latents.new_zeros(prompt.shape[0], 0, dtype=torch.float32),
                          finish_reasons=collected.finish_reasons, lengths=collected.lengths,
                          prompt_length=prompt.shape[1], timings=collected.timings, latents=rows)


def _generation_options(model: torch.nn.Module, call: Call, input_ids: torch.Tensor,
                        mask: torch.Tensor) -> GenerationOptions:
    user = dict(call.options)
    unknown = sorted(set(user) - OPTION_NAMES - ACCEPTED_AND_IGNORED)
    if unknown:
        raise OptionError(f"Unknown option {unknown[0]!r} for {type(model).__name__}.{suggest(unknown[0], USED | OPTIONS)}")
    unused = sorted(set(user) & OPTION_NAMES - USED)
    if unused:
        raise OptionError(f"{unused[0]}= has nothing to act on in {type(model).__name__}: it samples continuous latents, "
                          "not tokens (its options: max_new_tokens, do_sample, temperature, seed, num_flow_steps, "
                          "eos_threshold, min_frames_before_eos, frames_after_eos).")
    if user.get("max_new_tokens") is None and user.get("max_length") is None:
        user["max_new_tokens"] = frame_budget(model.config, input_ids, mask)
    options = resolve_options(model.generation_config, user)
    if options.is_beam_search:
        raise OptionError(f"{type(model).__name__} samples its latents greedily (do_sample=False) or from Gaussian noise "
                          "(do_sample=True); transformers refuses beam search for it too: pass num_beams=1.")
    return options


def _latent_options(model: torch.nn.Module, family: dict[str, Any], options: GenerationOptions, rows: int,
                    frames: int) -> LatentOptions:
    config = model.generation_config
    values = {name: family.get(name, getattr(config, name, None)) for name in OPTIONS}
    values = {name: DEFAULTS[name] if value is None else value for name, value in values.items()}
    after = torch.as_tensor(values.pop("frames_after_eos"), dtype=torch.long, device=model.device).reshape(-1)
    if after.numel() not in (1, rows // options.num_return_sequences):
        raise OptionError(f"frames_after_eos has {after.numel()} values for {rows // options.num_return_sequences} "
                          "texts: pass one per text (the processor's output), or one int.")
    if bool((after < 0).any()):
        raise OptionError("frames_after_eos must be >= 0 (frames generated after the end-of-speech frame).")
    after = after.expand(rows // options.num_return_sequences).repeat_interleave(options.num_return_sequences)
    if not isinstance(values["num_flow_steps"], int) or values["num_flow_steps"] < 1:
        raise OptionError(f"num_flow_steps={values['num_flow_steps']!r} must be an integer >= 1 (Euler steps of the "
                          "flow sampler).")
    if not isinstance(values["min_frames_before_eos"], int) or values["min_frames_before_eos"] < 0:
        raise OptionError(f"min_frames_before_eos={values['min_frames_before_eos']!r} must be an integer >= 0.")
    if not isinstance(values["eos_threshold"], (int, float)) or math.isnan(values["eos_threshold"]):
        raise OptionError(f"eos_threshold={values['eos_threshold']!r} must be a number (an end-of-speech logit).")
    if options.do_sample and options.temperature < 0:
        raise OptionError(f"temperature={options.temperature!r} must be >= 0 (the variance of the flow's noise).")
    scale = math.sqrt(options.temperature) if options.do_sample else 0.0
    return LatentOptions(frames=frames, noise_scale=scale, frames_after_eos=after, **values)


class LatentSpeech(Family):
    """Pocket TTS and Gradium Phonon TTS: a continuous latent per step, sampled by a flow head."""

    name = "latent-speech"
    options = OPTIONS

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, CLASSES)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> LatentRun:
        """Check the call and build its roles; raises `OptionError` before any compute."""
        name = type(model).__name__
        inputs = checked_inputs(call, tokenizer, PROMPT_INPUTS, name, "from its processor", left=True)
        device = model.device
        inputs = {k: v.to(device) for k, v in inputs.items()}
        input_ids = inputs.pop("input_ids")
        mask = inputs.pop("attention_mask", torch.ones_like(input_ids))
        config = model.config
        if not bool((input_ids[:, -1] == config.audio_bos_token_id).all()):
            raise OptionError(f"{name} generates from the first audio position: every prompt must end with "
                              f"audio_bos_token_id={config.audio_bos_token_id} and be left padded (its processor "
                              "prepares them so).")
        if "audio_prompt_latents" not in inputs and bool((input_ids == config.audio_prompt_token_id).any()):
            raise OptionError(f"The prompts hold {name}'s voice placeholder but no voice: pass audio_prompt_latents=... "
                              "(the processor's output for a voice).")
        options = _generation_options(model, call, input_ids, mask)
        per_input = options.num_return_sequences
        frames = options.max_new_tokens if options.max_new_tokens is not None else options.max_length - input_ids.shape[1]
        if frames < 1:
            raise OptionError(f"max_length={options.max_length} leaves no frame after the {input_ids.shape[1]}-token "
                              "prompt: pass max_new_tokens=... (the number of latents to make).")
        if isinstance(options.seed, tuple):
            raise OptionError("seed= takes one int here: the flow's noise is drawn for the whole batch at once, as "
                              "transformers draws it.")
        input_ids, mask = (t.repeat_interleave(per_input, dim=0) for t in (input_ids, mask))
        voice = {k: v.repeat_interleave(per_input, dim=0) for k, v in inputs.items()}
        rows = input_ids.shape[0]
        latent_options = _latent_options(model, dict(call.family_options), options, rows, frames)
        generator = None
        if options.seed is not None:
            generator = torch.Generator(device=device).manual_seed(options.seed)
        latents = torch.zeros(rows, frames, config.latent_dim, device=device, dtype=model.dtype)
        step = BackboneStep(model, input_ids, mask, voice, frames)
        sample = FlowSampler(model, latent_options, latents, generator)
        return LatentRun(model, step, sample, EndOfSpeech(latent_options, options.max_time), options.compact)


__all__ = ["BackboneStep", "EndOfSpeech", "FlowSampler", "LatentOptions", "LatentRun", "LatentSpeech", "frame_budget"]
