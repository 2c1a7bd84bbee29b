"""Tiny random-weight speech models saved to folders (``--model DIR``) and test recordings, for the command line.

save_whisper: `tiny_speech`'s Whisper (its token layout, with timestamps), saved;
save_speecht5: a SpeechT5 with a character tokenizer and a tiny HiFi-GAN. Recordings: `tiny_speech.audio`.
"""

from __future__ import annotations

import io

import sentencepiece as spm
import tiny_speech
import torch
import transformers as T

T.utils.logging.disable_progress_bar()
FORMATS = ("txt", "vtt", "srt", "tsv", "json")

# -- tiny saved models ------------------------------------------------------------------------------


def save_whisper(path) -> str:
    """`tiny_speech`'s Whisper (Whisper's special tokens after 100 text tokens, with timestamps) and its
    processor, saved to ``path``."""
    model = tiny_speech.whisper_model()
    model.save_pretrained(path)
    processor = T.WhisperProcessor(feature_extractor=T.WhisperFeatureExtractor(),
                                   tokenizer=tiny_speech.whisper_tokenizer())
    processor.save_pretrained(path)
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
