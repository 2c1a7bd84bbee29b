"""Build an architecture's tiny model: seeded random weights from `tiny_configs.tiny_config`, eval mode.

A model that cannot be built is a `BuildError` saying why: a missing optional dependency, code
that must come from the hub, or a config the generic shrinking could not make valid.
"""

from __future__ import annotations

import torch
from architectures import Architecture
from tiny_configs import config_for_class, tiny_config

SEED = 0


class BuildError(Exception):
    """The tiny model (or its inputs) could not be made; ``kind`` is "missing dependency" or "build"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def build_model(arch: Architecture) -> torch.nn.Module:
    try:
        config = config_for_class(tiny_config(arch.model_type, arch.class_name), arch.model_class)
    except ImportError as error:
        raise BuildError("missing dependency", first_line(error)) from error
    except Exception as error:
        raise BuildError("build", f"config: {type(error).__name__}: {first_line(error)}") from error
    torch.manual_seed(SEED)
    try:
        model = arch.model_class(config)
    except ImportError as error:
        raise BuildError("missing dependency", first_line(error)) from error
    except Exception as error:
        raise BuildError("build", f"model: {type(error).__name__}: {first_line(error)}") from error
    _ensure_decoder_start(model)
    return model.eval()


def _ensure_decoder_start(model: torch.nn.Module) -> None:
    """Encoder-decoders whose defaults leave the decoder start id unset (T5) start from pad, as checkpoints do."""
    generation = getattr(model, "generation_config", None)
    if generation is None or not getattr(model.config, "is_encoder_decoder", False):
        return
    if generation.decoder_start_token_id is None and generation.bos_token_id is None:
        generation.decoder_start_token_id = generation.pad_token_id if generation.pad_token_id is not None else 0


def first_line(error: BaseException) -> str:
    """The message's first line; for a config validator's error, the line that says what failed."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Class validation error"):
        lines = lines[1:]
    return (lines[0] if lines else "")[:200]
