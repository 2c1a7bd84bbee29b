"""TEMPORARY interface stub (being replaced in this session by the full processor set)."""
from dataclasses import dataclass
import torch

@dataclass(frozen=True)
class ProcessorContext:
    prompt_length: int
    max_length: int
    eos_token_ids: torch.Tensor | None
    encoder_input_ids: torch.Tensor | None
    prompt_padding: torch.Tensor | None
    num_beams: int
    device: torch.device

def build_processors(options, context):
    return []
