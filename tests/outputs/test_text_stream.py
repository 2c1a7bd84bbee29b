"""Text streaming: deltas over TokenSteps equal batch decoding, and never split a character."""

import pytest
import torch
from tiny_tokenizers import byte_fallback_bpe, byte_level_bpe, metaspace_bpe, model_for, word_level

import mmgen
from mmgen.core.frames import FinishReason, TokenStep
from mmgen.outputs.text_stream import TextDelta, stream_text

TOKENIZERS = {"byte_level": byte_level_bpe, "metaspace": metaspace_bpe, "byte_fallback": byte_fallback_bpe,
              "word_level": word_level}
RUNNING, EOS_CODE, LENGTH = FinishReason.RUNNING.code, FinishReason.EOS.code, FinishReason.LENGTH.code


def scripted_steps(rows_ids, reasons, pad=0):
    """TokenSteps for rows of given ids: row r is active for len(rows_ids[r]) steps, then finishes with reasons[r]."""
    steps = max(len(r) for r in rows_ids)
    for i in range(steps):
        tokens = [ids[i] if i < len(ids) else pad for ids in rows_ids]
        active = [i < len(ids) for ids in rows_ids]
        codes = [reason.code if i >= len(ids) - 1 else RUNNING for ids, reason in zip(rows_ids, reasons)]
        yield TokenStep(index=i, tokens=torch.tensor(tokens), logprobs=torch.zeros(len(rows_ids)),
                        active=torch.tensor(active), finish_codes=torch.tensor(codes, dtype=torch.int8))


def joined(deltas, rows):
    return ["".join(d.text for d in deltas if d.row == r) for r in range(rows)]


def test_multi_byte_characters_are_never_split():
    tok = byte_level_bpe()
    texts = ["we pay 5 € for the sea 😀 and more", "the end € 😀", "stop"]
    rows_ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
    assert "â" in tok.convert_ids_to_tokens(rows_ids[0])  # "€" is three byte tokens
    reasons = [FinishReason.EOS, FinishReason.STOP_STRING, FinishReason.LENGTH]
    deltas = list(stream_text(scripted_steps(rows_ids, reasons), tok, rows=3))
    assert all("\ufffd" not in d.text for d in deltas)
    assert joined(deltas, 3) == texts
    # "€" arrives whole, with the byte token that completes it.
    assert any(d.text.endswith("€") for d in deltas if d.row == 0)
    # Exactly one finished delta per row, the last one of that row, with its reason.
    for row, reason in enumerate(reasons):
        mine = [d for d in deltas if d.row == row]
        assert [d.finished for d in mine] == [False] * (len(mine) - 1) + [True]
        assert mine[-1].finish_reason is reason and all(d.finish_reason is None for d in mine[:-1])
    # Running rows give only non-empty deltas.
    assert all(d.text for d in deltas if not d.finished)


def test_a_row_that_ends_inside_a_character_is_flushed():
    tok = byte_level_bpe()
    ids = tok("a €", add_special_tokens=False)["input_ids"][:-1]  # drop the last byte of "€"
    deltas = list(stream_text(scripted_steps([ids], [FinishReason.LENGTH]), tok, rows=1))
    assert joined(deltas, 1) == [tok.decode(ids)]
    assert deltas[-1].finished and deltas[-1].text.endswith("\ufffd")
    assert all("\ufffd" not in d.text for d in deltas[:-1])


@pytest.mark.parametrize("name", TOKENIZERS)
def test_deltas_join_to_the_decoded_text(name):
    tok = TOKENIZERS[name]()
    texts = ["the cat sat on the mat and the dog ran", "hello world, hello there 5 €", "stop at the end. we stop"]
    rows_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    # A special token inside: skipped, as decode(skip_special_tokens=True) does.
    rows_ids[1] = [tok.bos_token_id, *rows_ids[1]]
    deltas = list(stream_text(scripted_steps(rows_ids, [FinishReason.LENGTH] * 3), tok, rows=3))
    assert joined(deltas, 3) == [tok.decode(ids, skip_special_tokens=True) for ids in rows_ids]
    steps = scripted_steps(rows_ids, [FinishReason.LENGTH] * 3)
    kept = list(stream_text(steps, tok, rows=3, skip_special_tokens=False))
    assert joined(kept, 3)[1] == tok.decode(rows_ids[1])


class CountingTokenizer:
    """Wraps a tokenizer and records the length of every id list it decodes."""

    def __init__(self, tok):
        self.tok, self.lengths = tok, []

    def decode(self, ids, **kwargs):
        self.lengths.append(len(ids))
        return self.tok.decode(ids, **kwargs)


def test_only_active_rows_and_a_short_window_are_decoded():
    tok = byte_level_bpe()
    long_row = tok(" ".join(["the cat sat on the mat"] * 8), add_special_tokens=False)["input_ids"]
    short_row = long_row[:3]
    counting = CountingTokenizer(tok)
    deltas = list(stream_text(scripted_steps([long_row, short_row], [FinishReason.LENGTH] * 2), counting, rows=2))
    assert joined(deltas, 2) == [tok.decode(long_row), tok.decode(short_row)]
    assert len(long_row) > 40 and max(counting.lengths) <= 4
    # Two decodes per active row per step: the finished short row stops costing anything.
    assert len(counting.lengths) == 2 * (len(long_row) + len(short_row))


def test_beam_events_are_refused():
    tok = byte_level_bpe()
    with pytest.raises(TypeError, match="Beam search"):
        list(stream_text([mmgen.BeamStep(index=0, tokens=torch.zeros(1, 1, dtype=torch.long))], tok, rows=1))


def test_text_delta_is_frozen():
    delta = TextDelta(row=0, text="a")
    with pytest.raises(AttributeError):
        delta.text = "b"
    assert not delta.finished and delta.finish_reason is None


PROMPTS = ["the cat sat on", "stop here, then", "hello world, hello"]


@pytest.mark.parametrize("name", ["byte_level", "metaspace", "word_level"])
def test_streaming_a_batch_equals_generate(name):
    tok = TOKENIZERS[name]()
    model = model_for(tok, "llama", seed=1)
    # EOS for row lengths that differ; a stop string makes one row end early.
    options = {"tokenizer": tok, "text": PROMPTS, "max_new_tokens": 14, "stop_strings": ["sun", "park"]}
    result = mmgen.generate(model, **options)
    steps = list(mmgen.stream(model, **options))
    tokens = torch.stack([s.tokens for s in steps], dim=1)
    assert torch.equal(tokens, result.new_tokens)
    deltas = list(stream_text(iter(steps), tok, rows=3))
    expected = [tok.decode(ids, skip_special_tokens=True) for ids in result.new_tokens.tolist()]
    assert joined(deltas, 3) == expected == list(result.texts)
    finished = {d.row: d.finish_reason for d in deltas if d.finished}
    assert finished == dict(enumerate(result.finish_reasons))
