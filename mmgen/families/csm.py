"""CSM (``CsmForConditionalGeneration``, Sesame's Conversational Speech Model): a backbone, a depth decoder, Mimi.

Its ``generate`` is its own (transformers ``models/csm/generation_csm.py``). Each step makes one
audio frame of K codebooks:
  1. the backbone (a Llama over text, audio context and the frames so far) gives the logits of
     codebook 0 and its last hidden state; the call's processors and selector pick codebook 0;
  2. the depth decoder generates codebooks 1..K-1 from that state and codebook 0
     (`mmgen.families.csm_depth`);
  3. the frame (rows, K) is what the backbone reads next (its embeddings of the K codes, summed).
A row ends when a frame's codebooks, all but the last, are ``codebook_eos_token_id``; rows that
ended get ``codebook_pad_token_id`` frames when the generation config has an ``eos_token_id``
(else they go on with real frames, as in transformers). Only the length criterion is kept
besides: ``max_new_tokens`` counts frames. Beam search is refused, as transformers refuses it.

The model step runs the model's public ``forward``: the prompt (text ids, and the audio context
``input_values`` / ``input_values_cutoffs`` the processor makes, which the model encodes with
Mimi) once, then one frame per row per step, with the mask and positions ``generate`` feeds.
``Generation.sequences`` is what ``model.generate`` returns: (rows, frames, K) codes; with
``output_audio=True`` (as in transformers; off by default there and here), ``audio`` per row is
its waveform: the frames before the first all-EOS frame, through ``codec_model.decode``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import CsmForConditionalGeneration

from mmgen.core.collect import Collected
from mmgen.core.decode import Processor, Selector, TokenBuffer, apply_processors
from mmgen.core.frames import CodebookStep, FinishReason
from mmgen.core.loop import decode
from mmgen.core.options import OptionError, resolve_options
from mmgen.core.results import Generation
from mmgen.core.selectors import Sampler, greedy, row_seeds
from mmgen.core.stopping import StoppingRule
from mmgen.families.csm_depth import DEPTH_PREFIX, DepthDecoder
from mmgen.families.family import Family
from mmgen.families.frame_backbone import FrameBackboneStep
from mmgen.families.prepared import Call, checked_inputs
from mmgen.processors import ProcessorContext, build_processors, for_greedy

PROMPT_INPUTS = ("input_ids", "attention_mask", "input_values", "input_values_cutoffs")


class BackboneStep(FrameBackboneStep):
    """The backbone over the prompt, then one frame per row.

    input_ids, attention_mask: (rows, prompt) left-padded text (with audio placeholders for
    ``audio_inputs``: ``input_values``, ``input_values_cutoffs``, encoded by the model at the
    prefill). ``step(frame)``: (rows * K,) the frame each row produced. Outputs: ((rows, vocab)
    float32 logits of codebook 0, (rows, hidden) the last position's final hidden state).
    As ``generate``: positions from the mask, the mask dropped when it has no padding.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 audio_inputs: dict[str, torch.Tensor], max_frames: int):
        super().__init__(model, input_ids, attention_mask, max_frames)
        self.audio_inputs = audio_inputs
        self.codebooks = model.config.num_codebooks
        self.padded = bool((attention_mask == 0).any())

    def _forward(self, input_ids: torch.Tensor, **prompt: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.padded:
            prompt["attention_mask"] = self.mask_so_far()
        outputs = self.model(input_ids=input_ids, position_ids=self.positions, cache=self.cache, use_cache=True,
                             logits_to_keep=1, output_hidden_states=True, return_dict=True, **prompt)
        return self._logits(outputs), outputs.hidden_states[-1][:, -1]

    def prefill(self) -> tuple[torch.Tensor, torch.Tensor]:
        output = self._forward(self.input_ids, **self.audio_inputs)
        self.prompt_fed()
        return output

    def step(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.next_frame()
        return self._forward(frame.view(self.rows, 1, self.codebooks))


class FrameEmitter:
    """Backbone output -> a `CodebookStep`: codebook 0 chosen, the depth decoder's K - 1 after it.

    first_buffer: (rows, frames) codebook 0 of every frame so far, what the call's processors read
    (transformers hands them the prompt, then the (rows, frames, K) codes; for greedy decoding
    with the default options none is active). frames: (rows, max_frames, K) the frames, as the
    backbone consumed them. pad_finished: rows that ended get ``pad_token_id`` frames.
    """

    def __init__(self, depth: DepthDecoder, first_buffer: TokenBuffer, frames: torch.Tensor,
                 processors: list[Processor], select: Selector, pad_finished: bool, pad_token_id: int):
        self.depth = depth
        self.first_buffer = first_buffer
        self.frames = frames
        self.processors = processors
        self.select = select
        self.pad_finished = pad_finished
        self.pad_token_id = pad_token_id

    def __call__(self, output: tuple[torch.Tensor, torch.Tensor], index: int, running: torch.Tensor) -> CodebookStep:
        logits, state = output
        scores = apply_processors(self.processors, self.first_buffer.view, logits)
        first = self.select(scores, index)
        first_logprob = torch.log_softmax(scores, dim=-1).gather(-1, first[:, None])
        rest, rest_logprobs = self.depth.codebooks(first, state, index)
        frame = torch.cat([first[:, None], rest], dim=1)
        if self.pad_finished:
            frame = torch.where(running[:, None], frame, self.pad_token_id)
        self.first_buffer.append(frame[:, 0])
        self.frames[:, index] = frame
        logprobs = torch.where(running[:, None], torch.cat([first_logprob, rest_logprobs], dim=1), 0.0)
        return CodebookStep(index=index, tokens=frame, codes=frame, logprobs=logprobs, active=running,
                            finish_codes=torch.zeros_like(running, dtype=torch.int8))


@dataclass
class CsmRun:
    """One CSM call (a `mmgen.core.collect.Run`), its roles built before any compute.

    ``result``: ``sequences`` (rows, frames, K) the codes ``model.generate`` returns; ``logprobs``
    (rows, frames, K) of those codes; ``audio`` per row, (samples,) at ``sampling_rate`` (None with
    ``output_audio=True`` only); ``lengths`` each row's frames, its all-EOS frame included.
    """

    model: torch.nn.Module
    step: BackboneStep
    emit: FrameEmitter
    stopping: StoppingRule
    output_audio: bool

    def events(self) -> Iterator[CodebookStep]:
        eos = self.model.config.codebook_eos_token_id

        def stop(frame: CodebookStep) -> torch.Tensor:
            codes = self.stopping(self.emit.first_buffer.view, frame.tokens[:, 0])  # length and time
            ended = (frame.tokens[:, :-1] == eos).all(-1)  # transformers' check leaves the last codebook out
            return torch.where(ended, FinishReason.EOS.code, codes).to(torch.int8)

        self.stopping.start()
        return decode(self.step, self.emit, stop, self.step.rows, self.step.device)

    def stream(self) -> Iterator[CodebookStep]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        frames = self.emit.frames[:, : self.emit.first_buffer.length]
        logprobs = collected.logprobs.transpose(1, 2)  # (rows, K, steps) -> (rows, steps, K)
        audio = tuple(decode_audio(self.model, row) for row in frames) if self.output_audio else None
        rate = int(self.model.config.codec_config.sampling_rate) if self.output_audio else None
        return Generation(sequences=frames, logprobs=logprobs, finish_reasons=collected.finish_reasons,
                          lengths=collected.lengths, prompt_length=0, timings=collected.timings, audio=audio,
                          sampling_rate=rate)


def decode_audio(model: torch.nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """(frames, K) one row's codes -> (samples,): the frames before the first all-EOS one, through Mimi
    (``codec_model.decode``), as ``generate(output_audio=True)`` decodes each row."""
    ended = (frames == model.config.codebook_eos_token_id).all(-1).nonzero()
    if ended.numel():
        frames = frames[: int(ended.min())]
    with torch.inference_mode():
        return model.codec_model.decode(frames.transpose(0, 1)[None]).audio_values[0, 0]


class Csm(Family):
    """CSM: a frame of K codebooks per step (backbone, then depth decoder), Mimi to audio."""

    name = "csm"
    options = frozenset({"output_audio"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, CsmForConditionalGeneration)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> CsmRun:
        """Check the call and build its roles; raises `OptionError` before any compute."""
        depth_user = {k[len(DEPTH_PREFIX):]: v for k, v in call.options.items() if k.startswith(DEPTH_PREFIX)}
        user = {k: v for k, v in call.options.items() if not k.startswith(DEPTH_PREFIX)}
        options = resolve_options(model.generation_config, user)
        if options.is_beam_search:
            raise OptionError("CSM decodes greedily or by sampling (transformers refuses beam search for it too): "
                              "pass num_beams=1.")
        inputs = checked_inputs(call, tokenizer, PROMPT_INPUTS, "CSM", "from its processor's chat template", left=True)
        device = model.device
        per_input = options.num_return_sequences
        inputs = {k: v.to(device).repeat_interleave(per_input, dim=0) for k, v in inputs.items()}
        input_ids = inputs.pop("input_ids")
        mask = inputs.pop("attention_mask", torch.ones_like(input_ids))
        rows, prompt = input_ids.shape
        frames = options.max_new_tokens if options.max_new_tokens is not None else options.max_length - prompt
        if frames < 1:
            raise OptionError(f"max_length={options.max_length} leaves no frame after the {prompt}-token prompt: pass "
                              "max_new_tokens=... (the number of audio frames to make).")

        codebooks = model.config.num_codebooks
        seeds = row_seeds(options.seed, rows // per_input, per_input, device) if options.do_sample else None
        depth_seeds = None
        if depth_user.get("do_sample", model.depth_decoder.generation_config.do_sample):
            depth_seeds = row_seeds(depth_user.pop("seed", options.seed), rows // per_input, per_input, device)
        depth = DepthDecoder.build(model.depth_decoder, codebooks, depth_user, depth_seeds, device)
        first_buffer = TokenBuffer(input_ids[:, :0], frames, model.config.codebook_pad_token_id)
        context = ProcessorContext(prompt_length=0, max_length=frames, eos_token_ids=None, encoder_input_ids=None,
                                   prompt_padding=None, num_beams=1, device=device)
        processors = build_processors(options, context)
        if not options.do_sample:
            processors = for_greedy(processors)
        select = Sampler(seeds) if seeds is not None else greedy
        step = BackboneStep(model, input_ids, mask, inputs, frames)
        store = torch.zeros(rows, frames, codebooks, dtype=torch.long, device=device)
        emit = FrameEmitter(depth, first_buffer, store, processors, select, options.eos_token_id is not None,
                            model.config.codebook_pad_token_id)
        stopping = StoppingRule(None, frames, options.max_time)
        return CsmRun(model, step, emit, stopping, bool(call.family_options.get("output_audio", False)))


__all__ = ["BackboneStep", "Csm", "CsmRun", "FrameEmitter", "decode_audio"]
