"""Higgs Audio V2 (``HiggsAudioV2ForConditionalGeneration``): a Llama with an audio head, K delayed codebooks.

Its ``generate`` is its own (transformers ``models/higgs_audio_v2/generation_higgs_audio_v2.py``).
The prompt is text (a chat template ending in the audio-out BOS id), optionally with audio
frames in place of its audio placeholders (``audio_input_ids`` (rows, frames, K) and their
``audio_input_ids_mask``). Each step gives (rows, K * codebook_size) logits; after the prompt the
model reads only the newest audio frame (rows, 1, K). Per step:
  1. the delay pattern (`mmgen.families.higgs_audio_delay`), then the sampling warpers
     (temperature, top-k, top-p; transformers refuses every other processor, and so does mmgen);
  2. one code per codebook; with ``ras_win_len`` / ``ras_win_max_num_repeat`` in the generation
     config, a code repeated that often in the window is drawn again from the raw logits
     (repetition-aware sampling; mmgen draws with its seeded sampler, so it is not
     ``model.generate``'s draw);
  3. rows that ended (with an ``eos_token_id``) get the stream-EOS code in every codebook;
  4. the text id generate keeps beside the audio: the audio placeholder, the delay id once a
     codebook has reached the stream EOS (and ever after), EOS when all have; a row ends on EOS.
``Generation.sequences`` is ``model.generate``'s output: (rows, prompt frames + new frames, K),
the prompt's audio frames first (``prompt_length`` of them). The codes are not decoded to audio:
transformers leaves that to the processor's audio tokenizer, which the model does not hold.
Beam search is refused, as transformers refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import HiggsAudioV2ForConditionalGeneration

from mmgen.core.collect import Collected
from mmgen.core.decode import Processor, Selector, TokenBuffer, apply_processors
from mmgen.core.frames import CodebookStep
from mmgen.core.loop import decode
from mmgen.core.options import GenerationOptions, OptionError, resolve_options
from mmgen.core.results import Generation
from mmgen.core.selectors import Sampler, greedy, row_seeds
from mmgen.core.stopping import StoppingRule
from mmgen.families.family import Family
from mmgen.families.frame_backbone import FrameBackboneStep
from mmgen.families.higgs_audio_delay import HiggsDelayPattern
from mmgen.families.prepared import Call, checked_inputs
from mmgen.processors import ProcessorContext, build_processors

INPUTS = ("input_ids", "attention_mask", "audio_input_ids", "audio_input_ids_mask")
# Options whose processors transformers refuses for Higgs Audio (they read text ids to index codebook logits).
REFUSED = {
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "sequence_bias": None, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "exponential_decay_length_penalty": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
    "renormalize_logits": False, "logits_processor": (),
}


def check_processors(options: GenerationOptions) -> None:
    """transformers keeps only temperature, top-k, top-p and inf/nan removal for Higgs Audio's codebook logits."""
    for name, neutral in REFUSED.items():
        if getattr(options, name) not in (neutral, None):
            raise OptionError(f"{name}={getattr(options, name)!r}: Higgs Audio generates codebook logits, and only "
                              "temperature, top_k, top_p and remove_invalid_values apply to them (transformers refuses "
                              f"the rest too): leave {name} out.")
    if options.eos_token_id and (options.min_length > 0 or (options.min_new_tokens or 0) > 0):
        raise OptionError("min_length / min_new_tokens: Higgs Audio's end is its audio stream's end, not an EOS token "
                          "to hold back (transformers refuses them too): leave them out.")


class HiggsStep(FrameBackboneStep):
    """The prompt (text, with prompt audio frames in its placeholders), then one audio frame per row.

    input_ids, attention_mask: (rows, prompt) left-padded. audio: ``audio_input_ids`` (rows, frames,
    K) and ``audio_input_ids_mask`` (rows, frames) of the prompt, or empty. ``step(frame)``:
    (rows * K,) the newest frame. Outputs: (rows, K * codebook_size) float32 logits. As ``generate``:
    positions from the mask, the mask dropped when it has no padding.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 audio: dict[str, torch.Tensor], max_frames: int):
        super().__init__(model, input_ids, attention_mask, max_frames)
        self.audio = audio
        self.codebooks = model.config.num_codebooks
        self.padded = bool((attention_mask == 0).any())

    def _forward(self, **inputs: Any) -> torch.Tensor:
        if self.padded:
            inputs["attention_mask"] = self.mask_so_far()
        return self._logits(self.model(**inputs, position_ids=self.positions, cache=self.cache, use_cache=True,
                                       logits_to_keep=1, return_dict=True))

    def prefill(self) -> torch.Tensor:
        logits = self._forward(input_ids=self.input_ids, **self.audio)
        self.prompt_fed()
        return logits

    def step(self, frame: torch.Tensor) -> torch.Tensor:
        self.next_frame()
        return self._forward(audio_input_ids=frame.view(self.rows, 1, self.codebooks))


@dataclass(frozen=True)
class RepetitionAwareSampling:
    """A code that appears ``max_repeat`` times among its codebook's last ``window`` frames is drawn again
    from the softmax of the raw logits (Higgs Audio's RAS). ``seeds``: (rows * K,) for the redraw."""

    window: int
    max_repeat: int
    seeds: torch.Tensor
    stream_ids: tuple[int, int]

    def __call__(self, codes: torch.Tensor, frames: torch.Tensor, logits: torch.Tensor, index: int) -> torch.Tensor:
        """codes: (rows, K) chosen; frames: (rows, frames so far, K); logits: (rows * K, codebook_size) raw."""
        if frames.shape[1] == 0:
            return codes
        recent = frames[:, -self.window:]
        counted = (recent == codes[:, None]) & (recent != self.stream_ids[0]) & (recent != self.stream_ids[1])
        again = counted.sum(1) >= self.max_repeat
        redrawn = Sampler(self.seeds)(logits, index).view(codes.shape)
        return torch.where(again, redrawn, codes)


class HiggsEmitter:
    """Logits -> delay pattern and warpers -> K codes per row (`CodebookStep`), and the text id beside them.

    text: (rows, prompt + frames) the text ids ``generate`` grows (the processors read them).
    frames: (rows, prompt frames + frames, K) every frame, the prompt's first.
    """

    def __init__(self, model: torch.nn.Module, text: TokenBuffer, frames: torch.Tensor, prompt_frames: int,
                 processors: list[Processor], select: Selector, ras: RepetitionAwareSampling | None,
                 pad_finished: bool):
        config = model.config
        self.config = config
        self.text = text
        self.frames = frames
        self.length = prompt_frames
        self.processors = processors
        self.select = select
        self.ras = ras
        self.pad_finished = pad_finished

    def __call__(self, logits: torch.Tensor, index: int, running: torch.Tensor) -> CodebookStep:
        c = self.config
        scores = apply_processors(self.processors, self.text.view, logits)  # (rows * K, codebook_size)
        shape = (running.shape[0], c.num_codebooks)
        codes = self.select(scores, index).view(shape)
        if self.ras is not None:
            codes = self.ras(codes, self.frames[:, : self.length], logits.view(-1, c.codebook_size), index)
        if self.pad_finished:
            codes = torch.where(running[:, None], codes, c.audio_stream_eos_id)
        logprobs = torch.log_softmax(scores, dim=-1).gather(-1, codes.view(-1, 1)).view(shape)
        ended = codes == c.audio_stream_eos_id
        text = torch.where(ended.any(-1) | (self.text.view[:, -1] == c.audio_delay_token_id), c.audio_delay_token_id,
                           c.audio_token_id)
        if c.eos_token_id is not None:
            text = torch.where(ended.all(-1), c.eos_token_id, text)
        self.text.append(text)
        self.frames[:, self.length] = codes
        self.length += 1
        return CodebookStep(index=index, tokens=codes, codes=codes,
                            logprobs=torch.where(running[:, None], logprobs, 0.0),
                            active=running, finish_codes=torch.zeros_like(running, dtype=torch.int8))


@dataclass
class HiggsRun:
    """One Higgs Audio call (a `mmgen.core.collect.Run`), its roles built before any compute.

    ``result``: ``sequences`` (rows, prompt frames + new frames, K) what ``model.generate`` returns;
    ``prompt_length`` the prompt's frames; ``logprobs`` (rows, new frames, K); ``lengths`` each row's
    new frames, its all-stream-EOS frame included.
    """

    step: HiggsStep
    emit: HiggsEmitter
    stopping: StoppingRule
    prompt_frames: int

    def events(self) -> Iterator[CodebookStep]:
        def stop(frame: CodebookStep) -> torch.Tensor:
            return self.stopping(self.emit.text.view, self.emit.text.view[:, -1])  # EOS text id, length, time

        self.stopping.start()
        return decode(self.step, self.emit, stop, self.step.rows, self.step.device)

    def stream(self) -> Iterator[CodebookStep]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        return Generation(sequences=self.emit.frames[:, : self.emit.length],
                          logprobs=collected.logprobs.transpose(1, 2),
                          finish_reasons=collected.finish_reasons, lengths=collected.lengths,
                          prompt_length=self.prompt_frames, timings=collected.timings)


def ras_settings(model: torch.nn.Module, family_options: dict[str, Any]) -> tuple[int, int] | None:
    """(window, max repeats) of repetition-aware sampling: the call's, else the generation config's, else off."""
    values = [family_options.get(name, getattr(model.generation_config, name, None))
              for name in ("ras_win_len", "ras_win_max_num_repeat")]
    return (int(values[0]), int(values[1])) if None not in values else None


class HiggsAudio(Family):
    """Higgs Audio V2: K delayed codebooks per frame from a Llama with dual (text / audio) FFNs."""

    name = "higgs-audio-v2"
    options = frozenset({"ras_win_len", "ras_win_max_num_repeat"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, HiggsAudioV2ForConditionalGeneration)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> HiggsRun:
        """Check the call and build its roles; raises `OptionError` before any compute."""
        options = resolve_options(model.generation_config, call.options)
        if options.is_beam_search:
            raise OptionError("Higgs Audio decodes greedily or by sampling (transformers refuses beam search for it "
                              "too): pass num_beams=1.")
        check_processors(options)
        inputs = checked_inputs(call, tokenizer, INPUTS, "Higgs Audio", "from its processor's chat template",
                                left=True)
        device = model.device
        per_input = options.num_return_sequences
        inputs = {k: v.to(device).repeat_interleave(per_input, dim=0) for k, v in inputs.items()}
        input_ids = inputs.pop("input_ids")
        mask = inputs.pop("attention_mask", torch.ones_like(input_ids))
        rows, prompt = input_ids.shape
        max_length = prompt + options.max_new_tokens if options.max_new_tokens is not None else options.max_length
        if max_length <= prompt:
            raise OptionError(f"max_length={max_length} leaves no frame after the {prompt}-token prompt: pass "
                              "max_new_tokens=... (the number of audio frames to make).")
        config = model.config
        prompt_audio = inputs.get("audio_input_ids")
        prompt_frames = prompt_audio.shape[1] if prompt_audio is not None else 0
        frames = torch.zeros(rows, prompt_frames + max_length - prompt, config.num_codebooks, dtype=torch.long,
                             device=device)
        if prompt_audio is not None:
            frames[:, :prompt_frames] = prompt_audio

        context = ProcessorContext(prompt_length=prompt, max_length=max_length, eos_token_ids=None,
                                   encoder_input_ids=None, prompt_padding=None, num_beams=1, device=device)
        delay = HiggsDelayPattern(config.num_codebooks, config.codebook_size, config.audio_bos_token_id,
                                  config.audio_delay_token_id, config.audio_stream_bos_id, config.audio_stream_eos_id)
        processors = [delay, *build_processors(options, context)]
        ras = ras_settings(model, call.family_options)
        seeds = None
        if options.do_sample or ras is not None:  # one seed per (row, codebook)
            seeds = row_seeds(options.seed, rows // per_input, per_input * config.num_codebooks, device)
        select = Sampler(seeds) if options.do_sample else greedy
        ras_rule = None
        if ras is not None:
            ras_rule = RepetitionAwareSampling(ras[0], ras[1], seeds * 31 + 7,
                                               (config.audio_stream_bos_id, config.audio_stream_eos_id))
        eos = torch.tensor(options.eos_token_id, device=device) if options.eos_token_id else None
        step = HiggsStep(model, input_ids, mask, inputs, max_length - prompt)
        emit = HiggsEmitter(model, TokenBuffer(input_ids, max_length, config.audio_token_id), frames, prompt_frames,
                            processors, select, ras_rule, eos is not None)
        return HiggsRun(step, emit, StoppingRule(eos, max_length, options.max_time), prompt_frames)


__all__ = ["HiggsAudio", "HiggsEmitter", "HiggsRun", "HiggsStep", "RepetitionAwareSampling", "check_processors"]
