"""Text prompts for a tiny model: a batch of two unequal prompts of plain ids, with their attention mask.

Decoder-only models get left padding (what ``model.generate`` expects for a batch); encoder
inputs get right padding. Plain ids avoid every special id the config names and the top of the
vocabulary where `special_ids` moved them.
"""

from __future__ import annotations

import torch
from special_ids import FIRST_PLAIN_ID, RESERVED_TOP, special_ids_of

LENGTHS = (7, 4)  # two rows of unequal length: one row is padded
SEED = 1


def vocab_size(model: torch.nn.Module) -> int:
    """Ids the model can embed: the text config's vocabulary, bounded by the input embedding's rows."""
    size = getattr(model.config.get_text_config(decoder=True), "vocab_size", None)
    try:
        rows = model.get_input_embeddings().num_embeddings
    except (AttributeError, NotImplementedError, TypeError):
        rows = None
    sizes = [s for s in (size, rows) if isinstance(s, int)]
    if not sizes:
        raise ValueError("the model names no vocabulary size")
    return min(sizes)


def plain_ids(model: torch.nn.Module) -> torch.Tensor:
    """(n,) ids that no config entry names as special, below the moved special ids."""
    vocab = vocab_size(model)
    top = vocab - RESERVED_TOP if vocab > 2 * RESERVED_TOP else vocab
    special = special_ids_of(model.config)
    ids = [i for i in range(FIRST_PLAIN_ID, top) if i not in special]
    if len(ids) < 8:
        raise ValueError(f"vocabulary of {vocab} leaves {len(ids)} plain ids")
    return torch.tensor(ids)


def pad_id(model: torch.nn.Module) -> int:
    """The pad id ``model.generate`` would use: the generation config's, else its first EOS, else 0."""
    generation = model.generation_config
    if generation.pad_token_id is not None:
        return int(generation.pad_token_id)
    eos = generation.eos_token_id
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    return int(eos) if eos is not None else 0


def random_rows(model: torch.nn.Module, lengths: tuple[int, ...] = LENGTHS, seed: int = SEED) -> list[list[int]]:
    """Rows of plain ids of the given lengths, seeded."""
    pool = plain_ids(model)
    generator = torch.Generator().manual_seed(seed)
    return [pool[torch.randint(len(pool), (n,), generator=generator)].tolist() for n in lengths]


def pad_rows(rows: list[list[int]], pad: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (len(rows), longest row), padded left or right."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(row, dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


def text_inputs(model: torch.nn.Module, left: bool) -> dict[str, torch.Tensor]:
    """{"input_ids", "attention_mask"} for two unequal prompts; a BOS starts each row when the config has one."""
    rows = random_rows(model)
    bos = model.generation_config.bos_token_id
    if isinstance(bos, int) and left:
        rows = [[bos, *row] for row in rows]
    input_ids, attention_mask = pad_rows(rows, pad_id(model), left=left)
    return {"input_ids": input_ids, "attention_mask": attention_mask}
