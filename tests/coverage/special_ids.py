"""Special token ids of a shrunk config: moved into the shrunk vocabulary, and read back for prompts.

A full-size config names ids such as ``image_token_id=151655`` or ``eos_token_id=[151645, 151643]``;
with a 256-token vocabulary they would index past the embedding. Every id at or past the
vocabulary is given a slot at its top (the same old id gets the same slot in every sub-config),
so the rest of the vocabulary holds plain text ids that prompts are drawn from.
"""

from __future__ import annotations

from typing import Any

# Ids from the top of the vocabulary downwards are the moved special ids.
FIRST_PLAIN_ID = 4  # ids 0..3 are often pad/bos/eos/unk in defaults: prompts avoid them
RESERVED_TOP = 64  # the top 64 ids hold moved special ids; prompts avoid them


def is_token_id_key(key: str) -> bool:
    return key.endswith(("_token_id", "_token_ids", "_token_index", "_token")) or key in (
        "image_token_index", "video_token_index", "audio_token_index", "decoder_start_token_id",
        "image_patch_id")  # Molmo2's image placeholder


def _vocab_size(config: dict[str, Any], inherited: int | None) -> int | None:
    """A config's own vocabulary, else its text sub-config's, else its parent's."""
    if isinstance(config.get("vocab_size"), int):
        return config["vocab_size"]
    text = config.get("text_config")
    if isinstance(text, dict) and isinstance(text.get("vocab_size"), int):
        return text["vocab_size"]
    return inherited


def remap_special_ids(config: dict[str, Any], inherited_vocab: int | None = None,
                      moved: dict[int, int] | None = None) -> None:
    """Move every special id >= the vocabulary into its top, in place (sub-configs included)."""
    vocab = _vocab_size(config, inherited_vocab)
    moved = {} if moved is None else moved

    def new_id(old: int) -> int:
        if old not in moved:
            moved[old] = vocab - 1 - len(moved)
        return moved[old]

    for key, value in config.items():
        if isinstance(value, dict) and "model_type" in value:
            remap_special_ids(value, vocab, moved)
        elif is_token_id_key(key) and vocab:
            if isinstance(value, int) and not isinstance(value, bool) and value >= vocab:
                config[key] = new_id(value)
            elif isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                config[key] = [new_id(v) if v >= vocab else v for v in value]


def special_ids_of(config: Any) -> set[int]:
    """Every id a config (object, sub-configs included) names as special."""
    found: set[int] = set()
    for key, value in vars(config).items():
        if hasattr(value, "to_dict") and hasattr(value, "model_type"):
            found |= special_ids_of(value)
        elif is_token_id_key(key):
            if isinstance(value, int) and not isinstance(value, bool):
                found.add(value)
            elif isinstance(value, (list, tuple)):
                found |= {v for v in value if isinstance(v, int)}
    return found
