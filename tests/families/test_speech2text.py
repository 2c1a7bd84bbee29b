"""Speech2Text (``Speech2TextForConditionalGeneration``, ``input_features``): parity with ``model.generate``.

It runs through the generic encoder-decoder path (the translation family, which adds nothing
without ``tgt_lang``): the encoder once, its frame mask downsampled by the model's own forward.
Multilingual checkpoints (MuST-C) choose the target language with a forced first token, so
``tgt_lang`` works per row as for text translation.
"""

from __future__ import annotations

import functools
import io
import json

import numpy as np
import pytest
import sentencepiece as spm
import torch
import transformers as T

from mmgen.api import generate
from mmgen.families import family_for
from mmgen.families.translation import Translation
from mmgen.generator import load

MUSTC = ["pt", "fr", "ru", "nl", "ro", "it", "es", "de"]
CORPUS = ["the cat sat on the mat", "hello world hello there", "one two three four five six"] * 20
RATE = 16_000


@functools.cache
def _sentencepiece_model() -> bytes:
    """ids: <s> 0, <pad> 1, </s> 2, <unk> 3, then the MuST-C language tokens, then the pieces."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_writer=model, vocab_size=48, model_type="bpe", bos_id=0, pad_id=1,
        eos_id=2, unk_id=3, user_defined_symbols=[f"<lang:{code}>" for code in MUSTC], minloglevel=2)
    return model.getvalue()


def processor(tmp_path, multilingual: bool = False) -> T.Speech2TextProcessor:
    (tmp_path / "sp.model").write_bytes(_sentencepiece_model())
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    (tmp_path / "vocab.json").write_text(json.dumps({sp.id_to_piece(i): i for i in range(sp.get_piece_size())}))
    tokenizer = T.Speech2TextTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "sp.model"),
                                       lang_codes="mustc" if multilingual else None)
    return T.Speech2TextProcessor(feature_extractor=T.Speech2TextFeatureExtractor(), tokenizer=tokenizer)


def speech2text(seed: int = 0) -> torch.nn.Module:
    """A large init_std: random weights that decode differently per clip (and one row stops early)."""
    config = T.Speech2TextConfig(
        vocab_size=48, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=256,
        max_target_positions=64, conv_channels=16, input_feat_per_channel=80, num_conv_layers=2,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, init_std=1.0)
    torch.manual_seed(seed)
    return T.Speech2TextForConditionalGeneration(config).eval()


def waveforms() -> list[np.ndarray]:
    """Three chirps of different lengths and pitches (rows of one batch decode differently)."""
    out = []
    for seconds, hz in ((0.5, 300.0), (0.3, 1200.0), (0.8, 80.0)):
        t = np.arange(int(RATE * seconds)) / RATE
        out.append((0.5 * np.sin(2 * np.pi * hz * t * (1 + t))).astype(np.float32))
    return out


def features(proc) -> dict[str, torch.Tensor]:
    """The manual path: the feature extractor over the batch, padded to the longest clip."""
    return dict(proc.feature_extractor(waveforms(), sampling_rate=RATE, padding=True, return_tensors="pt"))


def test_runs_through_the_generic_encoder_decoder_path():
    model = speech2text()
    assert type(family_for(model)) is Translation  # the forced-language family, generic without tgt_lang
    assert model.main_input_name == "input_features"


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3), dict(num_beams=3, num_return_sequences=2),
                                     dict(no_repeat_ngram_size=2)], ids=["greedy", "beam", "beam-n2", "ngram"])
def test_parity_with_model_generate(tmp_path, options):
    model = speech2text()
    inputs = features(processor(tmp_path))
    assert inputs["attention_mask"].sum(-1).unique().numel() == 3  # three lengths: padding matters
    expected = model.generate(**inputs, max_new_tokens=10, do_sample=False, **options)
    ours = generate(model, **inputs, max_new_tokens=10, **options)
    assert torch.equal(ours.sequences, expected)


def test_generator_on_raw_audio_equals_processor_and_generate(tmp_path):
    proc = processor(tmp_path)
    model = speech2text()
    model.save_pretrained(tmp_path / "model")
    proc.save_pretrained(tmp_path / "model")
    generator = load(tmp_path / "model", device="cpu")
    assert type(generator.model) is T.Speech2TextForConditionalGeneration
    assert generator.adapter.modality == "audio"
    results = generator.generate(waveforms(), sampling_rate=RATE, max_new_tokens=10)
    expected = model.generate(**features(proc), max_new_tokens=10, do_sample=False)
    for result, row in zip(results, expected):
        assert result.tokens.tolist() == row[1:1 + len(result.tokens)].tolist()
        assert result.text == proc.tokenizer.decode(result.tokens, skip_special_tokens=True)
    assert [r.input_index for r in results] == [0, 1, 2]
    # Row 0 ends on EOS after one token (kept in its tokens); the others run to the limit.
    assert [r.finish_reason.value for r in results] == ["eos", "length", "length"]
    assert results[0].tokens.tolist() == expected[0, 1:3].tolist() and results[0].tokens[-1].item() == 2


def test_multilingual_target_language_per_row(tmp_path):
    proc = processor(tmp_path, multilingual=True)
    model = speech2text()
    model.save_pretrained(tmp_path / "model")
    proc.save_pretrained(tmp_path / "model")
    generator = load(tmp_path / "model", device="cpu", max_new_tokens=8)
    codes = ["fr", "de", "fr"]
    results = generator.generate(waveforms(), sampling_rate=RATE, tgt_lang=codes)
    inputs = features(proc)
    runs = {c: model.generate(**inputs, forced_bos_token_id=proc.tokenizer.lang_code_to_id[c], max_new_tokens=8,
                              do_sample=False) for c in set(codes)}
    for row, (result, code) in enumerate(zip(results, codes)):
        expected = runs[code][row, 1:]
        assert result.tokens[0].item() == proc.tokenizer.lang_code_to_id[code]
        assert result.tokens.tolist() == expected[:len(result.tokens)].tolist()
