"""The tiny Whisper of ``demo/asr``: its BPE tokenizer with Whisper's special and timestamp tokens, its feature
extractor (50 frames/s over 5 s windows) and its 2+2-layer model (`mmgen.demo.training.train_asr` trains it)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
)

from mmgen.demo.data import speech

# Whisper's special tokens, in Whisper's order after the text vocabulary (one language: English).
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
            "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
BPE_VOCAB = 512  # 256 bytes + merges: every word of the grammar ends up one or two tokens
WINDOW_SECONDS = 5
HOP_LENGTH = 320  # 20 ms: 50 frames/s, half of Whisper's rate, to halve the encoder's work
MAX_TARGET_POSITIONS = 64
# One timestamp token per encoder position (two 20 ms mel frames): <|0.00|> <|0.04|> ... <|5.00|>.
TIME_PRECISION = 2 * HOP_LENGTH / speech.SAMPLING_RATE
TIMESTAMPS = round(WINDOW_SECONDS / TIME_PRECISION) + 1


def build_tokenizer(texts: Sequence[str], out: Path) -> WhisperTokenizer:
    """A byte-level BPE on the transcripts (with Whisper's leading space), then Whisper's special tokens, then
    the `TIMESTAMPS` timestamp tokens (added, not special, as in the released Whisper tokenizers)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator([" " + t for t in texts], trainer)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = bpe.model.save(tmp)
        tokenizer = WhisperTokenizer(vocab=_read_vocab(vocab), merges=_read_merges(merges), model_max_length=MAX_TARGET_POSITIONS)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    tokenizer.add_tokens([AddedToken(f"<|{i * TIME_PRECISION:.2f}|>", special=False, normalized=False)
                          for i in range(TIMESTAMPS)])
    tokenizer.set_prefix_tokens(language="en", task="transcribe", predict_timestamps=False)
    tokenizer.save_pretrained(out)
    return WhisperTokenizer.from_pretrained(out)


def _read_vocab(path: str) -> dict[str, int]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _read_merges(path: str) -> list[tuple[str, str]]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]


def build_processor(tokenizer: WhisperTokenizer) -> WhisperProcessor:
    features = WhisperFeatureExtractor(feature_size=80, sampling_rate=speech.SAMPLING_RATE, hop_length=HOP_LENGTH,
                                       chunk_length=WINDOW_SECONDS, n_fft=400)
    return WhisperProcessor(feature_extractor=features, tokenizer=tokenizer)


def special_ids(tokenizer: WhisperTokenizer) -> dict[str, int]:
    return {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIALS}


def build_model(tokenizer: WhisperTokenizer, processor: WhisperProcessor, seed: int, d_model: int,
                ffn: int, dropout: float = 0.0) -> WhisperForConditionalGeneration:
    torch.manual_seed(seed)
    ids = special_ids(tokenizer)
    eot = ids["<|endoftext|>"]
    begin_suppress = [tokenizer.convert_tokens_to_ids("Ġ"), eot]  # no blank or empty transcript (as Whisper's 220, 50256)
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=processor.feature_extractor.feature_size, d_model=d_model,
        encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, dropout=dropout, attention_dropout=0.0, activation_dropout=0.0,
        max_source_positions=processor.feature_extractor.nb_max_frames // 2, max_target_positions=MAX_TARGET_POSITIONS,
        decoder_start_token_id=ids["<|startoftranscript|>"], pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
        suppress_tokens=[], begin_suppress_tokens=begin_suppress, median_filter_width=7,
    )
    model = WhisperForConditionalGeneration(config)
    # transformers draws conv weights from N(0, init_std=0.02): the convolutions' output is then ~30x
    # smaller than the sinusoidal positions added to it, and the encoder hears position only for
    # hundreds of steps. He initialization (as openai/whisper's PyTorch defaults, scaled for the GELU)
    # keeps the audio at the positions' scale.
    for conv in (model.model.encoder.conv1, model.model.encoder.conv2):
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        torch.nn.init.zeros_(conv.bias)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        lang_to_id={"<|en|>": ids["<|en|>"]}, task_to_id={"translate": ids["<|translate|>"],
                                                         "transcribe": ids["<|transcribe|>"]},
        is_multilingual=True, suppress_tokens=[], begin_suppress_tokens=begin_suppress, return_timestamps=False,
        max_length=MAX_TARGET_POSITIONS, num_beams=1, do_sample=False,
        max_initial_timestamp_index=50,  # the first segment starts within 2 s of the window's start
        alignment_heads=[[1, head] for head in range(4)],  # cross-attention of the last layer, for word times
    )
    return model


__all__ = ["BPE_VOCAB", "HOP_LENGTH", "MAX_TARGET_POSITIONS", "SPECIALS", "TIMESTAMPS", "TIME_PRECISION", "WINDOW_SECONDS",
           "build_model", "build_processor", "build_tokenizer", "special_ids"]
