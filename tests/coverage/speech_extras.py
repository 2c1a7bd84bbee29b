"""Per-class inputs a speech or audio model needs beside its prompt or features, as its processor or
documentation gives them: a speaker embedding for SpeechT5, the codebook layout of MusicGen's decoder,
the audio start that text-to-speech prompts end with. Keyed by model class name; each function
takes (model, inputs) and returns the inputs to use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import audio_inputs
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
    """Pocket TTS and Phonon prompts end at the first audio position (``audio_bos_token_id``), left padded.
    They generate continuous latents: with ``return_dict_in_generate`` (their checkpoints' generation config)
    the reference returns them padded as ``audio_latents``, compared frame by frame."""
    model.generation_config.return_dict_in_generate = True
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
TARGET_LANGUAGE = "eng"


def translated_speech_target(model: torch.nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
    """SeamlessM4T speaks in ``tgt_lang``, looked up in three maps of its generation config (text decoder,
    text-to-unit and vocoder language ids) that checkpoints ship and a config alone leaves empty: one
    language, at ids each part can embed."""
    config, generation = model.config, model.generation_config
    generation.text_decoder_lang_to_code_id = {TARGET_LANGUAGE: 200}  # a free id below the moved special ids
    generation.t2u_lang_code_to_id = {TARGET_LANGUAGE: config.t2u_vocab_size - 1}
    generation.vocoder_lang_code_to_id = {TARGET_LANGUAGE: 0}
    if hasattr(config, "char_vocab_size"):  # v2 upsamples text to characters: each id's subword, each character's id
        letters = "abcdefghijklmnopqrstuvwxyz"
        generation.id_to_text = {str(i): letters[i % 26] + letters[i // 26 % 26] for i in range(config.vocab_size)}
        generation.char_to_id = {letter: 2 + n for n, letter in enumerate(letters)}
    return {**inputs, "tgt_lang": TARGET_LANGUAGE}


def omni_speaker(model: torch.nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
    """Qwen2.5-Omni checks its default speaker ("Chelsie") against the voices a checkpoint ships in
    ``spk_dict.pt`` before anything else, even for text only: one voice, its talker start and conditioning."""
    talker = model.config.talker_config
    model.speaker_map["Chelsie"] = {"bos_token": talker.tts_codec_start_token_id,
                                    "cond": torch.zeros(1, 192), "ref_mel": torch.zeros(1, 30, 80)}
    return inputs


def codec_audio(model: torch.nn.Module) -> dict[str, Any]:
    """Kyutai speech-to-text reads raw audio that only its generate and input preparation name
    (``input_values``, ``padding_mask``; its forward takes codec frames): the two clips through its
    feature extractor, the text left to generate (it starts from BOS)."""
    extractor = audio_inputs.feature_extractor(model)
    audio = audio_inputs.extract(extractor, audio_inputs.clips(extractor.sampling_rate))
    return {k: v for k, v in audio.items() if k in ("input_values", "padding_mask")}


STREAMING_PROMPT = 6  # tokens before generation; the audio covers them and every new token


def streaming_audio(model: torch.nn.Module) -> dict[str, Any]:
    """Voxtral Realtime adds the audio to the text position by position (no placeholders): one text token
    per ``downsample_factor`` encoder frames, two mel frames each (the embedder's stride-2 convolution),
    and each generated token reads the next frames. So: equal prompts (no padding) and audio of exactly
    (prompt + new tokens) tokens' frames, as its processor's offline requests pad it; the delay the
    processor returns (``num_delay_tokens``, a forward keyword) goes along."""
    from parity import NEW_TOKENS  # noqa: PLC0415

    config = model.config
    frames = 2 * config.downsample_factor * (STREAMING_PROMPT + NEW_TOKENS)
    extractor = audio_inputs.feature_extractor(model)
    audio = audio_inputs.extract(extractor, audio_inputs.clips(extractor.sampling_rate, (2.0, 2.0)))
    input_ids, attention_mask = pad_rows(random_rows(model, (STREAMING_PROMPT, STREAMING_PROMPT)), pad_id(model),
                                         left=True)
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "input_features": audio["input_features"][..., :frames],
            "num_delay_tokens": config.default_num_delay_tokens}


# Models whose inputs are made here whole, instead of by the group's maker.
SPEECH_INPUTS: dict[str, Callable[[torch.nn.Module], dict[str, Any]]] = {
    "KyutaiSpeechToTextForConditionalGeneration": codec_audio,
    "VoxtralRealtimeForConditionalGeneration": streaming_audio,
    "BarkModel": bark_prompt,
}


SPEECH_EXTRAS: dict[str, Callable[[torch.nn.Module, dict[str, Any]], dict[str, Any]]] = {
    "SpeechT5ForTextToSpeech": speaker_embedding,
    "MusicgenForCausalLM": codebook_rows,
    "MusicgenMelodyForCausalLM": codebook_rows,
    "PocketTTSForConditionalGeneration": ending_with_audio_start,
    "GradiumPhononTTSForConditionalGeneration": ending_with_audio_start,
    "Qwen2_5OmniForConditionalGeneration": omni_speaker,
    "SeamlessM4TForTextToSpeech": translated_speech_target,
    "SeamlessM4Tv2ForTextToSpeech": translated_speech_target,
}


def frames_to_subsampling_multiple(model: torch.nn.Module, audio: dict[str, Any]) -> dict[str, Any]:
    """Nemotron 3.5 Transcribe's processor pads the spectrogram (and its mask) on the right to a multiple of
    the encoder's subsampling factor: one audio token per whole group of frames."""
    factor = model.config.audio_config.asr_config.subsampling_factor
    features = audio["input_features"]
    padding = -features.shape[1] % factor
    audio = {**audio, "input_features": torch.nn.functional.pad(features, (0, 0, 0, padding))}
    for name in ("input_features_mask", "attention_mask"):
        if name in audio:
            audio[name] = torch.nn.functional.pad(audio[name], (0, padding))
    return audio


# What a model type's processor does to its feature extractor's outputs, before the prompt is made.
FEATURE_STEPS: dict[str, Callable[[torch.nn.Module, dict[str, Any]], dict[str, Any]]] = {
    "nemo_speechlm": frames_to_subsampling_multiple,
}
