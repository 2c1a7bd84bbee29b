"""A causal LM step that feeds several tokens per row and can take columns back: speculative decoding's step.

Speculative decoding feeds each row its last token and a draft's proposals in one forward, then
keeps only what the target model agrees with, and rows agree on different numbers of tokens.
Rather than cut each row's cache at its own length (a ragged cache), every forward appends the
same number of columns to every row and the rejected ones become *holes*: they stay in the
cache, hidden by the attention mask. Positions count only the visible columns, so each kept
token sits at the position plain decoding gives it and the model sees the same context:

    columns:  [pad  p1  p2  p3 | t0  d1  d2  d3 | t1 ...]     mask: [0 1 1 1 | 1 1 0 0 | 1 ...]
    position:  0    0   1   2  | 3   4   .   .  | 5

State (rows = the step's current batch): ``mask`` (rows, capacity) bool, the visible columns,
grown by doubling; ``columns`` how many are filled; ``seen`` (rows,) visible columns per row.
Only public surfaces: ``forward`` with ``attention_mask``/``position_ids``/``cache``, and the
cache's ``reorder_cache`` for rows leaving the batch.

The mask is handed to the model ready, 4D (rows, 1, n, columns): the one transformers' mask
functions would build from the 2D mask (SDPA: bool, True where a query may look; eager: 0 or the
dtype's minimum, added), so the logits are the same, without building it again at every forward
(most of a small draft model's forward, on a CPU). Models whose attention does not take a 4D
mask as given (`mmgen.core.packed_batch.supports_packing` probes it once) get the 2D mask.
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.core.model_step import _forward_parameters, new_cache
from mmgen.core.options import OptionError
from mmgen.core.packed_batch import supports_packing


def sliding_window(model: torch.nn.Module) -> int | None:
    """The model's attention window when some of its layers slide, else None.

    A sliding layer keeps the last ``window`` *columns*; with holes those hold fewer than
    ``window`` tokens, so the model would see less context than plain decoding gives it.
    """
    config = model.config.get_text_config(decoder=True)
    window = getattr(config, "sliding_window", None) or getattr(config, "attention_window", None)
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and not any("sliding" in str(t) or "chunked" in str(t) for t in layer_types):
        return None
    return window if isinstance(window, int) else None


class MaskedCacheStep:
    """Feeds (rows, n) tokens per forward over a dynamic cache whose columns can be hidden (see the module docstring).

    input_ids, attention_mask: (rows, prompt) left-padded, as `DecoderOnlyStep` takes them.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        parameters = _forward_parameters(model)
        missing = {"attention_mask", "position_ids"} - parameters
        if missing:
            raise OptionError(f"Speculative decoding needs a model whose forward takes {' and '.join(sorted(missing))} "
                              f"({type(model).__name__} does not): drop assistant_model / prompt_lookup_num_tokens.")
        self.model = model
        self.keeps_logits = "logits_to_keep" in parameters
        self.cache = new_cache(model)
        self.prompt, self.prompt_mask = input_ids, attention_mask.bool()
        rows, length = input_ids.shape
        self.mask = torch.zeros(rows, 2 * length + 64, dtype=torch.bool, device=input_ids.device)
        self.columns = 0
        self.seen = torch.zeros(rows, dtype=torch.long, device=input_ids.device)
        # Until a column is hidden the mask is all ones and the model is given none, as generate does
        # for an unpadded batch: the same attention path, and no mask to build per forward.
        self.complete = True
        implementation = getattr(model.config, "_attn_implementation", None)
        self.mask_kind = implementation if implementation in ("sdpa", "eager") and supports_packing(model) else None
        self.dtype = next(model.parameters()).dtype
        self._arange: dict[int, torch.Tensor] = {}

    @property
    def rows(self) -> int:
        return self.seen.shape[0]

    def _make_room(self, n: int) -> None:
        if self.columns + n > self.mask.shape[1]:
            grown = self.mask.new_zeros(self.rows, 2 * (self.columns + n))
            grown[:, : self.columns] = self.mask[:, : self.columns]
            self.mask = grown

    def feed(self, tokens: torch.Tensor, visible: torch.Tensor | None = None, keep: int = 1) -> torch.Tensor:
        """Append ``tokens`` (rows, n) as n new columns; ``visible`` (rows, n) bool hides some from the
        start (None: all visible). Returns the float32 logits of the last ``keep`` columns (rows, keep, vocab)."""
        n = tokens.shape[1]
        self._make_room(n)
        if visible is None:  # every column visible (the draft's tokens, the target's checks): fewer ops
            self.mask[:, self.columns: self.columns + n] = True
            positions = self.seen[:, None] + self._offsets(n, tokens.device)
            self.seen = self.seen + n
        else:
            self.mask[:, self.columns: self.columns + n] = visible
            if self.complete:
                self.complete = bool(visible.all())
            # A hidden column's position is never read (no visible query attends to it); 0 keeps it in range.
            positions = (self.seen[:, None] + visible.long().cumsum(-1) - 1).masked_fill(~visible, 0)
            self.seen = self.seen + visible.sum(-1)
        self.columns += n
        inputs: dict[str, Any] = {"input_ids": tokens, "position_ids": positions, "cache": self.cache,
                                  "use_cache": True, "return_dict": True}
        if not self.complete:
            inputs["attention_mask"] = self._attention_mask(n)
        if self.keeps_logits:
            inputs["logits_to_keep"] = keep
        outputs = self.model(**inputs)
        if getattr(outputs, "cache", None) is not None:
            self.cache = outputs.cache
        return outputs.logits[:, -keep:].to(copy=True, dtype=torch.float32)

    def _offsets(self, n: int, device: torch.device) -> torch.Tensor:
        """(n,) 0 .. n-1, kept per n: the positions of n visible columns after a row's ``seen``."""
        offsets = self._arange.get(n)
        if offsets is None:
            offsets = self._arange[n] = torch.arange(n, device=device)
        return offsets

    def _attention_mask(self, n: int) -> torch.Tensor:
        """The mask of a forward feeding the last ``n`` columns: (rows, 1, n, columns) ready, or (rows, columns)."""
        visible = self.mask[:, : self.columns]
        if self.mask_kind is None:
            return visible.long()
        allowed = visible[:, None, None, :]  # (rows, 1, 1, columns)
        if n > 1:  # causal inside the new columns: query i sees the columns up to its own
            start = self.columns - n
            keys = torch.arange(self.columns, device=visible.device)
            queries = torch.arange(start, self.columns, device=visible.device)
            allowed = allowed & (keys <= queries[:, None])
        if self.mask_kind == "sdpa":
            return allowed
        return torch.zeros(allowed.shape, dtype=self.dtype, device=allowed.device).masked_fill_(
            ~allowed, torch.finfo(self.dtype).min)

    def prefill(self) -> torch.Tensor:
        """Feed the prompt; the (rows, vocab) logits after it."""
        return self.feed(self.prompt, self.prompt_mask)[:, -1]

    def hide(self, kept: torch.Tensor, fed: int) -> None:
        """Of the last ``fed`` columns, hide those past each row's first ``kept`` (rows,) visible ones.

        The last forward's columns were all visible except a prefix hidden at feed time; hiding
        works from the end: a row keeping k of its v visible new columns hides the last v - k.
        """
        start = self.columns - fed
        window = self.mask[:, start: self.columns]
        rank = window.long().cumsum(-1)  # 1-based rank of each visible new column
        hidden = window & (rank > kept[:, None])
        self.mask[:, start: self.columns] = window & ~hidden
        self.seen = self.seen - hidden.sum(-1)
        if self.complete:
            self.complete = not bool(hidden.any())

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Drop every row not in ``rows`` (rows, long, increasing): they left the batch."""
        self.cache.reorder_cache(rows)
        self.mask = self.mask.index_select(0, rows)
        self.seen = self.seen.index_select(0, rows)


__all__ = ["MaskedCacheStep", "sliding_window"]
