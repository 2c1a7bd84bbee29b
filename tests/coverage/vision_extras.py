"""Per-type inputs a vision-language model needs beside ids, mask and the processor's image outputs.

Each is what the model's own processor adds to a prompt, rebuilt from the prompt ids: InstructBLIP's
Q-Former prompt, Kosmos-2's image position mask, Mllama's cross-attention mask. Keyed by model
type; each function takes (model, inputs so far, image placeholder id) and returns what to add.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from text_inputs import pad_rows, random_rows

TEXT_LENGTHS = (5, 2)


def qformer_prompt(model: torch.nn.Module, inputs: dict[str, Any], image_id: int | None) -> dict[str, Any]:
    """InstructBLIP conditions its Q-Former on the instruction too: the text in the Q-Former's vocabulary,
    right padded as its BERT tokenizer does."""
    vocab = model.config.qformer_config.vocab_size
    rows = [[1 + (i % (vocab - 2)) for i in row] for row in random_rows(model, TEXT_LENGTHS, seed=3)]
    ids, mask = pad_rows(rows, model.config.qformer_config.pad_token_id or 0, left=False)
    return {"qformer_input_ids": ids, "qformer_attention_mask": mask}


def kosmos2_positions(model: torch.nn.Module, inputs: dict[str, Any], image_id: int | None) -> dict[str, Any]:
    """Kosmos-2 writes its image embeddings over ``latent_query_num`` placeholder tokens that only
    ``image_embeds_position_mask`` (1 there) tells apart; `FIXED_PLACEHOLDERS` puts them in the prompt."""
    return {"image_embeds_position_mask": (inputs["input_ids"] == image_id).long()}


def kosmos2_placeholders(model: torch.nn.Module) -> tuple[int, int]:
    """(placeholder id, count): any id works, the mask decides; the top of the vocabulary is free."""
    return model.config.text_config.vocab_size - 1, model.config.latent_query_num


def mllama_cross_attention(model: torch.nn.Module, inputs: dict[str, Any], image_id: int | None) -> dict[str, Any]:
    """Mllama's text tokens attend to an image from its ``<|image|>`` token on, over the image's tiles:
    (rows, tokens, images=1, max tiles)."""
    ids = inputs["input_ids"]
    tiles = model.config.vision_config.max_num_tiles
    used = inputs.get("aspect_ratio_mask")
    mask = torch.zeros(ids.shape[0], ids.shape[1], 1, tiles, dtype=torch.long)
    for row in range(ids.shape[0]):
        positions = (ids[row] == image_id).nonzero()
        if len(positions):
            valid = used[row, 0, :tiles] if used is not None else torch.ones(tiles, dtype=torch.long)
            mask[row, int(positions[0]):, 0, :] = valid.long()
    return {"cross_attention_mask": mask}


def idefics_images(model: torch.nn.Module, inputs: dict[str, Any], image_id: int | None) -> dict[str, Any]:
    """IDEFICS (v1) takes images as (rows, images per row, 3, H, W) and which images each token sees:
    ``image_attention_mask`` (rows, tokens, images), here every prompt token sees its row's image."""
    pixels = inputs["pixel_values"]
    rows = inputs["input_ids"].shape[0]
    return {"pixel_values": pixels.reshape(rows, -1, *pixels.shape[-3:]),
            "image_attention_mask": inputs["attention_mask"][:, :, None].clone()}


EXTRA_INPUTS: dict[str, Callable[[torch.nn.Module, dict[str, Any], int | None], dict[str, Any]]] = {
    "instructblip": qformer_prompt,
    "instructblipvideo": qformer_prompt,
    "kosmos-2": kosmos2_positions,
    "kosmos-2.5": kosmos2_positions,
    "mllama": mllama_cross_attention,
    "idefics": idefics_images,
}

def query_token_placeholders(model: torch.nn.Module) -> tuple[int, int]:
    """BLIP-2 and InstructBLIP: their processors put ``num_query_tokens`` image tokens before the text."""
    return model.config.image_token_index, model.config.num_query_tokens


# Models whose placeholders no config entry names and no mismatch error counts: (id, count) per row.
FIXED_PLACEHOLDERS: dict[str, Callable[[torch.nn.Module], tuple[int, int]]] = {
    "kosmos-2": kosmos2_placeholders,
    "kosmos-2.5": kosmos2_placeholders,
    "blip-2": query_token_placeholders,
    "instructblip": query_token_placeholders,
}
