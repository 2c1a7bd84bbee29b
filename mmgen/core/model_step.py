"""The model step: a transformers model's public ``forward`` run with a KV cache.

``prefill()`` consumes the prompt (and runs the encoder once, for encoder-decoder models) and
``step(tokens)`` feeds one frame per row; both return the next-token logits, (rows, vocab) in
float32. Only public surfaces are used: ``forward``, ``get_encoder`` and transformers' cache
classes (``DynamicCache``, ``EncoderDecoderCache`` and their ``reorder_cache``).

Model inputs mirror what ``model.generate`` feeds, so the logits match it bit for bit:
- decoder-only: positions from the attention mask (``cumsum - 1``, 0 on padding), the mask
  dropped when it has no padding, logits of the last position only (``logits_to_keep=1``);
- encoder-decoder: the encoder output and mask passed at every step, no decoder mask.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache
from transformers.utils import ModelOutput

from mmgen.core.prepared_step import map_rows


def _forward_parameters(model: torch.nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def new_cache(model: torch.nn.Module) -> DynamicCache | EncoderDecoderCache:
    """The cache ``model.generate`` would build: dynamic, per decoder layer."""
    config = model.config.get_text_config(decoder=True)
    if model.config.is_encoder_decoder:
        return EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))
    return DynamicCache(config=config)


class ModelStep:
    """Base of the two step kinds; holds the model, its cache and the row count."""

    compactable = True

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.device = model.device
        self.cache = new_cache(model)
        self.rows = 0

    def _logits(self, outputs: Any) -> torch.Tensor:
        cache = getattr(outputs, "cache", None)
        if cache is not None:
            self.cache = cache
        return outputs.logits[:, -1].to(copy=True, dtype=torch.float32)

    def reorder(self, index: torch.Tensor) -> None:
        """Make row i continue from row ``index[i]`` (beam search). index: (rows,) long."""
        self.cache.reorder_cache(index)

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every row not in ``rows`` (batch compaction). rows: (kept,) long, increasing."""
        self.cache.reorder_cache(rows)
        self.rows = int(rows.shape[0])


class DecoderOnlyStep(ModelStep):
    """Causal LM step. ``input_ids``/``attention_mask``: (rows, prompt) left-padded.

    ``prefill_inputs`` are extra tensors fed with the prompt only (``pixel_values`` of a
    vision-language model, for example). ``max_length`` bounds prompt + generated tokens; the
    attention mask is preallocated to it and sliced, never grown.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        max_length: int,
        prefill_inputs: dict[str, Any] | None = None,
    ):
        super().__init__(model)
        parameters = _forward_parameters(model)
        self.rows, self.length = input_ids.shape
        self.input_ids = input_ids
        self.prefill_inputs = dict(prefill_inputs or {})
        self.keep_last_logits = "logits_to_keep" in parameters
        # Without padding transformers passes no mask, which selects a different attention kernel
        # path; doing the same keeps the logits bit-identical.
        self.padded = bool((attention_mask == 0).any())
        self.mask = torch.ones(self.rows, max(max_length, self.length), dtype=attention_mask.dtype, device=input_ids.device)
        self.mask[:, : self.length] = attention_mask
        self.positions = None
        if "position_ids" in parameters:
            positions = attention_mask.long().cumsum(-1) - 1
            self.positions = positions.masked_fill(attention_mask == 0, 0)

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None, **extra: Any) -> torch.Tensor:
        inputs: dict[str, Any] = {"input_ids": input_ids, "cache": self.cache, "use_cache": True}
        if self.padded:
            inputs["attention_mask"] = self.mask[:, : self.length]
        if positions is not None:
            inputs["position_ids"] = positions
        if self.keep_last_logits:
            inputs["logits_to_keep"] = 1
        return self._logits(self.model(**inputs, **extra, return_dict=True))

    def prefill(self) -> torch.Tensor:
        logits = self._forward(self.input_ids, self.positions, **self.prefill_inputs)
        if self.positions is not None:
            self.positions = self.positions[:, -1:]
        return logits

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (rows,) the frame each row just produced."""
        self.length += 1
        if self.positions is not None:
            self.positions = self.positions + 1
        return self._forward(tokens[:, None], self.positions)

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        self.mask = self.mask.index_select(0, rows)
        if self.positions is not None:
            self.positions = self.positions.index_select(0, rows)


class EncoderDecoderStep(ModelStep):
    """Encoder-decoder step: the encoder runs once in ``prefill``; each step feeds the decoder.

    ``encoder_inputs``: the encoder's inputs for the input rows (``input_ids`` and
    ``attention_mask``, ``input_features``, ``pixel_values``, ...). ``decoder_input_ids``:
    (rows, decoder prompt) already expanded to ``rows_per_input`` rows per input row; the
    encoder output is expanded the same way after encoding, so the encoder runs once per input.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        encoder_inputs: dict[str, Any],
        decoder_input_ids: torch.Tensor,
        rows_per_input: int = 1,
    ):
        super().__init__(model)
        self.encoder_inputs = encoder_inputs
        self.decoder_input_ids = decoder_input_ids
        self.rows = decoder_input_ids.shape[0]
        self.rows_per_input = rows_per_input
        self.encoder_outputs: ModelOutput | None = None
        self.encoder_mask = encoder_inputs.get("attention_mask")

    def encode(self) -> ModelOutput:
        """The encoder's output for the input rows, every field of it (some decoders read its
        ``attention_mask``, mixtures of experts their ``router_logits``), repeated per row."""
        encoder = self.model.get_encoder()
        parameters = inspect.signature(encoder.forward).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        inputs = {k: v for k, v in self.encoder_inputs.items() if takes_any or k in parameters}
        outputs = encoder(**inputs, return_dict=True)
        if self.rows_per_input > 1:
            rows = torch.arange(outputs.last_hidden_state.shape[0], device=self.device)
            outputs = map_rows(outputs, rows.repeat_interleave(self.rows_per_input))
            if self.encoder_mask is not None:
                self.encoder_mask = self.encoder_mask.repeat_interleave(self.rows_per_input, dim=0)
        return outputs

    def _forward(self, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        inputs: dict[str, Any] = {
            "decoder_input_ids": decoder_input_ids,
            "encoder_outputs": self.encoder_outputs,
            "cache": self.cache,
            "use_cache": True,
        }
        if self.encoder_mask is not None:
            inputs["attention_mask"] = self.encoder_mask
        return self._logits(self.model(**inputs, return_dict=True))

    def prefill(self) -> torch.Tensor:
        self.encoder_outputs = self.encode()
        return self._forward(self.decoder_input_ids)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._forward(tokens[:, None])

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        self.encoder_outputs = map_rows(self.encoder_outputs, rows)
        if self.encoder_mask is not None:
            self.encoder_mask = self.encoder_mask.index_select(0, rows)
