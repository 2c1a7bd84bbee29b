"""A model's preprocessing parts: its processor, or the tokenizer / image processor / feature extractor.

``AutoProcessor`` returns a multi-part processor (``WhisperProcessor``, ``BlipProcessor``, ...)
when the model has one, and otherwise falls back to the *first* part it finds, so a directory
holding both a tokenizer and an image processor (a ``VisionEncoderDecoderModel``) would lose the
image processor. `load_components` therefore loads each missing part on its own as well.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from transformers import (
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoProcessor,
    AutoTokenizer,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    SequenceFeatureExtractor,
)
from transformers.image_processing_utils import BaseImageProcessor

logger = logging.getLogger("mmgen")


@dataclass(frozen=True)
class Components:
    """The preprocessing parts of one model; any part may be missing (None).

    processor: the multi-part processor (a ``ProcessorMixin``), if the model has one.
    tokenizer: reads prompts and decodes generated ids.
    image_processor: images -> ``pixel_values``.
    feature_extractor: waveforms -> ``input_features`` / ``input_values`` (audio models).
    """

    processor: Any = None
    tokenizer: Any = None
    image_processor: Any = None
    feature_extractor: Any = None

    @classmethod
    def from_parts(cls, *parts: Any) -> Components:
        """Sort processors, tokenizers, image processors and feature extractors into their slots."""
        found: dict[str, Any] = {}
        for part in parts:
            if part is None:
                continue
            if isinstance(part, ProcessorMixin):
                found.setdefault("processor", part)
                for name in ("tokenizer", "image_processor", "feature_extractor"):
                    if getattr(part, name, None) is not None:
                        found.setdefault(name, getattr(part, name))
            elif isinstance(part, PreTrainedTokenizerBase):
                found.setdefault("tokenizer", part)
            elif isinstance(part, BaseImageProcessor):
                found.setdefault("image_processor", part)
            elif isinstance(part, SequenceFeatureExtractor):
                found.setdefault("feature_extractor", part)
        return cls(**found)


def _try_load(loader: Any, path: str, **kwargs: Any) -> Any:
    try:
        return loader.from_pretrained(path, **kwargs)
    except Exception as exc:  # a missing part is normal (a text model has no image processor)
        logger.debug("%s found nothing in %s: %s", loader.__name__, path, exc)
        return None


def load_components(path: str, **kwargs: Any) -> Components:
    """Load the processor of ``path`` and every part it lacks; kwargs go to each ``from_pretrained``."""
    parts = Components.from_parts(_try_load(AutoProcessor, path, **kwargs))
    loaders = {"tokenizer": AutoTokenizer, "image_processor": AutoImageProcessor,
               "feature_extractor": AutoFeatureExtractor}
    extra = [_try_load(loader, path, **kwargs) for name, loader in loaders.items() if getattr(parts, name) is None]
    return Components.from_parts(parts.processor, parts.tokenizer, parts.image_processor, parts.feature_extractor, *extra)


__all__ = ["Components", "load_components"]
