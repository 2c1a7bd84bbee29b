"""mmgen.tasks.translation: one interface over language tokens (NLLB), Marian target tokens, T5
prefixes, decoder-only instructions and fixed pairs; codes checked with close suggestions; aligned outputs."""

from __future__ import annotations

import io
import json

import pytest
import tiny_saved as ts
from mmgen.tasks import Translation, languages, translate, write_text
from mmgen.tasks.translation import COMPLETION, INSTRUCTION, language_scheme, records

from mmgen import OptionError
from mmgen.generator import load

NEW = 6
TEXTS = ["the cat sat on the mat", "", "hello there", "   "]


@pytest.fixture(scope="module")
def nllb(tmp_path_factory):
    return load(ts.save_nllb(tmp_path_factory.mktemp("nllb")), device="cpu", max_new_tokens=NEW)


@pytest.fixture(scope="module")
def marian(tmp_path_factory):
    return load(ts.save_marian_multi(tmp_path_factory.mktemp("marian")), device="cpu", max_new_tokens=NEW)


def texts_of(results):
    return [r.text.strip() for r in results]


def test_nllb_target_per_row_and_empty_lines_kept(nllb):
    out = translate(nllb, TEXTS, source_lang="eng_Latn", target_lang=["fra_Latn", "deu_Latn", "spa_Latn", "fra_Latn"])
    assert [t.source for t in out] == TEXTS
    assert out[1].text == "" and out[1].finish_reason is None and out[3].text == ""
    expected = nllb.generate([TEXTS[0], TEXTS[2]], tgt_lang=["fra_Latn", "spa_Latn"])
    assert [out[0].text, out[2].text] == texts_of(expected)
    assert [t.target_lang for t in out] == ["fra_Latn", "deu_Latn", "spa_Latn", "fra_Latn"]
    assert {t.source_lang for t in out} == {"eng_Latn"}


def test_nllb_source_language_is_the_tokenizers_src_lang_for_the_call(nllb):
    tokenizer = nllb.tokenizer
    before = tokenizer.src_lang
    out = translate(nllb, ["hello there"], source_lang="fra_Latn", target_lang="deu_Latn")
    assert tokenizer.src_lang == before  # restored
    tokenizer.src_lang = "fra_Latn"
    try:
        expected = nllb.generate(["hello there"], tgt_lang="deu_Latn")
        assert nllb.encode("hello there")["input_ids"][0, 0] == tokenizer.convert_tokens_to_ids("fra_Latn")
    finally:
        tokenizer.src_lang = before
    assert out[0].text == texts_of(expected)[0] and out[0].source_lang == "fra_Latn"


def test_unknown_codes_list_the_close_ones(nllb):
    with pytest.raises(OptionError, match=r"target_lang='fr' is not a language this model knows\. Close codes: 'fra_Latn'"):
        translate(nllb, ["x"], target_lang="fr")
    with pytest.raises(OptionError, match=r"source_lang='eng_latin'.*'eng_Latn'"):
        translate(nllb, ["x"], source_lang="eng_latin", target_lang="fra_Latn")
    with pytest.raises(OptionError, match="pass target_lang="):
        translate(nllb, ["x"])
    assert translate(nllb, ["x"], target_lang="FRA_LATN")[0].target_lang == "fra_Latn"  # case is forgiven
    assert sorted(languages(nllb)) == sorted(ts.NLLB_LANGS)


def test_marian_target_token(marian):
    assert language_scheme(marian).kind == "target_token"
    assert languages(marian) == ["deu", "fra"]
    out = translate(marian, ["hello there", ""], target_lang="fra")
    assert out[0].text == texts_of(marian.generate([">>fra<< hello there"]))[0] and out[1].text == ""
    with pytest.raises(OptionError, match="Close codes: 'fra'"):
        translate(marian, ["x"], target_lang="fr")


def test_marian_pair_read_from_an_opus_name(tmp_path):
    generator = load(ts.save_seq2seq(tmp_path / "opus-mt-en-de", "marian"), device="cpu", max_new_tokens=NEW)
    assert language_scheme(generator).kind == "fixed" and languages(generator) == ["de"]
    out = translate(generator, ["hello"], source_lang="en", target_lang="de")
    assert out[0].text == texts_of(generator.generate(["hello"]))[0]
    with pytest.raises(OptionError, match="target_lang='fr'"):
        translate(generator, ["hello"], target_lang="fr")


def test_t5_prefixes_declared_or_built(tmp_path):
    declared = {"translation_en_to_de": {"prefix": "translate English to German: "}}
    generator = load(ts.save_seq2seq(tmp_path / "t5", "t5", task_specific_params=declared), device="cpu",
                     max_new_tokens=NEW)
    assert languages(generator) == ["de"]
    out = translate(generator, ["hello there"], source_lang="en", target_lang="de", num_beams=2)
    assert out[0].text == texts_of(generator.generate(["translate English to German: hello there"], num_beams=2))[0]
    with pytest.raises(OptionError, match="pass source_lang= and target_lang="):
        translate(generator, ["hello"], target_lang="de")

    plain = load(ts.save_seq2seq(tmp_path / "t5-plain", "t5"), device="cpu", max_new_tokens=NEW)
    out = translate(plain, ["hello"], source_lang="en", target_lang="French")
    assert out[0].text == texts_of(plain.generate(["translate English to French: hello"]))[0]
    with pytest.raises(OptionError, match="'German'"):
        translate(plain, ["hello"], source_lang="en", target_lang="Germn")


def test_decoder_only_models_are_asked(tmp_path):
    chat = load(ts.save_gpt2(tmp_path / "chat"), device="cpu", max_new_tokens=NEW)
    out = translate(chat, ["hello"], source_lang="en", target_lang="fr")
    message = INSTRUCTION.format(source="English", target="French", text="hello")
    assert out[0].text == texts_of(chat.generate([[{"role": "user", "content": message}]]))[0]

    plain = load(ts.save_gpt2(tmp_path / "plain", chat=False), device="cpu", max_new_tokens=NEW)
    out = translate(plain, ["hello"], source_lang="en", target_lang="German")
    prompt = COMPLETION.format(source="English", target="German", text="hello")
    assert out[0].text == texts_of(plain.generate([prompt], stop_strings=["\n"]))[0]


def test_returned_sequences_are_alternatives(nllb):
    out = translate(nllb, ["hello there"], target_lang="fra_Latn", num_beams=3, num_return_sequences=2)
    assert len(out) == 1 and len(out[0].alternatives) == 1


def test_text_output_is_aligned_line_by_line():
    translations = [Translation("a", "line one", "en", "fr", None), Translation("", "", "en", "fr", None), None,
                    Translation("b", "two\nlines", "en", "fr", None)]
    handle = io.StringIO()
    write_text(translations, handle)
    assert handle.getvalue().split("\n") == ["line one", "", "", "two lines", ""]
    rows = [json.loads(json.dumps(r)) for r in records(translations, ["a", "", "bad", "b"])]
    assert [r["id"] for r in rows] == [0, 1, 2, 3]
    assert rows[2] == {"id": 2, "source": "bad", "hypothesis": None, "source_lang": None, "target_lang": None,
                       "finish_reason": None}
    assert set(rows[0]) >= {"id", "source", "hypothesis"}


def test_a_fixed_pair_without_codes_refuses_a_target_it_would_ignore(tmp_path):
    generator = load(ts.save_seq2seq(tmp_path / "pair", "marian"), device="cpu", max_new_tokens=NEW)
    assert language_scheme(generator).kind == "fixed" and languages(generator) == []
    with pytest.raises(OptionError, match=r"target_lang='de_DE' cannot be honoured.*one fixed language pair"):
        translate(generator, ["hello"], target_lang="de_DE")
    assert translate(generator, ["hello"])[0].text == texts_of(generator.generate(["hello"]))[0]


@pytest.mark.parametrize("bad, shown", [(["fine", 5], "texts[1]: translate() takes strings and this item is the int 5"),
                                        ([None], "texts[0]: translate() takes strings and this item is None"),
                                        ([b"bytes"], "texts[0]: translate() takes strings and this item is a bytes")])
def test_items_that_are_not_strings_are_named(nllb, bad, shown):
    from mmgen import InputError

    with pytest.raises(InputError) as error:
        translate(nllb, bad, target_lang="fra_Latn")
    assert str(error.value).startswith(shown) and "Fix:" in str(error.value)
