"""A causal LM's running batch packed into one sequence: rows join without a forward of their own.

In a rectangular batch (`mmgen.core.running_batch.DecoderOnlyBatch`) a newcomer's prompt costs a
forward of its own (or pads every other row to its length), and a forward of a small model, or
of a large one on an accelerator, costs about the same for 1 token or 100: on a stream of short
outputs the newcomers' prefills eat most of what refilling the batch saves. Here every row lives
in one batch row of the KV cache, its columns tagged with their row's sequence id and position,
and one forward per step feeds each decoding row's last token and each newcomer's whole prompt,
side by side. A 4D attention mask lets a token see only the earlier tokens of its own sequence
(key id = query id and key position <= query position), so each row attends to exactly what it
would alone, at its own positions; the forward computes no padding at all.

Shapes: the cache holds C columns, (1, heads, C, head_dim) per layer; ``owner`` (C,) the sequence
id of each column, ``position`` (C,) its position. A step's q tokens
(one per decoding row, then each newcomer's prompt) get the mask (1, 1, q, C + q), 0 where a
query may look and the dtype's minimum elsewhere (additive: what eager attention and SDPA both
take), and ``logits_to_keep`` picks each row's last token, so the logits are (rows, vocab).
Finished rows' columns are dropped from the cache as the rows leave: every forward reads all C
columns, so dead ones cost at every step; dropping them is one ``index_select`` per layer when rows
leave, written back into the layer's buffer (`mmgen.core.cache_rows.select_columns`: a new tensor
would make the next forward start a new buffer for every layer). Measured on demo/lm's stream of
64: ~5% faster than dropping them once they were half the cache (with concatenated caches); with
in-buffer drops an in-process A/B showed no difference beyond the shared machine's noise.

Cost: a step's attention scores every query against every column (q x C, most of them masked),
where a rectangular batch scores each row against its own; the keys and values read are the same.
With short contexts (a small model, or prompts of a few hundred tokens) the forwards saved win;
with long ones the rectangular batch may be cheaper.

Needs a model whose attention takes a prepared 4D mask as it is (transformers' mask functions do)
with eager or SDPA attention, and ``position_ids``; `supports_packing` checks it once per model
on a two-token probe, and other models get the rectangular batch.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from mmgen.core.cache_rows import plain_layers, select_columns
from mmgen.core.model_step import DecoderOnlyStep, ModelStep, new_cache
from mmgen.core.options import OptionError

PACKED_ATTENTION = frozenset({"eager", "sdpa"})  # attention functions that take an additive 4D mask as it is
_probed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _takes(model: torch.nn.Module, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(q, keys) bool -> (1, 1, q, keys) additive mask: 0 where allowed, the dtype's minimum elsewhere."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)[None, None]


def supports_packing(model: torch.nn.Module) -> bool:
    """Whether ``model`` decodes packed rows: eager or SDPA attention, ``position_ids``, and a 4D mask
    honoured as given. Probed once: two tokens in one row, the second blocked from the first and
    placed at position 0, must give the logits of the second alone."""
    if model in _probed:
        return _probed[model]
    config = getattr(model, "config", None)
    supported = (getattr(config, "_attn_implementation", None) in PACKED_ATTENTION
                 and _takes(model, "position_ids"))
    if supported:
        with torch.inference_mode():
            device, dtype = model.device, next(model.parameters()).dtype
            ids = torch.tensor([[1, 2]], device=device) % model.config.get_text_config(decoder=True).vocab_size
            alone = model(input_ids=ids[:, 1:], position_ids=torch.zeros(1, 1, dtype=torch.long, device=device),
                          use_cache=False).logits[0, -1].float()
            blocked = additive_mask(torch.eye(2, dtype=torch.bool, device=device), dtype)
            packed = model(input_ids=ids, position_ids=torch.zeros(1, 2, dtype=torch.long, device=device),
                           attention_mask=blocked, use_cache=False).logits[0, -1].float()
            supported = bool(torch.allclose(alone, packed, atol=1e-4, rtol=1e-3))
    _probed[model] = supported
    return supported


class PackedBatch:
    """The running batch of a causal LM, packed (module docstring); newcomers are `DecoderOnlyStep`s."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.device = model.device
        self.dtype = next(model.parameters()).dtype
        self.keep_logits = _takes(model, "logits_to_keep")
        self._reset()

    def _reset(self) -> None:
        self.cache: Any = None
        self.owner = torch.zeros(0, dtype=torch.long, device=self.device)  # (C,) sequence id per column
        self.position = torch.zeros(0, dtype=torch.long, device=self.device)  # (C,)
        self.ids = torch.zeros(0, dtype=torch.long, device=self.device)  # (rows,) each row's sequence id
        self.next_positions = torch.zeros(0, dtype=torch.long, device=self.device)  # (rows,)
        self.next_id = 0
        self.rows = 0

    def step(self, tokens: torch.Tensor, newcomers: Sequence[ModelStep] = ()) -> torch.Tensor:
        """tokens: (rows,) each row's last token; newcomers: `DecoderOnlyStep`s of inputs joining now,
        their prompts fed in this forward. Returns (rows + newcomers, vocab) float32."""
        prompts = []
        for step in newcomers:
            if not isinstance(step, DecoderOnlyStep):
                raise OptionError(f"a {type(step).__name__} cannot join a running batch of a causal LM: use "
                                  "mmgen.generate.")
            prompt = step.input_ids[0]
            prompts.append(prompt[step.mask[0, : step.length] != 0] if step.padded else prompt)  # without padding
        device, decoding = self.device, self.rows
        if prompts:
            sizes = [len(p) for p in prompts]
            lengths = torch.tensor(sizes, dtype=torch.long, device=device)
            new_ids = torch.arange(self.next_id, self.next_id + len(prompts), device=device)
            self.next_id += len(prompts)
            # The step's q tokens: each decoding row's last token, then each newcomer's prompt.
            inputs = torch.cat([tokens, *prompts])
            query_owner = torch.cat([self.ids, new_ids.repeat_interleave(lengths)])
            query_position = torch.cat([self.next_positions, *[torch.arange(n, device=device) for n in sizes]])
            last: torch.Tensor | int = torch.cat([torch.arange(decoding, device=device),
                                                  decoding + lengths.cumsum(0) - 1])  # (rows,)
            self.ids = torch.cat([self.ids, new_ids])
            self.next_positions = torch.cat([self.next_positions + 1, lengths])
        else:  # decoding rows only: one token each, every position's logits kept (0: all)
            inputs, query_owner, query_position, last = tokens, self.ids, self.next_positions, 0
            self.next_positions = self.next_positions + 1
        owner = torch.cat([self.owner, query_owner])
        position = torch.cat([self.position, query_position])
        allowed = owner[None, :] == query_owner[:, None]
        if prompts:  # causal inside each prompt (a decoding row's only new column is its last)
            allowed &= position[None, :] <= query_position[:, None]
        if self.cache is None:
            self.cache = new_cache(self.model)
        forward: dict[str, Any] = {"input_ids": inputs[None], "position_ids": query_position[None],
                                   "attention_mask": additive_mask(allowed, self.dtype), "cache": self.cache,
                                   "use_cache": True}
        if self.keep_logits:
            forward["logits_to_keep"] = last
        outputs = self.model(**forward, return_dict=True)
        logits = outputs.logits[0] if self.keep_logits or not prompts else outputs.logits[0, last]
        if getattr(outputs, "cache", None) is not None:
            self.cache = outputs.cache
        if not decoding:
            plain_layers(self.cache)  # one column per token in every layer, or an OptionError
        self.owner, self.position = owner, position
        self.rows = decoding + len(prompts)
        return logits.to(copy=True, dtype=torch.float32)

    def keep(self, rows: list[int]) -> None:
        """Keep ``rows``; the others' columns leave the cache."""
        if not rows:
            self._reset()
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.ids, self.next_positions = self.ids.index_select(0, index), self.next_positions.index_select(0, index)
        columns = torch.isin(self.owner, self.ids).nonzero().squeeze(-1)  # the kept rows' columns
        select_columns(self.cache.layers, columns)
        self.owner, self.position = self.owner.index_select(0, columns), self.position.index_select(0, columns)
        self.rows = len(rows)

__all__ = ["PACKED_ATTENTION", "PackedBatch", "additive_mask", "supports_packing"]
