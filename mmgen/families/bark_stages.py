"""Bark's three stages, each as transformers' ``BarkModel.generate`` runs it (``models/bark/modeling_bark.py``).

- semantic: the text (offset into the semantic model's input vocabulary, padding replaced by its
  pad id) plus a speaker's semantic history, summed embeddings, then an "infer" embedding, feed a
  causal LM that writes semantic tokens until EOS (`semantic_prompt`, `semantic_processors`);
- coarse: sliding windows over the semantic tokens; in each, a causal LM writes the first two
  EnCodec codebooks interleaved (codebook 0, codebook 1, ...) after the window and the codes
  so far (`coarse_window`, `alternating_codebooks`);
- fine: a non-causal model fills codebooks 2..7 from the coarse ones, one codebook per forward
  over fixed windows (`fine_codes`): no decoding loop, an argmax (or a draw) per position.
The two token stages run through mmgen's token decoding; this module builds their inputs and
processors, and runs the fine stage on the model's public ``forward``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from transformers import GenerationConfig
from transformers.models.bark.generation_configuration_bark import (
    BarkCoarseGenerationConfig,
    BarkFineGenerationConfig,
    BarkSemanticGenerationConfig,
)

from mmgen.core.decode import Processor
from mmgen.core.options import OPTION_NAMES, OptionError
from mmgen.core.selectors import Sampler

NEG_INF = -float("inf")
STAGE_CONFIGS = (("semantic_config", BarkSemanticGenerationConfig),
                 ("coarse_acoustics_config", BarkCoarseGenerationConfig),
                 ("fine_acoustics_config", BarkFineGenerationConfig))


def stage_configs(model: torch.nn.Module) -> tuple[Any, Any, Any]:
    """(semantic, coarse, fine) generation configs from ``model.generation_config``'s three sub-configs (dicts, as
    a checkpoint's ``generation_config.json`` loads them, or config objects)."""
    configs = []
    for name, config_class in STAGE_CONFIGS:
        value = getattr(model.generation_config, name, None)
        if value is None:
            raise OptionError(f"Bark's generation_config has no {name}: load the model with its generation_config.json "
                              "(transformers.BarkGenerationConfig's three sub-configs) or set model.generation_config.")
        configs.append(value if isinstance(value, GenerationConfig) else config_class(**value))
    return tuple(configs)


def stage_options(config: GenerationConfig, user: dict[str, Any]) -> dict[str, Any]:
    """A stage's generation options: its config's (what ``generate(generation_config=...)`` reads), the call's
    over them."""
    own = {name: getattr(config, name) for name in OPTION_NAMES if getattr(config, name, None) is not None}
    return {**own, **user}


# -- semantic ------------------------------------------------------------------------------------------


def semantic_prompt(model: torch.nn.Module, config: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                    history: dict[str, torch.Tensor] | None) -> torch.Tensor:
    """(rows, L + 1, hidden) the semantic model's prompt embeddings, L = ``max_input_semantic_length``.

    input_ids: (rows, L) text ids as ``BarkProcessor`` pads them (to L, on the right).
    """
    length = config.max_input_semantic_length
    rows = input_ids.shape[0]
    ids = input_ids + config.text_encoding_offset
    if attention_mask is not None:
        ids = ids.masked_fill(~attention_mask.bool(), config.text_pad_token)
    if history is not None:
        semantic_history = history["semantic_prompt"][-length:].to(input_ids.device)
        semantic_history = F.pad(semantic_history, (0, length - len(semantic_history)), value=config.semantic_pad_token)
    else:
        semantic_history = torch.full((length,), config.semantic_pad_token, device=input_ids.device, dtype=torch.int)
    semantic_history = semantic_history[None].repeat_interleave(rows, dim=0)
    embed = model.semantic.input_embeds_layer
    infer = torch.full((rows, 1), config.semantic_infer_token, dtype=torch.int, device=input_ids.device)
    return torch.cat([embed(ids[:, :length]) + embed(semantic_history[:, : length + 1]), embed(infer)], dim=1)


def semantic_processors(model: torch.nn.Module, config: Any, min_eos_p: float | None) -> list[Processor]:
    """Bark's two semantic processors, in its order: the ids between the semantic vocabulary and its pad id (and
    past the pad) suppressed; EOS made the only choice once its probability passes ``min_eos_p``."""
    vocab = model.semantic.config.output_vocab_size
    pad = config.semantic_pad_token
    banned = torch.zeros(vocab, dtype=torch.bool)
    banned[config.semantic_vocab_size:pad] = True
    banned[pad + 1:] = True
    eos = config.eos_token_id

    def suppress(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.masked_fill(banned.to(scores.device), NEG_INF)

    def prioritize_eos(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        eos_probability = torch.softmax(scores.float(), dim=-1)[:, eos]
        only_eos = torch.full_like(scores, NEG_INF)
        only_eos[:, eos] = scores[:, eos]
        return torch.where((eos_probability > min_eos_p)[:, None], only_eos, scores)

    return [suppress, prioritize_eos] if min_eos_p else [suppress]


# -- coarse --------------------------------------------------------------------------------------------


def alternating_codebooks(start: int, semantic_vocab_size: int, codebook_size: int) -> Processor:
    """The coarse model's output alternates codebooks: at even steps after ``start`` only codebook 0's ids
    (``[semantic_vocab_size, + codebook_size)``), at odd steps only those after them (transformers'
    ``AlternatingCodebooksLogitsProcessor``)."""
    first_low, first_high = semantic_vocab_size, semantic_vocab_size + codebook_size

    def alternate(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ids = torch.arange(scores.shape[-1], device=scores.device)
        if (tokens.shape[-1] - start) % 2 == 0:
            return scores.masked_fill((ids < first_low) | (ids >= first_high), NEG_INF)
        return scores.masked_fill(ids < first_high, NEG_INF)

    return alternate


class CoarsePlan:
    """The coarse stage's sliding windows over the semantic tokens (``BarkCoarseModel.generate``'s arithmetic).

    semantic: (rows, semantic steps) the semantic stage's new tokens (its pad ids become the coarse stage's).
    ``windows`` windows; each `window` is a prompt (rows, max_coarse_input_length + 1 + history) and a
    number of new tokens; `add` appends a window's new tokens; ``codes`` (rows, generated) at the end.
    """

    def __init__(self, model: torch.nn.Module, semantic_config: Any, coarse_config: Any, semantic: torch.Tensor,
                 codebook_size: int, history: dict[str, torch.Tensor] | None):
        self.config = coarse_config
        semantic = semantic.masked_fill(semantic == semantic_config.semantic_pad_token,
                                        coarse_config.coarse_semantic_pad_token)
        self.ratio = coarse_config.coarse_rate_hz / semantic_config.semantic_rate_hz * coarse_config.n_coarse_codebooks
        self.max_semantic_history = math.floor(coarse_config.max_coarse_history / self.ratio)
        lengths = (semantic != coarse_config.coarse_semantic_pad_token).sum(1)
        lengths = torch.floor(lengths * self.ratio / coarse_config.n_coarse_codebooks)
        self.output_lengths = torch.round(lengths * coarse_config.n_coarse_codebooks).int()
        self.max_generated = int(self.output_lengths.max())
        semantic_history, self.coarse = model.coarse_acoustics.preprocess_histories(
            history_prompt=history, max_coarse_history=coarse_config.max_coarse_history,
            semantic_to_coarse_ratio=self.ratio, batch_size=semantic.shape[0],
            semantic_generation_config=semantic_config, codebook_size=codebook_size)
        self.base_semantic = semantic_history.shape[1]
        self.semantic = torch.hstack([semantic_history.to(semantic.device), semantic])
        self.coarse = self.coarse.to(semantic.device)
        self.history_length = self.coarse.shape[1]
        self.windows = math.ceil(self.max_generated / coarse_config.sliding_window_len)

    @property
    def generated(self) -> int:
        return self.coarse.shape[1] - self.history_length

    def window(self) -> tuple[torch.Tensor, int]:
        """(the next window's prompt (rows, length), its new tokens)."""
        c = self.config
        start = self.base_semantic + round(self.generated / self.ratio)
        window = self.semantic[:, max(0, start - self.max_semantic_history):][:, : c.max_coarse_input_length]
        window = F.pad(window, (0, c.max_coarse_input_length - window.shape[-1]), value=c.coarse_semantic_pad_token)
        infer = torch.full((window.shape[0], 1), c.coarse_infer_token, dtype=window.dtype, device=window.device)
        prompt = torch.hstack([window, infer, self.coarse[:, -c.max_coarse_history:].to(window.dtype)])
        return prompt, min(c.sliding_window_len, self.max_generated - self.generated)

    def add(self, new_tokens: torch.Tensor) -> None:
        self.coarse = torch.hstack([self.coarse, new_tokens.to(self.coarse.dtype)])

    @property
    def codes(self) -> torch.Tensor:
        return self.coarse[:, self.history_length:]


# -- fine ----------------------------------------------------------------------------------------------


def fine_codes(model: torch.nn.Module, semantic_config: Any, coarse_config: Any, fine_config: Any, coarse: torch.Tensor,
               codebook_size: int, history: dict[str, torch.Tensor] | None, temperature: float | None,
               seeds: torch.Tensor | None) -> torch.Tensor:
    """(rows, n_fine_codebooks, frames) all codebooks: the coarse ones, the fine model's after them.

    The windows and fills of ``BarkFineModel.generate``: each window of ``max_fine_input_length`` frames
    (``max_fine_history_length`` apart) gets codebooks n_coarse.. one at a time, an argmax per position
    (a draw at ``temperature`` != 1, from mmgen's seeded sampler with ``seeds`` (rows,)).
    """
    fine = model.fine_acoustics
    n_coarse, n_fine = coarse_config.n_coarse_codebooks, fine_config.n_fine_codebooks
    max_history, max_input = fine_config.max_fine_history_length, fine_config.max_fine_input_length
    coarse = coarse.view(coarse.shape[0], -1, n_coarse)
    coarse = torch.remainder(coarse - semantic_config.semantic_vocab_size, codebook_size)
    rows, frames = coarse.shape[:2]
    codes = F.pad(coarse, (0, n_fine - n_coarse), value=codebook_size)
    n_history = 0
    if history is not None:
        fine_history = history["fine_prompt"].T[None].repeat_interleave(rows, dim=0)[:, -max_history:].to(codes.device)
        codes = torch.cat([fine_history.to(codes.dtype), codes], dim=1)
        n_history = fine_history.shape[1]
    removed = 0
    if codes.shape[1] < max_input:
        removed = max_input - codes.shape[1]
        codes = F.pad(codes, (0, 0, 0, removed), value=codebook_size)
    loops = max(0, math.ceil((frames - (max_input - n_history)) / max_history)) + 1
    draws = 0
    for outer in range(loops):
        start = min(outer * max_history, codes.shape[1] - max_input)
        fill = min(n_history + outer * max_history, codes.shape[1] - max_history)
        relative = fill - start
        window = codes[:, start: start + max_input, :]  # a view: filling it fills ``codes``
        for codebook in range(n_coarse, n_fine):
            logits = fine(codebook, window).logits
            if temperature is None or temperature == 1.0:
                predicted = logits[:, relative:, :codebook_size].argmax(-1)
            else:
                scores = (logits[:, :, :codebook_size] / temperature)[:, relative:max_input].reshape(-1, codebook_size)
                positions = scores.shape[0] // rows
                predicted = Sampler(seeds.repeat_interleave(positions) * 7_919 + torch.arange(
                    scores.shape[0], device=scores.device) % positions)(scores, draws).view(rows, -1)
                draws += 1
            window[:, relative:, codebook] = predicted.to(window.dtype)
    codes = codes.transpose(1, 2)[:, :, n_history:]
    return codes[:, :, :-removed] if removed else codes


__all__ = ["CoarsePlan", "alternating_codebooks", "fine_codes", "semantic_processors", "semantic_prompt",
           "stage_configs", "stage_options"]
