"""Per-type corrections where generic shrinking is not enough (read with `tiny_configs`).

Each entry is keyed by model type, or by model class where one type has several classes with
different needs. ``values`` are dotted paths set after shrinking (``DELETE`` removes a key so the
config derives it again); ``base`` builds the starting dict for composite configs that have no
usable defaults; ``finish`` edits the built config object.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from transformers import CONFIG_MAPPING

DELETE = object()


@dataclasses.dataclass(frozen=True)
class Override:
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    base: Callable[[], dict[str, Any]] | None = None
    finish: Callable[[Any], None] | None = None


def _composite(encoder_type: str, decoder_type: str, **extra: Any) -> Callable[[], dict[str, Any]]:
    """A composite encoder-decoder config's starting dict: both parts' defaults, the decoder cross-attending."""
    def build() -> dict[str, Any]:
        encoder = CONFIG_MAPPING[encoder_type]().to_dict()
        decoder = CONFIG_MAPPING[decoder_type]().to_dict()
        decoder.update(is_decoder=True, add_cross_attention=True)
        return {"encoder": encoder, "decoder": decoder, "model_type": "", **extra}
    return build


OVERRIDES: dict[str, Override] = {
    # Composite encoder-decoders: pick small, common parts.
    "encoder-decoder": Override(base=_composite("bert", "bert", decoder_start_token_id=1, pad_token_id=0)),
    "vision-encoder-decoder": Override(base=_composite("vit", "gpt2", decoder_start_token_id=1, pad_token_id=0)),
    "speech-encoder-decoder": Override(base=_composite("wav2vec2", "bert", decoder_start_token_id=1,
                                                       pad_token_id=0)),
}


def override_for(model_type: str, class_name: str | None = None) -> Override:
    return OVERRIDES.get(class_name or "", OVERRIDES.get(model_type, Override()))
