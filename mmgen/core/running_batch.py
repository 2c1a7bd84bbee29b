"""The running batch of continuous batching: rows at different lengths decoded by one forward.

`RunningBatch.step` feeds each row its last token and prefills the inputs that join now, and
returns every row's next logits, (rows, vocab) float32, the newcomers last; `RunningBatch.keep`
drops finished rows between steps.

Self-attention (see `mmgen.core.cache_rows`): the cache has ``length`` columns; a row that holds
n tokens uses the last n, the columns before masked (left padding, as a left-padded prompt has).
Each row's positions are its own (its count of real tokens, fed as position ids), so a row
decodes as it would alone; only the padding around it differs, which changes float32 rounding
(other kernels, other sums), not the arithmetic. Columns no row uses any more are dropped, so
the cache does not grow while rows come and go.

A causal LM's newcomers are prefilled alone by their own model step (the one ``mmgen.generate``
would run for them: their first logits are the plain path's), then their cache rows join as the
batch's last rows. An encoder-decoder model's newcomers come prefilled, in groups, ahead of the
slots they take (`mmgen.core.group_prefill`); their rows of the group's cache join, with their
encoder output and cross-attention rows, padded on the right to the longest encoder input with
the encoder mask marking the padding (as a padded batch of source texts is); audio and image
encoders have one length (Whisper: 1500 positions). Causal LMs whose attention takes a 4D mask
avoid the newcomers' forwards altogether: see `mmgen.core.packed_batch`.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from transformers.modeling_outputs import BaseModelOutput

from mmgen.core.cache_rows import (
    SelfAttentionRows,
    append_rows,
    columns,
    pad_columns,
    plain_layers,
    rows_of_cache,
    widen,
)
from mmgen.core.group_prefill import PrefilledRow
from mmgen.core.model_step import DecoderOnlyStep, EncoderDecoderStep, ModelStep
from mmgen.core.options import OptionError
from mmgen.core.packed_batch import PACKED_ATTENTION, additive_mask


class RunningBatch(Protocol):
    """Rows decoded together; rows join at a step (prefilled in it) and leave between steps."""

    rows: int

    def step(self, tokens: torch.Tensor, newcomers: Sequence[ModelStep] = ()) -> torch.Tensor: ...

    def keep(self, rows: list[int]) -> None: ...


def last_logits(outputs: Any) -> torch.Tensor:
    """(rows, vocab) float32 logits of the last position, copied out of the model's output."""
    return outputs.logits[:, -1].to(copy=True, dtype=torch.float32)


def _takes(model: torch.nn.Module, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


class DecoderOnlyBatch:
    """A rectangular running batch of a causal LM (models that cannot be packed, see
    `mmgen.core.packed_batch`); newcomers are `DecoderOnlyStep`s, each prefilled alone, then its
    cache rows join as the batch's last row.

    The model must take ``position_ids``: a row's positions are its own, not the batch's columns.
    """

    def __init__(self, model: torch.nn.Module):
        if not _takes(model, "position_ids"):
            raise OptionError(f"continuous batching feeds each row its own positions, and {type(model).__name__}."
                              "forward takes no position_ids: use mmgen.generate.")
        self.model = model
        self.keep_last_logits = _takes(model, "logits_to_keep")
        self.rows_state = SelfAttentionRows()
        self.cache: Any = None
        self.rows = 0

    def step(self, tokens: torch.Tensor, newcomers: Sequence[ModelStep] = ()) -> torch.Tensor:
        """tokens: (rows,) each row's last token; newcomers: `DecoderOnlyStep`s of inputs that join now.
        Returns (rows + newcomers, vocab)."""
        logits = [self._decode(tokens)] if self.rows else []
        for step in newcomers:
            if not isinstance(step, DecoderOnlyStep) or step.positions is None:
                raise OptionError(f"a {type(step).__name__} cannot join a running batch of a causal LM: use "
                                  "mmgen.generate.")
            logits.append(step.prefill())
            if self.rows == 0:
                self.cache = step.cache  # the batch's cache is the first newcomer's, grown
            self.rows_state.join(plain_layers(step.cache), step.mask[:, : step.length], step.positions + 1)
            self.rows += 1
            step.cache = None  # its rows live in the batch now
        return torch.cat(logits)

    def _decode(self, tokens: torch.Tensor) -> torch.Tensor:
        state = self.rows_state
        inputs: dict[str, Any] = {"input_ids": tokens[:, None], "cache": self.cache, "use_cache": True,
                                  "position_ids": state.positions}
        if state.padded:
            inputs["attention_mask"] = state.next_mask()
        if self.keep_last_logits:
            inputs["logits_to_keep"] = 1
        outputs = self.model(**inputs, return_dict=True)
        state.advance()
        return last_logits(outputs)

    def keep(self, rows: list[int]) -> None:
        self.rows_state.keep(rows, torch.tensor(rows, dtype=torch.long, device=self.model.device))
        self.rows = len(rows)


# How a decoder is fed one token per row at each row's own position: (tokens (rows, 1), positions
# (rows, 1), the cache's columns) -> the forward's decoder inputs.
DecoderFeed = Callable[[torch.Tensor, torch.Tensor, int], dict[str, Any]]


def feed_position_ids(keyword: str) -> DecoderFeed:
    """Decoders that take positions (``decoder_position_ids``: Whisper, a VisionEncoderDecoder's causal LM)."""

    def feed(tokens: torch.Tensor, positions: torch.Tensor, columns: int) -> dict[str, Any]:
        return {"decoder_input_ids": tokens, keyword: positions}

    return feed


def feed_relative(tokens: torch.Tensor, positions: torch.Tensor, columns: int) -> dict[str, Any]:
    """Decoders whose positions are relative (T5): left padding moves a row's query and keys alike."""
    return {"decoder_input_ids": tokens}


class EncoderDecoderBatch:
    """A running batch of an encoder-decoder model; newcomers are `PrefilledRow`s: rows of
    `EncoderDecoderStep`s (Whisper's included) prefilled in groups, which ran their encoder.

    feed: how the decoder takes each row's token and position (`DecoderFeed`; the model family knows).
    """

    def __init__(self, model: torch.nn.Module, feed: DecoderFeed):
        self.model = model
        self.feed = feed
        self.rows_state = SelfAttentionRows()
        self.cache: Any = None
        self.cross: list = []  # the cross-attention layers: (rows, heads, encoder length, head_dim)
        self.encoder_outputs = BaseModelOutput(last_hidden_state=None)  # (rows, encoder length, hidden)
        self.encoder_mask = torch.zeros(0, 0, dtype=torch.long)  # (rows, encoder length)
        self.masks_encoder = False  # pass the encoder mask: some newcomer had one, or lengths differ
        self.rows = 0
        # Eager and SDPA attention take a prepared 4D mask as it is, where a 2D one is expanded by
        # transformers' mask functions at every step (about a fifth of a small decoder's forward);
        # the encoder side's changes only when rows join or leave, so it is kept between steps.
        config = model.config.get_text_config(decoder=True)
        self.dtype = next(model.parameters()).dtype
        self.prepares_masks = getattr(config, "_attn_implementation", None) in PACKED_ATTENTION
        self._encoder_bias: torch.Tensor | None = None  # (rows, 1, 1, encoder length), see _encoder_attention

    def step(self, tokens: torch.Tensor, newcomers: Sequence[PrefilledRow] = ()) -> torch.Tensor:
        """tokens: (rows,) each row's last token; newcomers: inputs that join now, prefilled already
        (`mmgen.core.group_prefill`), consecutive rows of one group joining together. Returns
        (rows + newcomers, vocab)."""
        logits = [self._decode(tokens)] if self.rows else []
        for group, joining in itertools.groupby(newcomers, key=self._group_of):
            joining = list(joining)
            logits += [row.logits for row in joining]
            self._join(group, slice(joining[0].row, joining[-1].row + 1))
            for row in joining:
                row.group = None  # its rows live in the batch now
        return torch.cat(logits)

    @staticmethod
    def _group_of(row: PrefilledRow) -> EncoderDecoderStep:
        if not isinstance(row, PrefilledRow) or row.group is None:
            raise OptionError(f"a {type(row).__name__} cannot join a running batch of an encoder-decoder model: "
                              "use mmgen.generate.")
        return row.group

    def _join(self, group: EncoderDecoderStep, rows: slice) -> None:
        """Rows ``rows`` (consecutive) of ``group``, prefilled, join as the batch's last rows."""
        cache = rows_of_cache(group.cache, rows)
        self_layers = plain_layers(cache.self_attention_cache)
        cross = plain_layers(cache.cross_attention_cache)
        n, width = columns(self_layers), columns(cross)
        device = group.device
        count = rows.stop - rows.start
        mask = (group.mask[rows, :n] if group.mask is not None
                else torch.ones(count, n, dtype=torch.long, device=device))
        position = (group.positions[rows] + 1 if group.positions is not None
                    else torch.full((count, 1), n, dtype=torch.long, device=device))
        hidden = group.encoder_outputs.last_hidden_state[rows]
        encoder_mask = group.encoder_mask[rows] if group.encoder_mask is not None else None
        self.masks_encoder = self.masks_encoder or encoder_mask is not None
        if encoder_mask is None:
            encoder_mask = torch.ones(count, width, dtype=torch.long, device=device)
        if self.rows == 0:  # copies: `keep` moves the encoder side's rows in place, and these are views
            for layer in cross:  # of the group's tensors (a caller's own mask, for a group of one)
                layer.keys, layer.values = layer.keys.clone(), layer.values.clone()
            self.cache, self.cross, self.encoder_mask = cache, cross, encoder_mask.long().clone()
            hidden = hidden.clone()
        else:
            batch_width = columns(self.cross)
            self.masks_encoder = self.masks_encoder or width != batch_width
            if width > batch_width:  # a longer source: every row's encoder side padded on the right
                pad_columns(self.cross, width, left=False)
                self.encoder_mask = widen(self.encoder_mask, width, dim=1, left=False)
            width = max(width, batch_width)
            append_rows(self.cross, cross, left=False)
            encoder_mask = widen(encoder_mask.long(), width, dim=1, left=False)
            self.encoder_mask = torch.cat([self.encoder_mask, encoder_mask])
            batch_hidden = widen(self.encoder_outputs.last_hidden_state, width, dim=1, left=False)
            hidden = torch.cat([batch_hidden, widen(hidden, width, dim=1, left=False)])
        self.encoder_outputs = BaseModelOutput(last_hidden_state=hidden)
        self._encoder_bias = None
        self.rows_state.join(self_layers, mask, position)
        self.rows += count
        if rows.stop == group.rows:  # its last rows joined (in order): its own copy of them is not read again
            group.cache = group.encoder_outputs = None

    def keep(self, rows: list[int]) -> None:
        """Keep ``rows``, in that order. The encoder side (cross-attention keys and values, encoder output:
        (rows, ..., encoder length, ...), the batch's largest tensors) moves in place when only rows past
        the new end move into the places of rows that left (`mmgen.core.continuous.swap_removed`'s
        order): a row or two copied, not every row (whisper-tiny's cross-attention, 8 rows of 1500
        positions, 4 layers: ~2 ms against ~15 for an ``index_select`` of every row, one core)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.model.device)
        self.rows_state.keep(rows, index)
        count = len(rows)
        moves = [(place, row) for place, row in enumerate(rows) if place != row]
        encoder_side = [self.encoder_outputs.last_hidden_state, self.encoder_mask]
        encoder_side += [tensor for layer in self.cross for tensor in (layer.keys, layer.values)]
        if all(row >= count for _, row in moves):
            for tensor in encoder_side:
                for place, row in moves:
                    tensor[place] = tensor[row]
            kept = [tensor[:count] for tensor in encoder_side]
        else:
            kept = [tensor.index_select(0, index) for tensor in encoder_side]
        hidden, self.encoder_mask, *cross = kept
        self.encoder_outputs = BaseModelOutput(last_hidden_state=hidden)
        for layer, keys, values in zip(self.cross, cross[::2], cross[1::2]):
            layer.keys, layer.values = keys, values
        self._encoder_bias = None
        self.rows = len(rows)
        if not rows:
            self.masks_encoder = False

    def _decode(self, tokens: torch.Tensor) -> torch.Tensor:
        state = self.rows_state
        inputs: dict[str, Any] = {"encoder_outputs": self.encoder_outputs, "cache": self.cache, "use_cache": True,
                                  **self.feed(tokens[:, None], state.positions, state.length)}
        if self.masks_encoder:
            inputs["attention_mask"] = self._encoder_attention()
        if state.padded:
            mask = state.next_mask()
            inputs["decoder_attention_mask"] = padding_bias(mask, self.dtype) if self.prepares_masks else mask
        outputs = self.model(**inputs, return_dict=True)
        state.advance()
        return last_logits(outputs)

    def _encoder_attention(self) -> torch.Tensor:
        """The encoder mask as the model takes it: (rows, encoder length), or prepared (`padding_bias`) once
        per change of rows."""
        if not self.prepares_masks:
            return self.encoder_mask
        if self._encoder_bias is None:
            self._encoder_bias = padding_bias(self.encoder_mask, self.dtype)
        return self._encoder_bias


def padding_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(rows, keys) 0/1 padding mask -> (rows, 1, 1, keys) additive mask for one query per row: 0 where
    the mask is 1, the dtype's minimum elsewhere (what transformers' mask functions build from it)."""
    return additive_mask(mask != 0, dtype)[0, 0, :, None, None]


__all__ = ["DecoderFeed", "DecoderOnlyBatch", "EncoderDecoderBatch", "RunningBatch", "feed_position_ids",
           "feed_relative", "last_logits", "padding_bias"]
