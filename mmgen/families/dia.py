"""Dia (``DiaForConditionalGeneration``): text encoder, an audio decoder over C delayed DAC channels.

Its ``generate`` is its own (transformers ``models/dia/generation_dia.py``). The text is encoded
once; the decoder reads the frames so far, (rows, length, C), and gives C logits rows per batch
row, (rows * C, vocab), the layout of the token buffer here (row ``b * C + c``). Each step:
  1. with ``guidance_scale`` != 1 the batch is doubled with unconditional rows (the text all zeros,
     the same masks) and folded back by Dia's guidance (`mmgen.families.dia_processors`);
  2. generation's processors, then Dia's temperature and channel filter, the sampling warpers, and
     last the delayed EOS that ends the channels on the delay pattern;
  3. one token per channel; channels that have ended (their EOS) get the pad id, when the call has
     an ``eos_token_id``; a batch row ends when all its channels have;
  4. the delay mask: where the decoder prompt (``decoder_input_ids`` (rows, T, C) from
     ``DiaProcessor``: BOS, the audio prompt, each channel held at BOS for its delay) holds a value
     other than pad, that value replaces the token; the result is what the decoder reads next.
``Generation.sequences`` is ``model.generate``'s output: (rows, prompt + generated, C) delayed
codes, decoder prompt included (``DiaProcessor.batch_decode`` undoes the delay and decodes audio
with its DAC model, which the model does not hold: there is no ``audio`` here, as in transformers).
``max_length`` gets room for the longest delay added, ``max_new_tokens`` does not, as in
transformers. Beam search and several returned sequences are refused, as transformers refuses them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DiaForConditionalGeneration

from mmgen.core.collect import Collected
from mmgen.core.decode import Processor, Selector, TokenBuffer, apply_processors
from mmgen.core.frames import CodebookStep, FinishReason
from mmgen.core.loop import decode
from mmgen.core.model_step import ModelStep
from mmgen.core.options import GenerationOptions, OptionError, resolve_options
from mmgen.core.results import Generation
from mmgen.core.selectors import Sampler, greedy, row_seeds
from mmgen.core.stopping import StoppingRule
from mmgen.families.dia_processors import DelayedEos, make_channel_filter, make_dia_guidance, make_temperature
from mmgen.families.family import Family
from mmgen.families.prepared import Call, checked_inputs
from mmgen.processors import ProcessorContext, build_processors, for_greedy

INPUTS = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask")


class DiaStep(ModelStep):
    """The encoder once, then the decoder with a transformers cache.

    input_ids, attention_mask: (rows, text) (no mask: none is passed, as generate passes none).
    prompt: (rows, T, C) the decoder prompt after the delay mask; decoder_mask: (rows, T + new) its
    mask, ones after it. ``step(codes)``: (rows * C,) the codes of the newest frame. With ``guided``
    the encoder reads the text then all-zero text (the masks repeated) and every decoder input is
    repeated twice along the batch. Outputs: (rows * C, vocab) float32 logits, (2 * rows * C,
    vocab) guided.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 prompt: torch.Tensor, decoder_mask: torch.Tensor, guided: bool):
        super().__init__(model)
        self.input_ids = input_ids
        self.encoder_mask = attention_mask
        self.prompt = prompt
        self.rows, self.length, self.channels = prompt.shape
        self.decoder_mask = decoder_mask
        self.guided = guided
        self.encoder_outputs: Any = None

    def _doubled(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.repeat(2, *([1] * (tensor.ndim - 1))) if self.guided else tensor

    def _forward(self, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        outputs = self.model(decoder_input_ids=self._doubled(decoder_input_ids), encoder_outputs=self.encoder_outputs,
                             attention_mask=self.encoder_mask,
                             decoder_attention_mask=self._doubled(self.decoder_mask[:, : self.length]),
                             cache=self.cache, use_cache=True, return_dict=True)
        return self._logits(outputs)

    def prefill(self) -> torch.Tensor:
        input_ids = self.input_ids
        if self.guided:  # generate's unconditional rows: zero text, the same mask
            input_ids = torch.cat([input_ids, torch.zeros_like(input_ids)], dim=0)
            if self.encoder_mask is not None:
                self.encoder_mask = self.encoder_mask.repeat(2, 1)
        self.encoder_outputs = self.model.get_encoder()(input_ids=input_ids, attention_mask=self.encoder_mask,
                                                        return_dict=True)
        return self._forward(self.prompt)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        self.length += 1
        return self._forward(codes.view(self.rows, 1, self.channels))


class ChannelEmitter:
    """Logits -> processed scores -> a token per channel -> delay-masked codes (`CodebookStep`).

    buffer: (rows * C, capacity) codes as the decoder read them (delay mask applied), holding the
    decoder prompt. delay_mask: (rows * C, mask length) the prompt's values, pad where free.
    channel_running: (rows * C,) channels that have not ended.
    """

    def __init__(self, buffer: TokenBuffer, delay_mask: torch.Tensor, processors: list[Processor], select: Selector,
                 eos_token_ids: torch.Tensor | None, pad_token_id: int, channels: int):
        self.buffer = buffer
        self.delay_mask = delay_mask
        self.processors = processors
        self.select = select
        self.eos_token_ids = eos_token_ids
        self.pad_token_id = pad_token_id
        self.channels = channels
        self.channel_running = torch.ones(buffer.ids.shape[0], dtype=torch.bool, device=buffer.ids.device)

    def __call__(self, logits: torch.Tensor, index: int, running: torch.Tensor) -> CodebookStep:
        scores = apply_processors(self.processors, self.buffer.view, logits)
        was_running = self.channel_running
        tokens = torch.where(was_running, self.select(scores, index), self.pad_token_id)
        logprobs = torch.log_softmax(scores, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)
        codes = tokens
        column = self.buffer.length
        if column < self.delay_mask.shape[1]:
            held = self.delay_mask[:, column]
            codes = torch.where(held == self.pad_token_id, tokens, held)
        self.buffer.append(codes)
        if self.eos_token_ids is not None:  # transformers' EOS criterion reads the token before the mask
            self.channel_running = self.channel_running & ~torch.isin(tokens, self.eos_token_ids)
        shape = (running.shape[0], self.channels)
        return CodebookStep(index=index, tokens=tokens.view(shape), codes=codes.view(shape),
                            logprobs=torch.where(was_running, logprobs, 0.0).view(shape),
                            active=running, finish_codes=torch.zeros_like(running, dtype=torch.int8))


@dataclass
class DiaRun:
    """One Dia call (a `mmgen.core.collect.Run`), its roles built before any compute.

    ``result``: ``sequences`` (rows, T + generated, C) what ``model.generate`` returns;
    ``prompt_length`` T; ``logprobs`` (rows, generated, C); ``lengths`` each row's steps until its
    last channel ended.
    """

    step: DiaStep
    emit: ChannelEmitter
    stopping: StoppingRule

    def events(self) -> Iterator[CodebookStep]:
        def stop(frame: CodebookStep) -> torch.Tensor:
            codes = self.stopping(self.emit.buffer.view, frame.tokens.reshape(-1))  # length and time, per channel row
            codes = codes.view(frame.tokens.shape)[:, 0]
            ended = ~self.emit.channel_running.view(frame.tokens.shape).any(-1)
            return torch.where(ended, FinishReason.EOS.code, codes).to(torch.int8)

        self.stopping.start()
        return decode(self.step, self.emit, stop, self.step.rows, self.step.device)

    def stream(self) -> Iterator[CodebookStep]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        rows, channels = self.step.rows, self.step.channels
        sequences = self.emit.buffer.view.view(rows, channels, -1).transpose(1, 2)
        return Generation(sequences=sequences, logprobs=collected.logprobs.transpose(1, 2),
                          finish_reasons=collected.finish_reasons, lengths=collected.lengths,
                          prompt_length=self.step.prompt.shape[1], timings=collected.timings)


def decoder_prompt(model: torch.nn.Module, inputs: dict[str, torch.Tensor], rows: int, start: int,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(delay mask (rows, T, C), prompt (rows, T0, C), decoder mask (rows, T0)), as generate prepares them.

    The delay mask is the ``decoder_input_ids`` given (an all-``start`` column without one); the
    prompt its columns up to the first free column of channel 0 (T0 = T - the most pad ids any row
    has in channel 0). Without a ``decoder_attention_mask`` the decoder mask is all ones.
    """
    decoder = model.config.decoder_config
    delay_mask = inputs.get("decoder_input_ids")
    if delay_mask is None:
        delay_mask = torch.full((rows, 1, decoder.num_channels), start, dtype=torch.long, device=device)
    delay_mask = delay_mask.long()
    mask = inputs.get("decoder_attention_mask") if "decoder_input_ids" in inputs else None
    if mask is None:
        mask = torch.ones(delay_mask.shape[:2], dtype=torch.long, device=device)
    prompt_length = delay_mask.shape[1] - int((delay_mask[:, :, 0] == decoder.pad_token_id).sum(-1).max())
    return delay_mask, delay_mask[:, :prompt_length], mask[:, :prompt_length].long()


def dia_processors(model: torch.nn.Module, options: GenerationOptions, context: ProcessorContext,
                   guidance: float | None) -> list[Processor]:
    """Dia's order (``DiaGenerationMixin._get_logits_processor``): guidance first; the generation
    processors; Dia's temperature and channel filter where a call's own processors go; the sampling
    warpers; the delayed EOS last."""
    decoder = model.config.decoder_config
    own = [make_temperature(options.temperature)] if options.temperature != 1.0 else []
    own.append(make_channel_filter(decoder.num_channels, decoder.eos_token_id))
    processors = build_processors(dataclasses.replace(options, temperature=1.0), context, own)
    if not options.do_sample:
        processors = for_greedy(processors)
    if guidance is not None and guidance != 1:
        processors.insert(0, make_dia_guidance(guidance, options.top_k))
    processors.append(DelayedEos(list(model.config.delay_pattern), decoder.eos_token_id, context.max_length,
                                 context.device))
    return processors


class Dia(Family):
    """Dia: C delayed DAC channels per frame from a text encoder-decoder, with Dia's guidance and EOS rules."""

    name = "dia"
    options = frozenset({"guidance_scale"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, DiaForConditionalGeneration)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> DiaRun:
        """Check the call and build its roles; raises `OptionError` before any compute."""
        options = resolve_options(model.generation_config, call.options)
        if options.is_beam_search or options.num_return_sequences > 1:
            raise OptionError("Dia decodes one sequence per input, greedily or by sampling (transformers refuses beam "
                              "search and num_return_sequences > 1 for it too): pass num_beams=1.")
        if options.logits_processor:
            raise OptionError("logits_processor=[...] has no effect on Dia in transformers (its generate replaces the "
                              "list with its own): leave it out.")
        if options.temperature < 1.0:  # transformers clamps it, with a warning
            options = dataclasses.replace(options, temperature=1.0)
        guidance = call.family_options.get("guidance_scale", getattr(model.generation_config, "guidance_scale", None))
        inputs = checked_inputs(call, tokenizer, INPUTS, "Dia", "from DiaProcessor", left=False)
        device = model.device
        inputs = {k: v.to(device) for k, v in inputs.items()}
        input_ids = inputs["input_ids"]
        rows = input_ids.shape[0]
        attention_mask = inputs.get("attention_mask")
        decoder = model.config.decoder_config
        start = options.decoder_start_token_id if options.decoder_start_token_id is not None else options.bos_token_id
        delay_mask, prompt, prompt_mask = decoder_prompt(model, inputs, rows, int(start), device)
        length = prompt.shape[1]
        max_length = (length + options.max_new_tokens if options.max_new_tokens is not None
                      else options.max_length + max(model.config.delay_pattern))
        if max_length <= length:
            raise OptionError(f"max_length={max_length} leaves no step after the {length}-column decoder prompt: pass "
                              "max_new_tokens=...")
        channels = decoder.num_channels
        eos = torch.tensor(options.eos_token_id, device=device) if options.eos_token_id else None
        context = ProcessorContext(prompt_length=length, max_length=max_length, eos_token_ids=eos,
                                   encoder_input_ids=None, prompt_padding=None, num_beams=1, device=device)
        processors = dia_processors(model, options, context, guidance)
        select = Sampler(row_seeds(options.seed, rows, channels, device)) if options.do_sample else greedy
        decoder_mask = torch.ones(rows, max_length, dtype=torch.long, device=device)
        decoder_mask[:, :length] = prompt_mask
        step = DiaStep(model, input_ids, attention_mask, prompt, decoder_mask, guidance is not None and guidance != 1)
        by_channel = prompt.transpose(1, 2).reshape(rows * channels, length)
        buffer = TokenBuffer(by_channel, max_length, decoder.pad_token_id)
        emit = ChannelEmitter(buffer, delay_mask.transpose(1, 2).reshape(rows * channels, -1), processors, select, eos,
                              decoder.pad_token_id, channels)
        return DiaRun(step, emit, StoppingRule(None, max_length, options.max_time))


__all__ = ["ChannelEmitter", "Dia", "DiaRun", "DiaStep", "decoder_prompt", "dia_processors"]
