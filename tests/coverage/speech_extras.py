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


# Bark's stages read their settings from generation_config.json (BarkGenerationConfig's three sub-configs, loaded
# as dicts); a config-built model has none. These fit the tiny sub-models' 10048-id vocabularies and EnCodec's
# 1024-code books: semantic ids below 1000 (EOS 1000), text offset past them, coarse ids after them.
BARK_TEXT_LENGTH = 8
BARK_STAGES = {
    "semantic_config": {"eos_token_id": 1000, "max_new_tokens": 10, "text_encoding_offset": 1048,
                        "text_pad_token": 9000, "semantic_infer_token": 9001, "semantic_vocab_size": 1000,
                        "max_input_semantic_length": BARK_TEXT_LENGTH, "semantic_rate_hz": 49.9},
    "coarse_acoustics_config": {"coarse_semantic_pad_token": 3048, "coarse_rate_hz": 75, "n_coarse_codebooks": 2,
                                "coarse_infer_token": 3050, "max_coarse_input_length": 8, "max_coarse_history": 12,
                                "sliding_window_len": 6},
    "fine_acoustics_config": {"max_fine_history_length": 8, "max_fine_input_length": 16, "n_fine_codebooks": 8},
}


def bark_prompt(model: torch.nn.Module) -> dict[str, Any]:
    """Bark: its stage settings installed as a checkpoint's generation config loads them (`BARK_STAGES`), and two
    texts right-padded to the semantic stage's input length, as BarkProcessor pads them."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig.from_dict({**BARK_STAGES, "sample_rate": 24_000, "codebook_size": 1024})
    rows = [torch.randint(0, 200, (n,), generator=torch.Generator().manual_seed(1)).tolist() for n in (6, 4)]
    input_ids, attention_mask = pad_rows(rows, 0, left=False)
    input_ids = torch.nn.functional.pad(input_ids, (0, BARK_TEXT_LENGTH - input_ids.shape[1]))
    attention_mask = torch.nn.functional.pad(attention_mask, (0, BARK_TEXT_LENGTH - attention_mask.shape[1]))
    return {"input_ids": input_ids, "attention_mask": attention_mask}


# Models whose inputs replace the default makers' altogether (they have no text vocabulary of their own to draw from).
SPEECH_INPUTS: dict[str, Callable[[torch.nn.Module], dict[str, Any]]] = {"BarkModel": bark_prompt}

SPEECH_EXTRAS: dict[str, Callable[[torch.nn.Module, dict[str, Any]], dict[str, Any]]] = {
    "SpeechT5ForTextToSpeech": speaker_embedding,
    "MusicgenForCausalLM": codebook_rows,
    "MusicgenMelodyForCausalLM": codebook_rows,
    "PocketTTSForConditionalGeneration": ending_with_audio_start,
    "GradiumPhononTTSForConditionalGeneration": ending_with_audio_start,
}
