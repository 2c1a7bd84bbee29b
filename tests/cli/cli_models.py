"""Tiny random-weight speech models saved to folders (``--model DIR``) and test recordings, for the command line.

save_whisper: Whisper's token layout (special tokens after 100 text tokens) with timestamps;
save_speecht5: a SpeechT5 with a character tokenizer and a tiny HiFi-GAN; tones: gated tones and noise.
"""

from __future__ import annotations

import io

import numpy as np
import sentencepiece as spm
import torch
import transformers as T

T.utils.logging.disable_progress_bar()
RATE = 16_000
FORMATS = ("txt", "vtt", "srt", "tsv", "json")

# -- tiny saved models (the layouts of tests/tasks: Whisper's special tokens after 100 text tokens) ---

EOT, SOT = 100, 101
LANG_TO_ID = {"<|en|>": 102, "<|fr|>": 103}
TRANSLATE, TRANSCRIBE, START_OF_LM, START_OF_PREV, NO_SPEECH, NO_TIMESTAMPS = range(104, 110)
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", *LANG_TO_ID, "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
WORDS = ["the", "cat", "sat", "on", "mat", "hello", "world", "one", "two", "three", "four", "five", "dog", "sun",
         "run", "is", "a", "and", "to", "of", "in", "it", "we", "go", "stop", "end", "day", "night", "sea", "shell",
         "by", "for", "no", "yes", "up", "down", "left", "right", "red", "blue", "green", "old", "new"]


def save_whisper(path) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = [*letters, *("Ġ" + c for c in letters), *".,?!'", *("Ġ" + w for w in WORDS)]
    tokenizer = T.WhisperTokenizer(vocab={p: i for i, p in enumerate(pieces + SPECIALS)}, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    config = T.WhisperConfig(
        vocab_size=NO_TIMESTAMPS + 1 + 1501, num_mel_bins=80, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=448, pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT,
        decoder_start_token_id=SOT, begin_suppress_tokens=None, suppress_tokens=None, init_std=0.3)
    torch.manual_seed(0)
    model = T.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        embeddings = model.get_decoder().embed_tokens.weight
        embeddings[EOT] = 1.05 * embeddings[8]
    model.generation_config = T.GenerationConfig(
        decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT, lang_to_id=LANG_TO_ID,
        task_to_id={"translate": TRANSLATE, "transcribe": TRANSCRIBE}, no_timestamps_token_id=NO_TIMESTAMPS,
        prev_sot_token_id=START_OF_PREV, is_multilingual=True, begin_suppress_tokens=[EOT, 3],
        suppress_tokens=[1, 2, TRANSLATE, TRANSCRIBE, START_OF_LM, START_OF_PREV], max_initial_timestamp_index=50,
        max_length=448, max_new_tokens=24)
    model.save_pretrained(path)
    T.WhisperProcessor(feature_extractor=T.WhisperFeatureExtractor(), tokenizer=tokenizer).save_pretrained(path)
    return str(path)


def save_speecht5(path, vocoder_path) -> tuple[str, str]:
    model_file = io.BytesIO()
    corpus = ["the cat sat on the mat.", "hello world, how are you?", "one two three four five six!"] * 10
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=model_file, vocab_size=40,
                                   model_type="char", bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2,
                                   hard_vocab_limit=False)
    path.mkdir(parents=True)
    (path / "spm_char.model").write_bytes(model_file.getvalue())
    config = T.SpeechT5Config(
        vocab_size=40, hidden_size=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, speech_decoder_prenet_units=32,
        speech_decoder_postnet_units=32, speaker_embedding_dim=16, max_speech_positions=1000, max_text_positions=128,
        encoder_max_relative_position=32)
    torch.manual_seed(0)
    model = T.SpeechT5ForTextToSpeech(config).eval()
    with torch.no_grad():
        model.speech_decoder_postnet.prob_out.weight.mul_(8)  # rows stop after tens of steps
    model.save_pretrained(path)
    tokenizer = T.SpeechT5Tokenizer(str(path / "spm_char.model"))
    T.SpeechT5Processor(feature_extractor=T.SpeechT5FeatureExtractor(), tokenizer=tokenizer).save_pretrained(path)
    vocoder = T.SpeechT5HifiGan(T.SpeechT5HifiGanConfig(upsample_initial_channel=16, resblock_kernel_sizes=[3, 7],
                                                        resblock_dilation_sizes=[[1, 3], [1, 3]]))
    vocoder.save_pretrained(vocoder_path)
    return str(path), str(vocoder_path)


def tones(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    signal = np.zeros_like(t)
    for _ in range(4):
        tone = np.sin(2 * np.pi * rng.uniform(100, 3000) * t + rng.uniform(0, 6))
        signal += rng.uniform(0.05, 0.3) * tone * (np.sin(2 * np.pi * rng.uniform(0.2, 3) * t) > 0)
    return (signal + 0.02 * rng.randn(len(t))).astype(np.float32)
