"""The model step: a transformers model's public ``forward`` run with a KV cache.

``prefill()`` consumes the prompt (and runs the encoder once, for encoder-decoder models) and
``step(tokens)`` feeds one frame per row; both return the next-token logits, (rows, vocab) in
float32. Only public surfaces are used: ``forward``, ``get_encoder`` and transformers' cache
classes (``DynamicCache``, ``EncoderDecoderCache`` and their ``reorder_cache``).

Model inputs mirror what ``model.generate`` feeds, so the logits match it bit for bit:
- decoder-only: positions from the attention mask (``cumsum - 1``, 0 on padding), the mask
  dropped when it has no padding, logits of the last position only (``logits_to_keep=1``);
- encoder-decoder: the encoder output and mask passed at every step, no decoder mask.

`Speed` picks the cache and the forward: a dynamic cache (grows a column per step) or a static
one (transformers' ``StaticCache``: preallocated to the call's length, written in place), whose
step keeps every shape (one token per row; a padded batch's masks made in advance as wide as the
cache, as ``generate`` makes them for a compilable cache), so it can run compiled
(`mmgen.core.compiled`). The prefill always runs eagerly; rows never leave a static batch. Only
models transformers declares able to run over a static cache get one (`step_speed`).
"""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache, StaticCache
from transformers.masking_utils import create_masks_for_generate
from transformers.utils import ModelOutput

from mmgen.core.compiled import compiled_forward
from mmgen.core.growing_cache import growing
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.core.state_rows import map_rows

logger = logging.getLogger("mmgen")


def _forward_parameters(model: torch.nn.Module) -> set[str]:
    forward = model.forward
    return set(_parameters(getattr(forward, "__func__", forward)))


@functools.lru_cache(maxsize=256)
def _parameters(function: Any) -> tuple[str, ...]:
    """A function's parameter names, read once (a step is built per call, per input when batching
    continuously)."""
    return tuple(inspect.signature(function).parameters)


@dataclass(frozen=True)
class Speed:
    """How a step runs. static_length: a static cache of that many positions (prompt + new tokens),
    else None for a dynamic one. compile: the step's forward compiled (needs a static cache): False,
    True or "max-autotune" (`mmgen.core.compiled`)."""

    static_length: int | None = None
    compile: bool | str = False


# Static caches are sized in steps of this many positions, so calls of similar lengths share a compiled step.
STATIC_LENGTH_STEP = 32


def speed_for(static: bool, compile: bool | str, max_length: int) -> Speed:
    """The `Speed` of a call: a static cache of ``max_length`` positions rounded up to `STATIC_LENGTH_STEP`."""
    if not static:
        return Speed()
    return Speed(-(-max_length // STATIC_LENGTH_STEP) * STATIC_LENGTH_STEP, compile)


def static_cache_refusal(model: torch.nn.Module) -> str | None:
    """Why ``model`` cannot decode over a static cache, or None where it can.

    transformers declares the models whose forward runs over its ``StaticCache`` (and so compiles as one
    graph) with the class attribute ``_can_compile_fullgraph``, and ``generate`` compiles only those. The
    others' attention takes the cache's length from the mask or the keys in ways a preallocated cache
    breaks: with transformers' own ``cache_implementation="static"``, XLM-RoBERTa-XL, Megatron-BERT,
    ImageGPT and FSMT gave other tokens than the dynamic cache, ProphetNet and BLT raised (the architecture
    sweep, ``tests/coverage/sweep.py --strategies static``)."""
    if getattr(type(model), "_can_compile_fullgraph", True):
        return None
    # The composite wrappers (VisionEncoderDecoderModel, EncoderDecoderModel, SpeechEncoderDecoderModel) declare
    # nothing themselves: their cache is their decoder's, a model of its own that does.
    decoder = getattr(model, "decoder", None)
    if isinstance(decoder, torch.nn.Module) and getattr(type(decoder), "_can_compile_fullgraph", False):
        return None
    return (f"transformers does not declare {type(model).__name__} able to decode over a static cache "
            "(its _can_compile_fullgraph is False)")


_WARNED_EAGER: set[tuple[type, str]] = set()  # (model class, reason) told once that compile=True runs it eagerly


def step_speed(model: torch.nn.Module, options: GenerationOptions, max_length: int, refusal: str | None = None) -> Speed:
    """The `Speed` of a call's step (`speed_for`), checked against the model (`static_cache_refusal`), or declined
    for the step's own ``refusal`` where the caller has one (`decline_static_cache`)."""
    if not options.static_cache:
        return Speed()
    why = refusal or static_cache_refusal(model)
    if why is None:
        return speed_for(True, options.compile, max_length)
    decline_static_cache(model, options.cache, options.compile, why)
    return Speed()


def decline_static_cache(model: torch.nn.Module, cache: str | None, compile: bool | str | None, why: str) -> None:
    """For a step that cannot decode over a static cache, for the reason ``why``, and so runs with the plain
    `Speed`: ``cache="static"`` is refused with an `OptionError`; ``compile=True`` alone decodes with the
    dynamic cache, uncompiled, after one warning per model class and reason (the same tokens, as where
    compilation is unavailable). Without either, nothing is said."""
    if cache == "static":
        fix = " and compile=False" if compile else ""
        raise OptionError(f"cache='static': {why}. Leave cache='dynamic' (the default){fix}.")
    if compile and (type(model), why) not in _WARNED_EAGER:
        _WARNED_EAGER.add((type(model), why))
        logger.warning("compile=%r: %s; decoding it with the dynamic cache, uncompiled (the same tokens).",
                       compile, why)


def own_inputs_reason(model: torch.nn.Module) -> str:
    """Why an encoder-decoder model whose steps run through its own input preparation
    (`mmgen.core.prepared_step`) gets no static cache: a `step_speed` refusal."""
    return (f"{type(model).__name__} is an encoder-decoder model that prepares its own inputs every step, which "
            "mmgen runs over the dynamic cache")


def new_cache(model: torch.nn.Module, static_length: int | None = None,
              encoder_length: int | None = None) -> DynamicCache | StaticCache | EncoderDecoderCache:
    """The cache ``model.generate`` would build: dynamic, or static (``static_length`` positions; an
    encoder-decoder model's cross-attention cache holds ``encoder_length``), per decoder layer."""
    config = model.config.get_text_config(decoder=True)
    if static_length is None:  # grown in place rather than by concatenation (mmgen.core.growing_cache)
        self_attention: DynamicCache | StaticCache = growing(DynamicCache(config=config))
        cross_attention: DynamicCache | StaticCache = DynamicCache(config=config)
    else:
        self_attention = StaticCache(config=config, max_cache_len=static_length)
        cross_attention = StaticCache(config=config, max_cache_len=encoder_length or 1)
    if model.config.is_encoder_decoder:
        return EncoderDecoderCache(self_attention, cross_attention)
    return self_attention


class ModelStep:
    """Base of the two step kinds; holds the model, its cache, the forward the steps call, and the row count.

    Rows leave the batch (``keep``, batch compaction) only with a dynamic cache.
    """

    def __init__(self, model: torch.nn.Module, speed: Speed = Speed()):
        self.model = model
        self.device = model.device
        self.speed = speed
        self.static = speed.static_length is not None
        self.compactable = not self.static
        # A dynamic cache is made on first use (a step that never runs, as a continuous batch's
        # newcomer packed into the batch's own cache, costs none); a static one now; an encoder-decoder
        # model's static cache once the encoder's length is known (`EncoderDecoderStep.start_cache`).
        self._cache: DynamicCache | StaticCache | EncoderDecoderCache | None = None
        if self.static and not model.config.is_encoder_decoder:
            self._cache = new_cache(model, speed.static_length)
        self.forward = compiled_forward(model, speed.compile) if speed.compile else model
        self.rows = 0

    @property
    def cache(self) -> DynamicCache | StaticCache | EncoderDecoderCache | None:
        if self._cache is None and not self.static:
            self._cache = new_cache(self.model)
        return self._cache

    @cache.setter
    def cache(self, cache: DynamicCache | StaticCache | EncoderDecoderCache | None) -> None:
        self._cache = cache

    @property
    def compile_seconds(self) -> float:
        """Seconds spent compiling the step's forward so far (0 without ``compile``)."""
        return self.forward.seconds if self.speed.compile else 0.0

    def _logits(self, outputs: Any) -> torch.Tensor:
        cache = getattr(outputs, "cache", None)
        if cache is not None:
            self.cache = cache
        logits = outputs.logits[:, -1]
        # Copied where the model's buffer would otherwise live on: a step captured as a CUDA graph reuses its
        # output buffers (inductor's CPU code allocates them per call), and a prompt's logits hold every
        # position. One position's float32 logits are used as they are.
        if (self.speed.compile and self.device.type == "cuda") or outputs.logits.shape[1] > 1:
            return logits.to(copy=True, dtype=torch.float32)
        return logits.float()

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
    attention mask is preallocated to it with a static cache, else grown by doubling as rows lengthen.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        max_length: int,
        prefill_inputs: dict[str, Any] | None = None,
        speed: Speed = Speed(),
    ):
        super().__init__(model, speed)
        parameters = _forward_parameters(model)
        self.rows, self.length = input_ids.shape
        self.input_ids = input_ids
        self.prefill_inputs = dict(prefill_inputs or {})
        self.keep_last_logits = "logits_to_keep" in parameters
        # Without padding transformers passes no mask, which selects a different attention kernel
        # path; doing the same keeps the logits bit-identical.
        self.padded = bool((attention_mask == 0).any())
        # Preallocated to the call's length with a static cache; a dynamic step's grows as rows lengthen.
        self.max_length = max(max_length, self.length)
        columns = self.max_length if self.static else min(self.max_length, self.length + 256)
        self.mask = torch.ones(self.rows, columns, dtype=attention_mask.dtype, device=input_ids.device)
        self.mask[:, : self.length] = attention_mask
        self.positions = None
        if "position_ids" in parameters:
            positions = attention_mask.long().cumsum(-1) - 1
            self.positions = positions.masked_fill(attention_mask == 0, 0)

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None, forward: Any = None,
                 **extra: Any) -> torch.Tensor:
        inputs: dict[str, Any] = {"input_ids": input_ids, "cache": self.cache, "use_cache": True}
        if self.padded:
            inputs["attention_mask"] = self._attention_mask(input_ids.shape[1], positions)
        if positions is not None:
            inputs["position_ids"] = positions
        if self.keep_last_logits:
            inputs["logits_to_keep"] = 1
        return self._logits((forward or self.forward)(**inputs, **extra, return_dict=True))

    def _attention_mask(self, query_length: int, positions: torch.Tensor | None) -> Any:
        """The mask of the tokens so far, (rows, length) with 0 on padding; over a static cache, the masks
        transformers' generate makes of it in advance for a compilable cache (``create_masks_for_generate``,
        the model's own where it has one): a 4D mask as wide as the cache, one per kind of layer for hybrid
        models (a recurrent layer's is the 2D mask of the new tokens), BLOOM's 2D mask padded to the cache.
        Their shapes do not change from step to step, so the compiled step keeps its graph."""
        mask = self.mask[:, : self.length]
        if not self.static:
            return mask
        make = getattr(self.model, "create_masks_for_generate", create_masks_for_generate)
        return make(config=self.model.config, attention_mask=mask, cache=self.cache, position_ids=positions,
                    inputs_embeds=mask.new_empty((self.rows, query_length, 0), dtype=self.model.dtype))

    def prefill(self) -> torch.Tensor:
        logits = self._forward(self.input_ids, self.positions, forward=self.model, **self.prefill_inputs)
        if self.positions is not None:
            self.positions = self.positions[:, -1:]
        return logits

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (rows,) the frame each row just produced."""
        self.length += 1
        if self.length > self.mask.shape[1]:
            grown = self.mask.new_ones(self.mask.shape[0], min(2 * self.mask.shape[1], self.max_length + 1))
            grown[:, : self.mask.shape[1]] = self.mask
            self.mask = grown
        if self.positions is not None:
            self.positions = self.positions + 1
        return self._forward(tokens[:, None], self.positions)

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        self.mask = self.mask.index_select(0, rows)
        if self.positions is not None:
            self.positions = self.positions.index_select(0, rows)


# Encoder token inputs that `EncoderDecoderStep.stacked` pads on the right to the longest of a group.
PADDED_INPUTS = frozenset({"input_ids", "attention_mask"})


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
        speed: Speed = Speed(),
    ):
        super().__init__(model, speed)
        self.encoder_inputs = encoder_inputs
        self.decoder_input_ids = decoder_input_ids
        self.rows = decoder_input_ids.shape[0]
        self.rows_per_input = rows_per_input
        self.encoder_outputs: ModelOutput | None = None
        self.encoder_mask = encoder_inputs.get("attention_mask")
        # A decoder mask (rows, capacity) and positions (rows, 1), for steps that feed them (Whisper's).
        self.mask: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None

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

    def _forward(self, decoder_input_ids: torch.Tensor, forward: Any = None) -> torch.Tensor:
        inputs: dict[str, Any] = {
            "decoder_input_ids": decoder_input_ids,
            "encoder_outputs": self.encoder_outputs,
            "cache": self.cache,
            "use_cache": True,
        }
        if self.encoder_mask is not None:
            inputs["attention_mask"] = self.encoder_mask
        return self._logits((forward or self.forward)(**inputs, return_dict=True))

    def start_cache(self) -> None:
        """A static cache, once the encoder's length is known (its cross-attention cache holds it)."""
        if self.static:
            encoder_length = self.encoder_outputs.last_hidden_state.shape[1]
            self.cache = new_cache(self.model, self.speed.static_length, encoder_length)

    def prefill(self) -> torch.Tensor:
        self.encoder_outputs = self.encode()
        self.start_cache()
        return self._forward(self.decoder_input_ids, forward=self.model)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._forward(tokens[:, None])

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        self.encoder_outputs = map_rows(self.encoder_outputs, rows)
        if self.encoder_mask is not None:
            self.encoder_mask = self.encoder_mask.index_select(0, rows)

    # -- several one-row steps prefilled as one batch (continuous batching's newcomers, in groups) --

    def stack_key(self) -> tuple | None:
        """Steps with equal keys can be prefilled as one batch (`stacked`); None: this one alone.

        Plain one-row steps with a dynamic cache whose decoder prompts have one length and whose
        encoder inputs are one-row tensors of one shape each, or token inputs (``input_ids`` with an
        ``attention_mask``) of any length, which `stacked` pads on the right as a tokenizer pads a
        batch of source texts. A subclass with state of its own stacks only where it says so."""
        if type(self) is not EncoderDecoderStep or self.rows != 1 or self.static or self.rows_per_input != 1:
            return None
        inputs = self.encoder_inputs
        if not all(isinstance(v, torch.Tensor) and v.shape[0] == 1 for v in inputs.values()):
            return None
        padded = "attention_mask" in inputs
        shapes = tuple(sorted((name, None if padded and name in PADDED_INPUTS and value.dim() == 2 else
                               tuple(value.shape)) for name, value in inputs.items()))
        return EncoderDecoderStep, self.decoder_input_ids.shape[1], shapes

    @classmethod
    def stacked(cls, steps: list[EncoderDecoderStep]) -> EncoderDecoderStep:
        """One step over ``steps`` (equal `stack_key`s): their encoder inputs and decoder prompts stacked,
        token inputs of different lengths padded on the right (the attention mask marks the padding)."""
        first = steps[0]
        inputs: dict[str, torch.Tensor] = {}
        for name in first.encoder_inputs:
            values = [step.encoder_inputs[name] for step in steps]
            width = max(v.shape[-1] for v in values)
            pad = 0 if name == "attention_mask" else (first.model.config.pad_token_id or 0)
            inputs[name] = torch.cat([v if v.shape[-1] == width else
                                      torch.cat([v, v.new_full((1, width - v.shape[-1]), pad)], dim=1) for v in values])
        return EncoderDecoderStep(first.model, inputs, torch.cat([step.decoder_input_ids for step in steps]),
                                  speed=first.speed)

    def took_prefill(self, group: EncoderDecoderStep, row: int) -> None:
        """Keep what this step's own prefill would have left, from row ``row`` of ``group`` (a `stacked`
        step of it, prefilled). The plain step keeps nothing: its rows join a running batch from ``group``."""
