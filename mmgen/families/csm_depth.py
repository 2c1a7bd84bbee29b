"""CSM's depth decoder: the codebooks 1..K-1 of one frame, from the backbone's state and codebook 0.

Sesame's CSM (transformers ``models/csm/generation_csm.py``, ``CsmGenerationMixin._sample``) makes
each audio frame in two stages: the backbone predicts codebook 0, then a small depth transformer
(``CsmDepthDecoderForCausalLM``) generates the other K - 1 codebooks one after another, from a
two-position prompt: a placeholder whose embedding is replaced by the backbone's last hidden state,
then codebook 0. transformers runs it as a nested ``depth_decoder.generate`` with the depth
decoder's own generation config (``depth_decoder_*`` options of the call update it), exactly
K - 1 new tokens. `DepthDecoder.codebooks` runs the same generation through mmgen's token loop
(`mmgen.core.decode.decode_tokens`) over `DepthStep`, the depth decoder's public ``forward``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mmgen.core.decode import Processor, Selector, TokenBuffer, decode_tokens
from mmgen.core.model_step import ModelStep
from mmgen.core.options import GenerationOptions, OptionError, resolve_options
from mmgen.core.selectors import Sampler, greedy
from mmgen.core.stopping import StoppingRule
from mmgen.inputs.prompts import attention_mask_for
from mmgen.processors import ProcessorContext, build_processors, for_greedy

PLACEHOLDER = 0  # position 0 of the depth prompt; its embedding is replaced by the backbone's state
DEPTH_PREFIX = "depth_decoder_"


class DepthStep(ModelStep):
    """The depth decoder over one frame. prompt: (rows, 2) [placeholder, codebook 0]; backbone_state:
    (rows, backbone_hidden). ``step(tokens)``: (rows,) the codebook just chosen. Outputs: (rows, vocab)
    float32 logits of the next codebook (``logits_to_keep=1`` picks its position's head).

    attention_mask: (rows, 2) as ``generate`` infers it from the pad id, or None when it is all ones
    (``generate`` then passes none); grown by a column of ones per step.
    """

    def __init__(self, depth: torch.nn.Module, prompt: torch.Tensor, backbone_state: torch.Tensor,
                 attention_mask: torch.Tensor | None):
        super().__init__(depth)
        self.prompt = prompt
        self.backbone_state = backbone_state
        self.mask = attention_mask

    def _forward(self, input_ids: torch.Tensor, **first: Any) -> torch.Tensor:
        if self.mask is not None:
            first["attention_mask"] = self.mask
        return self._logits(self.model(input_ids=input_ids, cache=self.cache, use_cache=True, logits_to_keep=1,
                                       return_dict=True, **first))

    def prefill(self) -> torch.Tensor:
        return self._forward(self.prompt, backbone_last_hidden_state=self.backbone_state)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.mask is not None:
            self.mask = F.pad(self.mask, (0, 1), value=1)
        return self._forward(tokens[:, None])


def depth_options(depth: torch.nn.Module, codebooks: int, user: dict[str, Any]) -> GenerationOptions:
    """The depth decoder's options: its ``generation_config`` updated with the call's ``depth_decoder_*``
    options (prefix removed), exactly ``codebooks - 1`` new tokens, as ``CsmGenerationMixin`` sets them."""
    wanted = codebooks - 1
    for name in ("min_new_tokens", "max_new_tokens"):
        value = user.get(name, getattr(depth.generation_config, name, None))
        if value is not None and value != wanted:
            raise OptionError(f"{DEPTH_PREFIX}{name}={value}: the depth decoder makes the other {wanted} codebooks of "
                              f"each frame, no more, no fewer: leave {DEPTH_PREFIX}{name} out (or pass {wanted}).")
    if user.get("num_beams", 1) != 1 or user.get("num_return_sequences", 1) != 1:
        raise OptionError(f"{DEPTH_PREFIX}num_beams / {DEPTH_PREFIX}num_return_sequences: the depth decoder decodes "
                          "one sequence per frame, greedily or by sampling; leave them out.")
    return resolve_options(depth.generation_config, {**user, "min_new_tokens": wanted, "max_new_tokens": wanted})


@dataclass
class DepthDecoder:
    """The depth decoder of one call: its options, processors and selector, built once.

    seeds: (rows,) int64 row seeds when it samples (each frame draws from ``seeds`` mixed with the
    frame's index, so frames do not repeat their noise), else None.
    """

    model: torch.nn.Module
    options: GenerationOptions
    processors: list[Processor]
    eos_token_ids: torch.Tensor | None
    pad_token_id: int | None  # generate's pad id (the first EOS id without one): what infers the prompt's mask
    seeds: torch.Tensor | None

    @classmethod
    def build(cls, model: torch.nn.Module, codebooks: int, user: dict[str, Any], seeds: torch.Tensor | None,
              device: torch.device) -> DepthDecoder:
        options = depth_options(model, codebooks, user)
        eos = torch.tensor(options.eos_token_id, device=device) if options.eos_token_id else None
        # generate's pad falls back to the first EOS id; the depth prompt's mask is inferred from it.
        pad = options.pad_token_id if options.pad_token_id is not None else (
            options.eos_token_id[0] if options.eos_token_id else None)
        context = ProcessorContext(prompt_length=2, max_length=codebooks + 1, eos_token_ids=eos,
                                   encoder_input_ids=None, prompt_padding=None, num_beams=1, device=device)
        processors = build_processors(options, context)
        if not options.do_sample:
            processors = for_greedy(processors)
            seeds = None
        return cls(model, options, processors, eos, pad, seeds)

    def _selector(self, frame: int) -> Selector:
        if self.seeds is None:
            return greedy
        return Sampler(self.seeds * 1_000_033 + frame + 1)

    def codebooks(self, first: torch.Tensor, backbone_state: torch.Tensor,
                  frame: int) -> tuple[torch.Tensor, torch.Tensor]:
        """first: (rows,) codebook 0; backbone_state: (rows, hidden) -> ((rows, K - 1) codebooks 1..K-1,
        (rows, K - 1) their log-probabilities under the processed distribution)."""
        prompt = F.pad(first[:, None], (1, 0), value=PLACEHOLDER)
        mask = None
        if self.pad_token_id is not None:  # generate infers a mask from the pad id, and drops it when all ones
            mask = attention_mask_for(prompt, self.pad_token_id, self.options.eos_token_id)
            mask = None if bool(mask.all()) else mask
        step = DepthStep(self.model, prompt, backbone_state, mask)
        codebooks = self.options.max_new_tokens
        fill = self.pad_token_id if self.pad_token_id is not None else PLACEHOLDER  # never read: no row ends early
        buffer = TokenBuffer(prompt, 2 + codebooks, fill)
        stopping = StoppingRule(self.eos_token_ids, 2 + codebooks)
        steps = decode_tokens(step, buffer, self.processors, self._selector(frame), stopping, fill)
        logprobs = torch.stack([s.logprobs for s in steps], dim=-1)
        return buffer.view[:, 2:], logprobs


__all__ = ["DEPTH_PREFIX", "DepthDecoder", "DepthStep", "depth_options"]
