"""Translation with a forced target-language token: NLLB, M2M100 and mBART, one language per row.

Parity: a batch whose rows have different target languages equals, row by row, transformers'
``model.generate`` run on the whole batch once per language with ``forced_bos_token_id``.
"""

from __future__ import annotations

import functools
import io
import json

import pytest
import sentencepiece as spm
import torch
import transformers as T
from tiny_models import prompts, tiny_model

from mmgen.api import generate
from mmgen.core.options import OptionError
from mmgen.families import family_for
from mmgen.families import translation
from mmgen.families.translation import Translation
from mmgen.generator import load

NLLB_LANGS = ["eng_Latn", "fra_Latn", "deu_Latn", "spa_Latn"]
TEXTS = ["the cat sat on the mat", "hello", "one two three four"]
SMALL = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
             encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128)


def nllb_tokenizer() -> T.NllbTokenizer:
    """NLLB conventions (source: [src_lang] text </s>; codes like "fra_Latn") over a letter vocabulary."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "▁": 4}
    vocab.update({c: 5 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")})
    return T.NllbTokenizer(vocab=vocab, merges=[], additional_special_tokens=NLLB_LANGS, src_lang="eng_Latn")


def m2m100_model(vocab_size: int, seed: int = 0) -> torch.nn.Module:
    """Tiny M2M100 (NLLB's architecture); a large init_std so rows and languages decode differently."""
    config = T.M2M100Config(vocab_size=vocab_size, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                            decoder_start_token_id=2, init_std=0.3, **SMALL)
    torch.manual_seed(seed)
    return T.M2M100ForConditionalGeneration(config).eval()


@functools.cache
def _sentencepiece_model() -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS * 20), model_writer=model, vocab_size=30,
                                   model_type="bpe", pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2)
    return model.getvalue()


def m2m100_tokenizer(tmp_path) -> T.M2M100Tokenizer:
    """M2M100's SentencePiece tokenizer with a model trained here; its 100 codes ("fr") follow the vocabulary."""
    (tmp_path / "sp.model").write_bytes(_sentencepiece_model())
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    return T.M2M100Tokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "sp.model"), src_lang="en")


def per_language_reference(model, inputs: dict, languages: list[int], **options) -> torch.Tensor:
    """Row r of ``model.generate`` run on the whole batch with forced_bos_token_id = languages[r]."""
    per_row = options.get("num_return_sequences", 1)
    runs = {lang: model.generate(**inputs, forced_bos_token_id=lang, do_sample=False, **options) for lang in set(languages)}
    rows = [runs[lang][r * per_row:(r + 1) * per_row] for r, lang in enumerate(languages)]
    width = max(r.shape[1] for r in rows)
    pad = model.generation_config.pad_token_id
    return torch.cat([torch.nn.functional.pad(r, (0, width - r.shape[1]), value=pad) for r in rows])


def test_family_matches_translation_model_types():
    assert type(family_for(m2m100_model(64))) is Translation
    assert type(family_for(tiny_model("mbart"))) is Translation
    assert type(family_for(tiny_model("bart"))) is not Translation


@pytest.mark.parametrize("beams", [1, 3])
def test_nllb_per_row_languages_equal_per_language_generate(beams):
    tok = nllb_tokenizer()
    model = m2m100_model(64)
    inputs = tok(TEXTS, return_tensors="pt", padding=True)
    codes = ["fra_Latn", "deu_Latn", "fra_Latn"]
    ids = [tok.convert_tokens_to_ids(c) for c in codes]
    options = dict(max_new_tokens=8, num_beams=beams, num_return_sequences=min(beams, 2))
    ours = generate(model, **inputs, tgt_lang=translation.language_ids(tok, codes), **options)
    expected = per_language_reference(model, inputs, ids, **options)
    assert torch.equal(ours.sequences, expected)
    first = ours.sequences[:, 1].reshape(len(TEXTS), -1)
    assert first.tolist() == [[i] * first.shape[1] for i in ids]


def test_one_code_for_every_row_equals_forced_bos_token_id():
    tok = nllb_tokenizer()
    model = m2m100_model(64)
    inputs = tok(TEXTS, return_tensors="pt", padding=True)
    fra = tok.convert_tokens_to_ids("fra_Latn")
    ours = generate(model, **inputs, tgt_lang=fra, max_new_tokens=8)
    assert torch.equal(ours.sequences, model.generate(**inputs, forced_bos_token_id=fra, max_new_tokens=8, do_sample=False))
    # Same tokens as mmgen's own forced_bos_token_id.
    assert torch.equal(ours.sequences, generate(model, **inputs, forced_bos_token_id=fra, max_new_tokens=8).sequences)


def test_a_row_without_language_is_free():
    tok = nllb_tokenizer()
    model = m2m100_model(64)
    inputs = tok(TEXTS, return_tensors="pt", padding=True)
    fra = tok.convert_tokens_to_ids("fra_Latn")
    ours = generate(model, **inputs, tgt_lang=[fra, None, fra], max_new_tokens=6)
    free = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    forced = model.generate(**inputs, forced_bos_token_id=fra, max_new_tokens=6, do_sample=False)
    assert ours.sequences[1].tolist() == free[1].tolist()
    assert ours.sequences[0].tolist() == forced[0].tolist()


def test_generator_reads_codes_per_row(tmp_path):
    tok = nllb_tokenizer()
    model = m2m100_model(64)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    generator = load(tmp_path, device="cpu", max_new_tokens=8)
    codes = ["deu_Latn", "spa_Latn", "fra_Latn"]
    results = generator.generate(TEXTS, tgt_lang=codes)
    inputs = tok(TEXTS, return_tensors="pt", padding=True)
    expected = per_language_reference(model, inputs, [tok.convert_tokens_to_ids(c) for c in codes], max_new_tokens=8)
    for result, row in zip(results, expected):
        assert result.tokens.tolist() == row[1:1 + len(result.tokens)].tolist()
        assert result.text == tok.decode(result.tokens, skip_special_tokens=True)
    # A default language set at load time applies to every row.
    generator = load(tmp_path, device="cpu", max_new_tokens=8, tgt_lang="spa_Latn")
    spa = tok.convert_tokens_to_ids("spa_Latn")
    assert all(r.tokens[0].item() == spa for r in generator.generate(TEXTS))


def test_m2m100_codes_and_tokens(tmp_path):
    tok = m2m100_tokenizer(tmp_path)
    codes = translation.language_codes(tok)
    assert codes["fr"] == tok.get_lang_id("fr") == codes["__fr__"]
    model = m2m100_model(max(codes.values()) + 8)
    inputs = tok(TEXTS[:2], return_tensors="pt", padding=True)
    ours = generate(model, **inputs, tgt_lang=translation.language_ids(tok, ["fr", "de"]), max_new_tokens=6)
    expected = per_language_reference(model, inputs, [tok.get_lang_id("fr"), tok.get_lang_id("de")], max_new_tokens=6)
    assert torch.equal(ours.sequences, expected)


def test_mbart_codes():
    tok = T.MBartTokenizer(src_lang="en_XX")
    model = tiny_model("mbart")
    ids, mask = prompts(3, left=False)
    codes = ["fr_XX", "ro_RO", "de_DE"]
    languages = translation.language_ids(tok, codes)
    assert languages == [tok.lang_code_to_id[c] for c in codes]
    ours = generate(model, input_ids=ids, attention_mask=mask, tgt_lang=languages, max_new_tokens=6, num_beams=2)
    expected = per_language_reference(model, {"input_ids": ids, "attention_mask": mask}, languages, max_new_tokens=6,
                                      num_beams=2)
    assert torch.equal(ours.sequences, expected)


def test_unknown_code_lists_close_codes(tmp_path):
    with pytest.raises(OptionError, match=r"'fra_latn'.*Close codes: 'fra_Latn'"):
        translation.language_ids(nllb_tokenizer(), ["fra_latn"])
    with pytest.raises(OptionError, match=r"'fre'.*'fr'"):
        translation.language_ids(m2m100_tokenizer(tmp_path), "fre")


def test_option_errors():
    tok = nllb_tokenizer()
    model = m2m100_model(64)
    inputs = tok(TEXTS, return_tensors="pt", padding=True)
    fra, deu = tok.convert_tokens_to_ids("fra_Latn"), tok.convert_tokens_to_ids("deu_Latn")
    with pytest.raises(OptionError, match="2 languages for 3 inputs"):
        generate(model, **inputs, tgt_lang=[fra, deu], max_new_tokens=4)
    with pytest.raises(OptionError, match="needs the tokenizer"):
        generate(model, **inputs, tgt_lang="fra_Latn", max_new_tokens=4)
    with pytest.raises(OptionError, match="forced_bos_token_id"):
        generate(model, **inputs, tgt_lang=[fra, deu, fra], forced_bos_token_id=fra, max_new_tokens=4)
    # A forced_bos_token_id from the model's generation_config is switched off with None.
    model.generation_config.forced_bos_token_id = fra
    with pytest.raises(OptionError, match="forced_bos_token_id=None"):
        generate(model, **inputs, tgt_lang=[fra, deu, fra], max_new_tokens=4)
    ours = generate(model, **inputs, tgt_lang=[fra, deu, fra], forced_bos_token_id=None, max_new_tokens=4)
    assert ours.sequences[:, 1].tolist() == [fra, deu, fra]
    model.generation_config.forced_bos_token_id = None
    with pytest.raises(OptionError, match="past the model's vocabulary"):
        generate(model, **inputs, tgt_lang=500, max_new_tokens=4)
