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
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache, GenerationMixin
from transformers.utils import ModelOutput

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


def new_generation_cache(model: torch.nn.Module) -> DynamicCache | EncoderDecoderCache | None:
    """The cache ``generate`` starts a model with: dynamic, per decoder layer (an encoder-decoder pair for
    encoder-decoder models); None for the models that keep a state of their own."""
    if keeps_its_own_state(model):
        return None
    config = model.config.get_text_config(decoder=True)
    if model.config.is_encoder_decoder:
        return EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))
    return DynamicCache(config=config)


def forward_parameters(model: torch.nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def prepares_its_own_inputs(model: torch.nn.Module) -> bool:
    """Whether the model's class overrides ``prepare_inputs_for_generation`` (transformers' own says
    how generic models' inputs evolve, and mmgen's explicit steps do the same)."""
    return type(model).prepare_inputs_for_generation is not GenerationMixin.prepare_inputs_for_generation


def places_tokens_itself(model: torch.nn.Module) -> bool:
    """Whether the model computes its own position ids (M-RoPE: a public ``get_rope_index``), so the
    mask's running count must not be fed as positions."""
    return hasattr(model, "get_rope_index") or hasattr(getattr(model, "base_model", None), "get_rope_index")


def map_rows(value: Any, rows: torch.Tensor, dim: int = 0) -> Any:
    """``value`` (a tensor, a model output, a tuple or list of them) at ``rows`` along its batch (``dim``)."""
    if isinstance(value, torch.Tensor):
        return value.index_select(dim, rows.to(value.device)) if value.dim() > dim else value
    if isinstance(value, ModelOutput):
        return type(value)(**{k: map_rows(v, rows, dim) for k, v in value.items()})
    if isinstance(value, (tuple, list)):
        return type(value)(map_rows(v, rows, dim) for v in value)
    return value


def reorder_state(state: Any, rows: torch.Tensor, dim: int = 0) -> Any:
    """A cache (or recurrent state) at ``rows``, as beam search reorders it: its own ``reorder_cache``
    where it has one (as ``generate`` calls it), else every tensor along its batch."""
    if hasattr(state, "reorder_cache"):
        state.reorder_cache(rows)
        return state
    return map_rows(state, rows, dim)


def repeat_state(state: Any, index: torch.Tensor, repeats: int, dim: int = 0) -> Any:
    """A cache (or recurrent state) with each row repeated ``repeats`` times (``index``: the rows that makes).

    Its own ``batch_repeat_interleave`` where every part of it has one that knows all its parts
    (MiniMax's linear-attention state too), else its ``reorder_cache`` on ``index``, else every
    tensor along its batch.
    """
    layers = getattr(state, "layers", None)
    if hasattr(state, "batch_repeat_interleave") and all(_repeats_every_part(layer) for layer in layers or ()):
        state.batch_repeat_interleave(repeats)
        return state
    return reorder_state(state, index, dim)


def _repeats_every_part(layer: Any) -> bool:
    """Whether a cache layer's ``batch_repeat_interleave`` covers what its ``reorder_cache`` does.

    A layer that mixes a linear-attention state into an attention layer (transformers'
    ``LinearAttentionAndSlidingWindowAttentionLayer``: Inkling) overrides ``reorder_cache`` for both
    parts but inherits ``batch_repeat_interleave`` from the attention part alone, which leaves the
    convolution and recurrent states at the prompt's rows. Trusted when the class that defines
    ``batch_repeat_interleave`` is the one defining ``reorder_cache`` or a subclass of it.
    """
    if not hasattr(layer, "batch_repeat_interleave"):
        return False
    if not hasattr(layer, "reorder_cache"):
        return True
    mro = type(layer).__mro__
    repeats = next((k for k in mro if "batch_repeat_interleave" in vars(k)), None)
    reorders = next((k for k in mro if "reorder_cache" in vars(k)), None)
    return repeats is None or reorders is None or issubclass(repeats, reorders)


class GrowingInput:
    """An input with one column per token: (..., rows, allocated) with the batch on ``batch_dim``.

    ``next_column(last)`` makes the column of the next token from the last one (ones, zeros, the
    same, plus one). Columns are allocated `ROOM` at a time past the prompt, doubling when full,
    up to ``capacity`` (the call's longest length): a call allowed 10**8 tokens that ends after 4 holds a few.
    """

    ROOM = 256

    def __init__(self, value: torch.Tensor, capacity: int, next_column: Callable[[torch.Tensor], torch.Tensor],
                 batch_dim: int = 0):
        self.length = value.shape[-1]
        self.capacity = max(capacity, self.length)
        self.data = value.new_zeros((*value.shape[:-1], min(self.capacity, self.length + self.ROOM)))
        self.data[..., : self.length] = value
        self.next_column = next_column
        self.batch_dim = batch_dim

    @property
    def view(self) -> torch.Tensor:
        """The columns so far, contiguous (some models ``view`` their positions)."""
        return self.data[..., : self.length].contiguous()

    def grow(self) -> None:
        """One more column, made from the last one."""
        self.append(self.next_column(self.data[..., self.length - 1 : self.length]))

    def append(self, column: torch.Tensor) -> None:
        """One more column, given: (..., rows, 1) or (..., rows)."""
        if self.length == self.data.shape[-1]:
            grown = self.data.new_zeros((*self.data.shape[:-1], min(2 * self.length, max(self.capacity,
                                                                                         self.length + 1))))
            grown[..., : self.length] = self.data
            self.data = grown
        self.data[..., self.length : self.length + 1] = column.reshape(self.data[..., :1].shape)
        self.length += 1

    def select(self, rows: torch.Tensor) -> None:
        self.data = self.data.index_select(self.batch_dim, rows.to(self.data.device))


def _ones(last: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(last)


def _zeros(last: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(last)


def _same(last: torch.Tensor) -> torch.Tensor:
    return last


def _plus_one(last: torch.Tensor) -> torch.Tensor:
    return last + 1


def text_positions(input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(rows, length) positions: the mask's running count (``cumsum - 1``, 0 on padding), or 0, 1, ..."""
    if mask is None:
        return torch.arange(input_ids.shape[1], device=input_ids.device).expand(input_ids.shape[0], -1)
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


def initial_positions(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor | None,
                      model_inputs: dict[str, Any]) -> torch.Tensor:
    """The prompt's position ids, as ``generate`` computes them before the prefill.

    Most models: (rows, length) `text_positions`. A model that places tokens itself (M-RoPE, its
    public ``get_rope_index``): (4, rows, length), the text positions then its (t, h, w) rows,
    which ``get_rope_index`` lays out over the media tokens (`media_positions`) or, for a call
    without media, the text positions three times.
    """
    text = text_positions(input_ids, mask)
    if not places_tokens_itself(model):
        return text
    media = media_positions(model, input_ids, mask, model_inputs)
    if media is None:
        media = text[None].expand(3, -1, -1)
    return torch.cat([text[None], media.to(text.dtype)], dim=0)


def media_positions(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor | None,
                    model_inputs: dict[str, Any]) -> torch.Tensor | None:
    """(3, rows, length) M-RoPE (t, h, w) positions from the model's ``get_rope_index``, or None without media.

    Two kinds of model, told apart by what ``get_rope_index`` takes: most find media tokens by
    ``mm_token_type_ids`` and lay them out on their grids (``image_grid_thw``, ``video_grid_thw``,
    MiniCPM-V's ``target_sizes``), so the call needs both; the Omni models find them by their ids
    and also place audio (``audio_seqlens`` from the feature mask), so every call goes through it.
    """
    owner = model if hasattr(model, "get_rope_index") else model.base_model
    parameters = inspect.signature(owner.get_rope_index).parameters
    if "mm_token_type_ids" in parameters:
        grids = ("image_grid_thw", "video_grid_thw", "target_sizes", "target_sizes_videos")
        if model_inputs.get("mm_token_type_ids") is None or all(model_inputs.get(g) is None for g in grids):
            return None
        given = {k: v for k, v in model_inputs.items() if k not in ("input_ids", "attention_mask")}
    elif "audio_seqlens" in parameters:
        audio_lengths = model_inputs.get("audio_feature_lengths")
        if model_inputs.get("feature_attention_mask") is not None:
            audio_lengths = model_inputs["feature_attention_mask"].sum(dim=-1)
        given = {"image_grid_thw": model_inputs.get("image_grid_thw"),
                 "video_grid_thw": model_inputs.get("video_grid_thw"),
                 "use_audio_in_video": bool(model_inputs.get("use_audio_in_video")), "audio_seqlens": audio_lengths,
                 "second_per_grids": model_inputs.get("video_second_per_grid")}
        if mask is None:
            mask = torch.ones_like(input_ids)
    else:
        return None
    positions, _ = owner.get_rope_index(input_ids, attention_mask=mask, **given)
    return positions


class PreparedStep:
    """Prefill and one step per token over ``model.prepare_inputs_for_generation`` and ``forward``.

    input_ids: (inputs, prompt) decoder-only prompt, or an encoder-decoder model's decoder prompt.
    model_inputs: everything else the call gives the model, for the input rows (``attention_mask``,
      ``pixel_values``, ``token_type_ids``, an encoder's inputs, ``encoder_outputs``, ...).
    max_length: prompt + generated tokens at most. rows_per_input: beams / returned sequences.
    Logits are (rows, vocab) float32, ``rows = inputs * rows_per_input``.
    """

    compactable = False
    compile_seconds = 0.0  # a dynamic cache: never compiled

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, model_inputs: dict[str, Any],
                 max_length: int, rows_per_input: int = 1):
        self.model = model
        self.encoder_decoder = bool(model.config.is_encoder_decoder)
        self.inputs, prompt_length = input_ids.shape
        self.rows_per_input = rows_per_input
        self.rows = self.inputs * rows_per_input
        self.capacity = max(max_length, prompt_length)
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
        cache = new_generation_cache(model)
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
        outputs = self.model(**inputs, return_dict=True)
        self._carry(outputs)
        return outputs

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
            elif isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == current:
                self.kwargs[name] = map_rows(value, rows)
            elif isinstance(value, ModelOutput):  # encoder outputs
                self.kwargs[name] = map_rows(value, rows)

    def reorder(self, index: torch.Tensor) -> None:
        """Row i continues from row ``index[i]`` (beam search). index: (rows,) long."""
        self._select(index, self.rows)

    def keep(self, rows: torch.Tensor) -> None:
        raise NotImplementedError("PreparedStep keeps every row (compactable is False).")


__all__ = ["GrowingInput", "PreparedStep", "forward_parameters", "keeps_its_own_state", "map_rows",
           "places_tokens_itself", "prepares_its_own_inputs", "reorder_state", "repeat_state"]
