"""A model step whose inputs the model prepares: its public ``prepare_inputs_for_generation``.

transformers models say through that method how their inputs evolve during generation: M-RoPE
positions computed by the model, pixel and audio inputs fed at the first step only, a model's
own extras. `PreparedStep` calls it before every forward, over the whole token history, and feeds
the model what it returns, so an architecture needs no family file of its own.

Between steps the inputs that grow with the sequence grow as transformers' ``generate`` grows
them (`GrowingInput`, preallocated, one column per step): the attention mask by ones, token
types by their last value (a few model types by ones: the generated text is their causal
suffix), multimodal token types by zeros, positions by one, Mllama's cross-attention mask by
its last row. What a forward returns that the next forward takes (the cache, a recurrent
``state``) is handed back.

Rows: the prompt is prefilled once per input and the rows of beams and returned sequences
(``rows_per_input`` per input) are repeated after it, cache included, so image inputs never
need regrouping per row. Finished rows are not dropped from the batch (``compactable`` is
False): some models keep per-input state of their own (Qwen2-VL's ``rope_deltas``) that a
smaller batch would misalign.

Over a static cache (``cache="static"``, ``compile=True``: decoder-only models that transformers declares
able to decode over one and that keep no state of their own, `prepared_step_speed`) the cache is
transformers' ``StaticCache``, and the model's own input preparation turns the growing 2D attention
mask into masks as wide as the cache, as under ``generate(cache_implementation="static")``. The decode
steps then run compiled (`mmgen.core.compiled`) once their inputs have shown that they keep their
shapes: the first decode step runs eagerly and records its inputs' shapes and plain values
(`step_signature`); each later step runs compiled while its inputs match. A model whose step inputs
change from step to step (one that feeds a growing input whole) decodes eagerly from there on, after
one warning, rather than compiling a graph per step.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache, GenerationMixin, StaticCache
from transformers.utils import ModelOutput

from mmgen.core.compiled import compiled_forward
from mmgen.core.growing_input import GrowingInput
from mmgen.core.model_step import Speed, step_speed
from mmgen.core.options import GenerationOptions
from mmgen.core.prompt_positions import initial_positions
from mmgen.core.state_rows import map_rows, reorder_state, repeat_state

logger = logging.getLogger("mmgen")

# Inputs transformers feeds at the first step only (its MULTIMODAL_INPUTS_TO_DROP_OUTSIDE_PREFILL, and
# a decoder-only prompt's embeddings, which its input preparation reads at the first step only).
PREFILL_ONLY = frozenset({
    "mm_encoder_outputs", "pixel_values", "pixel_mask", "input_features", "input_features_mask", "input_values",
    "padding_mask", "input_values_mask", "pixel_values_videos", "num_local_patches", "high_res_pixel_values",
    "image_patches_indices", "inputs_embeds",
})
# Model types whose token types mark the generated text as 1 (the causal suffix after a bidirectional prefix).
TOKEN_TYPES_GROW_BY_ONES = frozenset({"paligemma", "gemma3", "gemma3n", "gemma4"})
# Forward outputs that are the next forward's input of the same name (caches, recurrent state), for
# the models whose forward takes that name (outputs also answer to deprecated aliases of ``cache``),
# with the dimension their tensors hold the batch on (XLNet's memories: (length, batch, hidden)).
# A streaming audio encoder's attention and convolution caches go along too (Voxtral Realtime).
CARRIED_OUTPUTS = {"cache": 0, "state": 0, "cache_params": 0, "mems": 1, "past_buckets_states": 0,
                   "encoder_cache": 0, "padding_cache": 0}
# Model types whose generate feeds no position ids (Reformer pads its input to chunks and counts itself).
POSITIONS_NOT_FED = frozenset({"reformer"})
# Model classes that keep a state of their own instead of transformers' cache classes (generate's list).
OWN_STATE_CLASSES = ("reformer", "minimax", "xlnet", "rwkv", "xlstm")
OWN_STATE_EXCEPTIONS = ("minimaxm2", "minimaxm3")  # standard attention, despite the name
# Keyword arguments an encoder never takes (generate's own filter).
NOT_FOR_THE_ENCODER = ("decoder_", "cross_attn", "use_cache", "cache", "logits_to_keep")


def keeps_its_own_state(model: torch.nn.Module) -> bool:
    """Whether the model keeps a state of its own instead of transformers' cache classes (`OWN_STATE_CLASSES`)."""
    name = type(model).__name__.lower()
    return any(own in name for own in OWN_STATE_CLASSES) and not any(ok in name for ok in OWN_STATE_EXCEPTIONS)


def new_generation_cache(model: torch.nn.Module, static_length: int | None = None,
                         ) -> DynamicCache | StaticCache | EncoderDecoderCache | None:
    """The cache ``generate`` starts a model with: dynamic, per decoder layer (an encoder-decoder pair for
    encoder-decoder models), or static (``static_length`` positions; decoder-only models); None for the
    models that keep a state of their own."""
    if keeps_its_own_state(model):
        return None
    config = model.config.get_text_config(decoder=True)
    if static_length is not None:
        return StaticCache(config=config, max_cache_len=static_length)
    if model.config.is_encoder_decoder:
        return EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))
    return DynamicCache(config=config)


def forward_parameters(model: torch.nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def prepares_its_own_inputs(model: torch.nn.Module) -> bool:
    """Whether the model's class overrides ``prepare_inputs_for_generation`` (transformers' own says
    how generic models' inputs evolve, and mmgen's explicit steps do the same)."""
    return type(model).prepare_inputs_for_generation is not GenerationMixin.prepare_inputs_for_generation


_WARNED_CHANGING: set[type] = set()  # model classes told once that their step inputs change shape


def step_signature(value: Any) -> Any:
    """What of a step's inputs a compiled graph is specialised on, cache aside: each tensor's shape and dtype,
    each plain value, nested in dicts, lists, tuples and model outputs; any other object by its type."""
    if isinstance(value, torch.Tensor):
        return (tuple(value.shape), value.dtype)
    if isinstance(value, (dict, ModelOutput)):
        return tuple((k, step_signature(v)) for k, v in value.items() if k != "cache")
    if isinstance(value, (list, tuple)):
        return tuple(step_signature(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return type(value)


def prepared_step_speed(model: torch.nn.Module, options: GenerationOptions, max_length: int) -> Speed:
    """The `Speed` of a decoder-only `PreparedStep` (`mmgen.core.model_step.step_speed`): no static cache for a
    model that keeps a state of its own."""
    own_state = (f"{type(model).__name__} keeps a state of its own instead of transformers' cache classes, which "
                 "has no static form") if keeps_its_own_state(model) else None
    return step_speed(model, options, max_length, refusal=own_state)


def _ones(last: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(last)


def _zeros(last: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(last)


def _same(last: torch.Tensor) -> torch.Tensor:
    return last


def _plus_one(last: torch.Tensor) -> torch.Tensor:
    return last + 1


class PreparedStep:
    """Prefill and one step per token over ``model.prepare_inputs_for_generation`` and ``forward``.

    input_ids: (inputs, prompt) decoder-only prompt, or an encoder-decoder model's decoder prompt.
    model_inputs: everything else the call gives the model, for the input rows (``attention_mask``,
      ``pixel_values``, ``token_type_ids``, an encoder's inputs, ``encoder_outputs``, ...).
    max_length: prompt + generated tokens at most. rows_per_input: beams / returned sequences.
    Logits are (rows, vocab) float32, ``rows = inputs * rows_per_input``.
    """

    compactable = False

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, model_inputs: dict[str, Any],
                 max_length: int, rows_per_input: int = 1, speed: Speed | None = None):
        self.model = model
        self.speed = speed = speed or Speed()
        self.encoder_decoder = bool(model.config.is_encoder_decoder)
        self.inputs, prompt_length = input_ids.shape
        self.rows_per_input = rows_per_input
        self.rows = self.inputs * rows_per_input
        self.capacity = max(max_length, prompt_length)
        # The decode steps' forward: compiled once a step's inputs are known to keep their shapes (`_call`).
        self.compiled = compiled_forward(model, speed.compile) if speed.compile else None
        self.step_inputs: tuple | None = None  # `step_signature` of the first decode step's inputs
        self.inputs_change = False  # a later step's inputs did not match them: eager from there on
        parameters = forward_parameters(model)
        self.carried = [name for name in CARRIED_OUTPUTS if name in parameters or name == "cache"]
        prepares = set(inspect.signature(model.prepare_inputs_for_generation).parameters)
        self.takes_image_hidden_states = "image_hidden_states" in prepares
        # Prefill-only inputs that a model's own input preparation names (beyond transformers' generic one)
        # stay: it decides when to feed them (Kyutai encodes its audio window by window), as under
        # ``generate``, which keeps every input.
        own = prepares - set(inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters)
        self.prefill_only = PREFILL_ONLY - own - ({"inputs_embeds"} if self.encoder_decoder else set())
        self.kwargs: dict[str, Any] = {k: v for k, v in model_inputs.items() if v is not None}
        self.kwargs["use_cache"] = True
        cache = new_generation_cache(model, speed.static_length)
        if cache is not None:
            self.kwargs["cache"] = cache
        if "logits_to_keep" in parameters:
            self.kwargs["logits_to_keep"] = 1
        self.ids = GrowingInput(input_ids, self.capacity, _same)
        self.encodes_media = (not self.encoder_decoder and "mm_encoder_outputs" in parameters
                              and "mm_encoder_outputs" not in self.kwargs)
        self.growing: dict[str, GrowingInput] = {}
        mask_key = "decoder_attention_mask" if self.encoder_decoder else "attention_mask"
        mask = self.kwargs.pop(mask_key, None)
        feeds_positions = "position_ids" in parameters and model.config.model_type not in POSITIONS_NOT_FED
        if not self.encoder_decoder and feeds_positions and "position_ids" not in self.kwargs:
            self.kwargs["position_ids"] = initial_positions(model, input_ids, mask, self.kwargs)
        if not self.encoder_decoder and mask is not None and bool((mask == 1).all()):
            mask = None  # generate drops an all-ones mask: another attention kernel path
        if mask is not None:
            self.growing[mask_key] = GrowingInput(mask, self.capacity, _ones)
        position_key = "decoder_position_ids" if self.encoder_decoder else "position_ids"
        positions = self.kwargs.pop(position_key, None)
        if positions is not None:  # (rows, length), or (sections, rows, length) for M-RoPE
            self.growing[position_key] = GrowingInput(positions, self.capacity, _plus_one,
                                                      batch_dim=1 if positions.dim() == 3 else 0)
        token_types = self.kwargs.pop("token_type_ids", None)
        if token_types is not None:
            rule = _ones if model.config.model_type in TOKEN_TYPES_GROW_BY_ONES else _same
            self.growing["token_type_ids"] = GrowingInput(token_types, self.capacity, rule)
        for name in ("mm_token_type_ids", "moe_mm_token_type_ids"):
            if name in self.kwargs:
                self.growing[name] = GrowingInput(self.kwargs.pop(name), self.capacity, _zeros)

    # -- the forwards ------------------------------------------------------------------------------

    def _forward(self, next_sequence_length: int | None, first: bool) -> Any:
        grown = {name: growing.view for name, growing in self.growing.items()}
        inputs = self.model.prepare_inputs_for_generation(
            self.ids.view, next_sequence_length=next_sequence_length, is_first_iteration=first, **self.kwargs,
            **grown)
        outputs = self._call(inputs, first)
        self._carry(outputs)
        return outputs

    def _call(self, inputs: dict[str, Any], first: bool) -> Any:
        """The forward on ``inputs``: eager for the prefill and the first decode step, compiled after while the
        step's inputs keep the first decode step's shapes and values (module docstring)."""
        if self.compiled is None or first or self.inputs_change:
            return self.model(**inputs, return_dict=True)
        signature = step_signature(inputs)
        if self.step_inputs is None:
            self.step_inputs = signature
            return self.model(**inputs, return_dict=True)
        if signature != self.step_inputs:
            self.inputs_change = True
            if type(self.model) not in _WARNED_CHANGING:
                _WARNED_CHANGING.add(type(self.model))
                logger.warning("compile=%r: %s's step inputs change shape from step to step; decoding it "
                               "uncompiled from here (the same tokens).", self.speed.compile, type(self.model).__name__)
            return self.model(**inputs, return_dict=True)
        return self.compiled(**inputs, return_dict=True)

    @property
    def compile_seconds(self) -> float:
        """Seconds spent compiling the step's forward so far (0 without ``compile``)."""
        return self.compiled.seconds if self.compiled is not None else 0.0

    def _carry(self, outputs: Any) -> None:
        """What the next forward takes from this one's outputs, as ``generate`` hands it on."""
        for name in self.carried:
            carried = outputs.get(name) if isinstance(outputs, ModelOutput) else None
            if carried is not None:
                self.kwargs[name] = carried
        image_outputs = getattr(outputs, "image_outputs", None)
        if image_outputs is not None and self.takes_image_hidden_states:  # IDEFICS: images encoded once
            self.kwargs["image_hidden_states"] = image_outputs.last_hidden_state
        image_mask = self.kwargs.get("image_attention_mask")  # IDEFICS: (rows, length, images), the last row on
        if isinstance(image_mask, torch.Tensor) and image_mask.dim() == 3:
            self.kwargs["image_attention_mask"] = image_mask[:, -1:]

    def _encode(self) -> None:
        """An encoder-decoder model's encoder, once per input, on the inputs it takes by name (as ``generate``)."""
        encoder = self.model.get_encoder()
        parameters = set(inspect.signature(encoder.forward).parameters)
        wildcard = "kwargs" in parameters or "model_kwargs" in parameters
        taken = [k for k in self.kwargs if not k.startswith(NOT_FOR_THE_ENCODER) and (wildcard or k in parameters)]
        encoder_kwargs = {k: self.kwargs[k] for k in taken}
        self.kwargs["encoder_outputs"] = encoder(**encoder_kwargs, return_dict=True)
        for name in taken:  # the encoder's output stands for them now; its mask stays for cross-attention
            if name != "attention_mask":
                del self.kwargs[name]

    def _encode_media(self) -> None:
        """A vision-language model's images and videos, encoded before the prefill and fed to it as
        ``mm_encoder_outputs`` (``generate`` does this for models whose forward takes them): each
        modality's ``base_model.get_<modality>_features`` on the inputs it takes by name."""
        encoded, used = {}, set()
        for modality in ("image", "video"):
            encode = getattr(self.model.base_model, f"get_{modality}_features", None)
            if modality not in getattr(self.model, "input_modalities", ()) or encode is None:
                continue
            names = inspect.signature(encode).parameters
            taken = {k: self.kwargs[k] for k in names if k != "kwargs" and k in self.kwargs}
            used |= set(taken)
            if any(k in taken for k in ("pixel_values", "pixel_values_images", "pixel_values_videos", "image_patches")):
                encoded[modality] = encode(**taken, return_dict=True)
        for name in used:
            self.kwargs.pop(name, None)
        self.kwargs["mm_encoder_outputs"] = encoded

    def prefill(self) -> torch.Tensor:
        """The prompts; returns (rows, vocab) float32 logits.

        Rows of one input share its prompt. A decoder-only call whose every input is one row per
        input (no images to regroup) is repeated per row first and prefilled whole, as ``generate``
        does, so models that draw noise in their forward draw the same; otherwise each input's
        prompt is prefilled once and repeated after (its images encoded once).
        """
        if self.encoder_decoder and "encoder_outputs" not in self.kwargs:
            self._encode()
        if self.encodes_media:
            self._encode_media()
        whole = self.rows_per_input > 1 and not self.encoder_decoder and self._one_row_per_input()
        if whole:
            self._expand()
        outputs = self._forward(None, first=True)
        for name in self.prefill_only:
            self.kwargs.pop(name, None)
        logits = outputs.logits[:, -1].to(copy=True, dtype=torch.float32)
        if not whole:
            self._expand()
            logits = logits.repeat_interleave(self.rows_per_input, dim=0)
        self._grow()
        return logits

    def _one_row_per_input(self) -> bool:
        """Whether every model input holds one row per input (nothing per image, no encoded media)."""
        return all(not isinstance(value, (torch.Tensor, ModelOutput, dict)) or
                   (isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == self.inputs)
                   for name, value in self.kwargs.items() if name not in self.carried)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (rows,) the frame each row just produced -> (rows, vocab) float32 logits."""
        self.ids.append(tokens)
        outputs = self._forward(1, first=False)
        self._grow()
        return outputs.logits[:, -1].to(copy=True, dtype=torch.float32)

    def _grow(self) -> None:
        for growing in self.growing.values():
            growing.grow()
        cross = self.kwargs.get("cross_attention_mask")  # Mllama: (rows, length, images, tiles)
        if isinstance(cross, torch.Tensor):
            self.kwargs["cross_attention_mask"] = torch.cat([cross, cross[:, -1:]], dim=1)

    # -- rows --------------------------------------------------------------------------------------

    def _expand(self) -> None:
        """After the prefill: each input's row repeated ``rows_per_input`` times, cache included."""
        if self.rows_per_input == 1:
            return
        index = torch.arange(self.inputs, device=self.ids.data.device).repeat_interleave(self.rows_per_input)
        for name in self.carried:
            if self.kwargs.get(name) is not None:
                self.kwargs[name] = repeat_state(self.kwargs[name], index, self.rows_per_input, CARRIED_OUTPUTS[name])
        self._select(index, self.inputs, states=False)

    def _select(self, rows: torch.Tensor, current: int, states: bool = True) -> None:
        """Every per-row input at ``rows`` (of ``current`` rows now); the caches and states too if ``states``."""
        self.ids.select(rows)
        for growing in self.growing.values():
            growing.select(rows)
        for name, value in list(self.kwargs.items()):
            if name in self.carried:
                if states and value is not None:
                    self.kwargs[name] = reorder_state(value, rows, CARRIED_OUTPUTS[name])
            elif isinstance(value, ModelOutput) or (  # encoder outputs, or a tensor with a row per current row
                    isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == current):
                self.kwargs[name] = map_rows(value, rows)

    def reorder(self, index: torch.Tensor) -> None:
        """Row i continues from row ``index[i]`` (beam search). index: (rows,) long."""
        self._select(index, self.rows)

    def keep(self, rows: torch.Tensor) -> None:
        raise NotImplementedError("PreparedStep keeps every row (compactable is False).")


__all__ = ["PreparedStep", "forward_parameters", "keeps_its_own_state", "prepares_its_own_inputs"]
