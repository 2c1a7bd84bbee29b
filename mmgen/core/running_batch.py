"""The running batch of continuous batching: rows at different lengths decoded by one forward.

A newcomer is prefilled alone by its own model step (the one ``mmgen.generate`` would run for
it, so its first logits are exactly the plain path's); `RunningBatch.join` then takes its cache
rows (and, for encoder-decoder models, its encoder output and cross-attention rows) in as the
batch's last row. `RunningBatch.keep` drops finished rows, `RunningBatch.step` feeds one token
per row and returns the next logits, (rows, vocab) float32.

Shapes (self-attention; see `mmgen.core.cache_rows`): the cache has ``length`` columns; a row
that holds n tokens uses the last n of them, the columns before it masked (left padding, as a
left-padded prompt has). ``mask`` is preallocated past ``length`` with ones (the columns the
next steps write). A newcomer longer than the batch widens every row on the left first; columns
that no row uses any more are dropped when rows leave, so the cache does not grow without bound
while rows come and go. Each row's position is its own (its count of real tokens, fed as
position ids), so a row decodes as it would alone; only the padding differs, which changes
float32 rounding (other kernels, other sums), not the arithmetic.

Encoder-decoder batches hold the encoder output and its cross-attention rows too, padded on the
right to the longest encoder input with the encoder mask marking the padding (as a padded batch
of source texts is); audio and image encoders have one length (Whisper: 1500 positions).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

import torch
from transformers.modeling_outputs import BaseModelOutput

from mmgen.core import cache_rows
from mmgen.core.model_step import DecoderOnlyStep, EncoderDecoderStep, ModelStep
from mmgen.core.options import OptionError

MASK_CHUNK = 64  # mask columns allocated at a time past the cache's length


class RunningBatch(Protocol):
    """Rows decoded together; rows join (after their own prefill) and leave between steps."""

    rows: int

    def join(self, step: ModelStep) -> None: ...

    def keep(self, rows: list[int]) -> None: ...

    def step(self, tokens: torch.Tensor) -> torch.Tensor: ...


def last_logits(outputs: Any) -> torch.Tensor:
    """(rows, vocab) float32 logits of the last position, copied out of the model's output."""
    return outputs.logits[:, -1].to(copy=True, dtype=torch.float32)


class SelfAttentionRows:
    """The self-attention side of a running batch: the cache's layers, the mask over their columns,
    each row's next position, and the first column each row uses (Python ints: read when rows join
    or leave, never in the step)."""

    def __init__(self) -> None:
        self.layers: list = []
        self.mask = torch.zeros(0, 0, dtype=torch.long)  # (rows, capacity): 1 on real and future columns
        self.positions = torch.zeros(0, 1, dtype=torch.long)  # (rows, 1): the position of each row's next token
        self.starts: list[int] = []
        self.length = 0  # cache columns

    @property
    def padded(self) -> bool:
        """Whether some row masks columns (else no mask is passed, as the plain path does unpadded)."""
        return any(self.starts)

    def join(self, layers: list, mask: torch.Tensor, next_position: torch.Tensor) -> None:
        """A newcomer's rows: its layers (1 row, n columns), its mask (1, n), its next position (1, 1)."""
        n = cache_rows.columns(layers)
        first = int(mask[0].argmax()) if bool((mask[0] == 0).any()) else 0  # its own left padding
        if not self.starts:  # the first row (or the first after every row left)
            self.layers, self.length = layers, n
            self.mask = torch.ones(1, n + MASK_CHUNK, dtype=mask.dtype, device=mask.device)
            self.mask[:, :n] = mask
            self.positions, self.starts = next_position, [first]
            return
        if n > self.length:  # the newcomer is longer: every row gets masked columns on its left
            extra = n - self.length
            cache_rows.pad_columns(self.layers, n, left=True)
            self.mask = cache_rows.widen(self.mask, self.mask.shape[1] + extra, dim=1, left=True)
            self.starts = [s + extra for s in self.starts]
            self.length = n
        cache_rows.append_rows(self.layers, layers, left=True)
        self.reserve()
        row = torch.ones(1, self.mask.shape[1], dtype=self.mask.dtype, device=self.mask.device)
        row[:, : self.length - n] = 0
        row[:, self.length - n: self.length] = mask
        self.mask = torch.cat([self.mask, row])
        self.positions = torch.cat([self.positions, next_position.to(self.positions)])
        self.starts.append(self.length - n + first)

    def keep(self, rows: list[int], index: torch.Tensor) -> None:
        """Keep ``rows`` (``index``: the same as a tensor); then drop the columns no row uses."""
        if not rows:  # the next row to join starts afresh
            self.__init__()
            return
        for layer in self.layers:
            layer.keys, layer.values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
        self.mask = self.mask.index_select(0, index)
        self.positions = self.positions.index_select(0, index)
        self.starts = [self.starts[r] for r in rows]
        unused = min(self.starts, default=0)
        if unused:
            cache_rows.drop_left_columns(self.layers, unused)
            self.mask = self.mask[:, unused:]
            self.starts = [s - unused for s in self.starts]
            self.length -= unused

    def reserve(self) -> None:
        """At least one mask column past the cache's (future columns are ones)."""
        if self.mask.shape[1] <= self.length:
            self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], MASK_CHUNK)], dim=1)

    def next_mask(self) -> torch.Tensor:
        """(rows, length + 1): the mask of the next step (its new column is a one)."""
        self.reserve()
        return self.mask[:, : self.length + 1]

    def advance(self) -> None:
        """After a step: one more column, every row one position further."""
        self.length += 1
        self.positions = self.positions + 1


def _takes(model: torch.nn.Module, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


class DecoderOnlyBatch:
    """A running batch of a causal LM; newcomers are `DecoderOnlyStep`s after their prefill.

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

    def join(self, step: ModelStep) -> None:
        if not isinstance(step, DecoderOnlyStep) or step.positions is None:
            raise OptionError(f"a {type(step).__name__} cannot join a running batch of a causal LM: use mmgen.generate.")
        layers = cache_rows.plain_layers(step.cache)
        mask = step.mask[:, : step.length]
        if self.rows == 0:
            self.cache = step.cache  # the batch's cache is the first newcomer's, grown
        self.rows_state.join(layers, mask, step.positions + 1)
        self.rows += 1

    def keep(self, rows: list[int]) -> None:
        self.rows_state.keep(rows, torch.tensor(rows, dtype=torch.long, device=self.model.device))
        self.rows = len(rows)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (rows,) each row's last token -> (rows, vocab) its next logits."""
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
    """A running batch of an encoder-decoder model; newcomers are `EncoderDecoderStep`s (Whisper's
    included) after their prefill, which ran their encoder.

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

    def join(self, step: ModelStep) -> None:
        if not isinstance(step, EncoderDecoderStep):
            raise OptionError(f"a {type(step).__name__} cannot join a running batch of an encoder-decoder model: "
                              "use mmgen.generate.")
        self_layers = cache_rows.plain_layers(step.cache.self_attention_cache)
        cross = cache_rows.plain_layers(step.cache.cross_attention_cache)
        n, width = cache_rows.columns(self_layers), cache_rows.columns(cross)
        device = step.device
        mask = step.mask[:, :n] if step.mask is not None else torch.ones(1, n, dtype=torch.long, device=device)
        position = (step.positions + 1 if step.positions is not None
                    else torch.full((1, 1), n, dtype=torch.long, device=device))
        hidden = step.encoder_outputs.last_hidden_state
        encoder_mask = step.encoder_mask
        self.masks_encoder = self.masks_encoder or encoder_mask is not None
        if encoder_mask is None:
            encoder_mask = torch.ones(1, width, dtype=torch.long, device=device)
        if self.rows == 0:
            self.cache, self.cross, self.encoder_mask = step.cache, cross, encoder_mask.long()
        else:
            batch_width = cache_rows.columns(self.cross)
            self.masks_encoder = self.masks_encoder or width != batch_width
            if width > batch_width:  # a longer source: every row's encoder side padded on the right
                cache_rows.pad_columns(self.cross, width, left=False)
                self.encoder_mask = cache_rows.widen(self.encoder_mask, width, dim=1, left=False)
            width = max(width, batch_width)
            cache_rows.append_rows(self.cross, cross, left=False)
            encoder_mask = cache_rows.widen(encoder_mask.long(), width, dim=1, left=False)
            self.encoder_mask = torch.cat([self.encoder_mask, encoder_mask])
            batch_hidden = cache_rows.widen(self.encoder_outputs.last_hidden_state, width, dim=1, left=False)
            hidden = torch.cat([batch_hidden, cache_rows.widen(hidden, width, dim=1, left=False)])
        self.encoder_outputs = BaseModelOutput(last_hidden_state=hidden)
        self.rows_state.join(self_layers, mask, position)
        self.rows += 1

    def keep(self, rows: list[int]) -> None:
        index = torch.tensor(rows, dtype=torch.long, device=self.model.device)
        self.rows_state.keep(rows, index)
        for layer in self.cross:
            layer.keys, layer.values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
        self.encoder_outputs = BaseModelOutput(last_hidden_state=self.encoder_outputs.last_hidden_state[index])
        self.encoder_mask = self.encoder_mask.index_select(0, index)
        self.rows = len(rows)
        if not rows:
            self.masks_encoder = False

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (rows,) each row's last token -> (rows, vocab) its next logits."""
        state = self.rows_state
        inputs: dict[str, Any] = {"encoder_outputs": self.encoder_outputs, "cache": self.cache, "use_cache": True,
                                  **self.feed(tokens[:, None], state.positions, state.length)}
        if self.masks_encoder:
            inputs["attention_mask"] = self.encoder_mask
        if state.padded:
            inputs["decoder_attention_mask"] = state.next_mask()
        outputs = self.model(**inputs, return_dict=True)
        state.advance()
        return last_logits(outputs)


__all__ = ["DecoderFeed", "DecoderOnlyBatch", "EncoderDecoderBatch", "RunningBatch", "SelfAttentionRows",
           "feed_position_ids", "feed_relative", "last_logits"]
