"""``mmgen.tasks.text_to_speech``: sentences, speaker embeddings, and ``speak`` on a tiny SpeechT5.

The model is a seeded random-weight SpeechT5 (hidden 32, 16-d speakers) with a character-level
SentencePiece tokenizer and a tiny HiFi-GAN (hop 256 at 16 kHz), saved to a folder and read
back with ``mmgen.load``. Its stop head is scaled so rows stop after tens of steps at a
threshold of 1.3.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import sentencepiece as spm
import soundfile
import torch
import transformers as T
from mmgen.tasks.text_to_speech import Speech, default_speaker, speak, speaker_embedding, split_sentences

import mmgen
from mmgen.core.options import OptionError
from mmgen.generator import load

SPEAKER_DIM = 16
OPTIONS = dict(threshold=1.3, maxlenratio=4.0, seed=0)  # short rows, the same dropout masks on every call
CORPUS = ["the cat sat on the mat.", "hello world, how are you?", "one two three four five six!"] * 10


def save_speecht5(path) -> str:
    """A tiny SpeechT5 with its processor (char SentencePiece tokenizer) saved to ``path``."""
    model_file = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=model_file, vocab_size=40,
                                   model_type="char", bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2,
                                   hard_vocab_limit=False)
    path.mkdir(parents=True, exist_ok=True)
    (path / "spm_char.model").write_bytes(model_file.getvalue())
    tokenizer = T.SpeechT5Tokenizer(str(path / "spm_char.model"))
    config = T.SpeechT5Config(
        vocab_size=40, hidden_size=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, speech_decoder_prenet_units=32,
        speech_decoder_postnet_units=32, speaker_embedding_dim=SPEAKER_DIM, max_speech_positions=1000,
        max_text_positions=128, encoder_max_relative_position=32)
    torch.manual_seed(0)
    model = T.SpeechT5ForTextToSpeech(config).eval()
    with torch.no_grad():
        model.speech_decoder_postnet.prob_out.weight.mul_(8)
    model.save_pretrained(path)
    T.SpeechT5Processor(feature_extractor=T.SpeechT5FeatureExtractor(), tokenizer=tokenizer).save_pretrained(path)
    return str(path)


def hifigan() -> T.SpeechT5HifiGan:
    config = T.SpeechT5HifiGanConfig(upsample_initial_channel=16, resblock_kernel_sizes=[3, 7],
                                     resblock_dilation_sizes=[[1, 3], [1, 3]], initializer_range=0.2)
    torch.manual_seed(0)
    return T.SpeechT5HifiGan(config).eval()


@pytest.fixture(scope="module")
def tts(tmp_path_factory):
    return load(save_speecht5(tmp_path_factory.mktemp("speecht5")), device="cpu")


@pytest.fixture(scope="module")
def vocoder():
    return hifigan()


# -- text and speakers -----------------------------------------------------------------------------


def test_sentences():
    text = 'Hello there.  "How are you?" she asked!\nFine… thanks\n\nA new paragraph without a stop'
    assert split_sentences(text) == ["Hello there.", '"How are you?"', "she asked!", "Fine…", "thanks",
                                     "A new paragraph without a stop"]
    assert split_sentences("Version 2.5 is out. Wait...what? Yes!!") == ["Version 2.5 is out.", "Wait...what?",
                                                                         "Yes!!"]
    assert split_sentences("  \n ") == []


def test_long_sentences_are_cut_at_commas_then_spaces():
    pieces = split_sentences("one, two three four, five six seven", max_chars=15)
    assert pieces == ["one,", "two three four,", "five six seven"]
    assert split_sentences("abcdefghij klmnop", max_chars=8) == ["abcdefgh", "ij", "klmnop"]
    assert all(len(p) <= 15 for p in split_sentences("word " * 50, max_chars=15))


def test_default_speaker_is_fixed_and_normalized():
    vector = default_speaker(512)
    assert vector.shape == (512,) and vector.dtype == torch.float32
    assert torch.allclose(vector.norm(), torch.tensor(1.0))
    expected = np.sin(0.37 * np.arange(512) + 0.5)
    assert np.allclose(vector.numpy(), expected / np.linalg.norm(expected), atol=1e-7)
    assert torch.equal(speaker_embedding(None, 512), vector)


def test_speaker_embeddings_from_files_and_arrays(tmp_path):
    vector = np.linspace(-1, 1, SPEAKER_DIM, dtype=np.float32)
    np.save(tmp_path / "voice.npy", vector[None])
    torch.save(torch.from_numpy(vector), tmp_path / "voice.pt")
    for source in (tmp_path / "voice.npy", str(tmp_path / "voice.pt"), vector, torch.from_numpy(vector)):
        assert np.array_equal(speaker_embedding(source, SPEAKER_DIM).numpy(), vector)
    with pytest.raises(OptionError, match=r"shape \(15,\).*\(16,\)"):
        speaker_embedding(vector[:15], SPEAKER_DIM)
    with pytest.raises(OptionError, match="no such file"):
        speaker_embedding(tmp_path / "missing.npy", SPEAKER_DIM)
    (tmp_path / "voice.txt").write_text("1 2 3")
    with pytest.raises(OptionError, match="unknown file type"):
        speaker_embedding(tmp_path / "voice.txt", SPEAKER_DIM)


# -- speak -----------------------------------------------------------------------------------------


def test_speak_joins_sentences_with_pauses(tts, vocoder):
    speech = speak(tts, "Hello world. How are you? The cat sat.", vocoder=vocoder, pause_s=0.5, **OPTIONS)
    assert isinstance(speech, Speech)
    assert speech.sentences == ("Hello world.", "How are you?", "The cat sat.")
    assert speech.sampling_rate == 16_000 and speech.audio.dtype == torch.float32 and speech.audio.dim() == 1
    frames = [s.shape[0] for s in speech.spectrograms]
    assert speech.spectrogram.shape == (sum(frames), 80)
    hop, pause = 256, 8_000
    assert speech.audio.shape[0] == sum(frames) * hop + 2 * pause
    first_pause = speech.audio[frames[0] * hop: frames[0] * hop + pause]
    assert torch.count_nonzero(first_pause) == 0
    assert speech.audio.abs().max() > 0 and speech.duration == speech.audio.shape[0] / 16_000


def test_batches_give_the_same_audio_as_one_sentence_at_a_time(tts, vocoder):
    text = "Hello world. How are you? The cat sat on the mat."
    batched = speak(tts, text, vocoder=vocoder, batch_size=8, **OPTIONS)
    alone = speak(tts, text, vocoder=vocoder, batch_size=1, **OPTIONS)
    assert batched.audio.shape == alone.audio.shape
    assert torch.allclose(batched.audio, alone.audio, atol=1e-5)


def test_speak_equals_mmgen_generate_for_one_sentence(tts, vocoder):
    speaker = np.linspace(-1, 1, SPEAKER_DIM, dtype=np.float32)
    speech = speak(tts, "hello world.", speaker_embeddings=speaker, vocoder=vocoder, **OPTIONS)
    direct = mmgen.generate(tts.model, tokenizer=tts.tokenizer, text=["hello world."], vocoder=vocoder,
                            speaker_embeddings=torch.from_numpy(speaker)[None], **OPTIONS)
    assert torch.equal(speech.audio, direct.audio[0].float())


def test_write_wav_at_the_model_sampling_rate(tts, tmp_path):
    speech = speak(tts, "one two. three four five!", **OPTIONS)  # Griffin-Lim: no vocoder model
    path = speech.write(tmp_path / "speech.wav")
    info = soundfile.info(path)
    assert info.samplerate == tts.components.feature_extractor.sampling_rate == speech.sampling_rate == 16_000
    assert info.frames == speech.audio.shape[0] and info.channels == 1
    data, _ = soundfile.read(path, dtype="float32")
    assert np.allclose(data, speech.audio.clamp(-1, 1).numpy(), atol=1 / 32_000)  # 16-bit PCM


def test_errors_name_the_fix(tts):
    with pytest.raises(OptionError, match="empty"):
        speak(tts, " \n ")
    with pytest.raises(OptionError, match="vocoder=None"):
        speak(tts, "hello.", vocoder=False)
    with pytest.raises(OptionError, match="processor"):
        speak(tts.model, "hello.")
