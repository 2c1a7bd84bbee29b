"""Per-class inputs a speech or audio model needs beside its prompt or features, as its processor or
documentation gives them: a speaker embedding for SpeechT5, the codebook layout of MusicGen's decoder,
the audio start that text-to-speech prompts end with. Keyed by model class name; each function
takes (model, inputs) and returns the inputs to use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from text_inputs import pad_id, pad_rows, random_rows


def speaker_embedding(model: torch.nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
    """SpeechT5 speaks in the voice of an x-vector (rows, speaker_embedding_dim)."""
    generator = torch.Generator().manual_seed(5)
    rows = inputs["input_ids"].shape[0]
    return {**inputs, "speaker_embeddings": torch.randn(rows, model.config.speaker_embedding_dim, generator=generator)}


def codebook_rows(model: torch.nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
    """MusicGen's decoder reads a code prompt (rows x codebooks, frames): the start column (the pad id, as
    the checkpoints' generation config has it) then two seeded codes per codebook, every row as long (a
    padded code prompt loses codes to the pad filter that ends ``generate``); its mask is per row."""
    codebooks, rows = model.config.num_codebooks, inputs["input_ids"].shape[0]
    start = model.config.pad_token_id
    codes = torch.randint(0, start, (rows * codebooks, 2), generator=torch.Generator().manual_seed(3))
    input_ids = torch.cat([torch.full((rows * codebooks, 1), start), codes], dim=1)
    return {"input_ids": input_ids, "attention_mask": torch.ones(rows, 3, dtype=torch.long)}


def ending_with_audio_start(model: torch.nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
    """Pocket TTS and Phonon prompts end at the first audio position (``audio_bos_token_id``), left padded."""
    start = model.config.audio_bos_token_id
    rows = [row + [start] for row in random_rows(model)]
    input_ids, attention_mask = pad_rows(rows, pad_id(model), left=True)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


SPEECH_EXTRAS: dict[str, Callable[[torch.nn.Module, dict[str, Any]], dict[str, Any]]] = {
    "SpeechT5ForTextToSpeech": speaker_embedding,
    "MusicgenForCausalLM": codebook_rows,
    "MusicgenMelodyForCausalLM": codebook_rows,
    "PocketTTSForConditionalGeneration": ending_with_audio_start,
    "GradiumPhononTTSForConditionalGeneration": ending_with_audio_start,
}
