"""Prompt guards: left padding whatever the input, a built attention mask, chat templates."""

import pytest
import torch
from tiny_models import EOS, PAD, prompts, tiny_model
from tiny_tokenizers import byte_level_bpe, model_for

import mmgen
from mmgen.inputs.prompts import attention_mask_for, call_items, encode_prompts, left_pad

# Only characters the tiny vocabulary has (no ":" nor newline).
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} {{ m['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant{% endif %}"
)
OPTIONS = {"max_new_tokens": 8}


def generated(sequences, prompt_length):
    return sequences[:, prompt_length:]


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_right_padded_input_generates_as_left_padded(name):
    model = tiny_model(name)
    left_ids, left_mask = prompts(batch=3, left=True)
    right_ids, right_mask = prompts(batch=3, left=False)
    assert not torch.equal(left_ids, right_ids)
    expected = model.generate(input_ids=left_ids, attention_mask=left_mask, **OPTIONS)
    actual = mmgen.generate(model, input_ids=right_ids, attention_mask=right_mask, **OPTIONS)
    assert torch.equal(actual.new_tokens, generated(expected, left_ids.shape[1]))
    assert torch.equal(actual.sequences, expected)  # the prompt is stored left-padded too


@pytest.mark.parametrize("left", [True, False])
def test_a_missing_attention_mask_is_built(left):
    model = tiny_model("gpt2")
    ids, mask = prompts(batch=3, left=left)
    with_mask = mmgen.generate(model, input_ids=ids, attention_mask=mask, **OPTIONS)
    without = mmgen.generate(model, input_ids=ids, **OPTIONS)
    assert torch.equal(without.sequences, with_mask.sequences)
    if left:
        assert torch.equal(without.sequences, model.generate(input_ids=ids, attention_mask=mask, **OPTIONS))


def test_mask_inference_rules():
    ids = torch.tensor([[PAD, PAD, 5, 6], [7, 8, 9, 10]])
    assert attention_mask_for(ids, PAD, (EOS,)).tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    # pad == eos: a pad cannot be told from a real EOS, so every position counts (as model.generate).
    assert attention_mask_for(ids, PAD, (PAD,)).tolist() == [[1] * 4] * 2
    assert attention_mask_for(ids, None, (EOS,)).tolist() == [[1] * 4] * 2
    assert attention_mask_for(torch.tensor([[5, 6]]), PAD, (EOS,)).tolist() == [[1, 1]]


def test_left_pad_moves_padding_and_keeps_token_order():
    ids = torch.tensor([[5, 6, PAD, PAD], [PAD, 7, 8, 9], [3, PAD, 4, PAD]])
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 1, 0]], dtype=torch.bool)
    new_ids, new_mask = left_pad(ids, mask, PAD, (EOS,))
    assert new_ids.tolist() == [[PAD, PAD, 5, 6], [PAD, 7, 8, 9], [PAD, PAD, 3, 4]]
    assert new_mask.tolist() == [[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 1]] and new_mask.dtype == torch.long
    # Already left-padded: returned as is; a 1-D prompt becomes one row.
    assert left_pad(new_ids, new_mask, PAD, (EOS,))[0] is new_ids
    one, one_mask = left_pad(torch.tensor([5, 6]), None, PAD, (EOS,))
    assert one.tolist() == [[5, 6]] and one_mask.tolist() == [[1, 1]]
    with pytest.raises(ValueError, match="shape"):
        left_pad(ids, mask[:, :2], PAD, (EOS,))


TEXTS = ["the cat sat on the mat", "hello", "stop here, then go"]


def test_text_is_left_padded_whatever_the_tokenizer_says():
    tok = byte_level_bpe()
    tok.padding_side = "right"
    model = model_for(tok, "llama", seed=1)
    result = mmgen.generate(model, tokenizer=tok, text=TEXTS, **OPTIONS)
    assert tok.padding_side == "right"  # not modified
    enc = tok(TEXTS, return_tensors="pt", padding=True, padding_side="left")
    assert torch.equal(result.sequences[:, : result.prompt_length], enc["input_ids"])
    assert torch.equal(result.sequences, model.generate(**enc, **OPTIONS))
    assert list(result.texts) == tok.batch_decode(result.new_tokens, skip_special_tokens=True)


def test_encoder_decoder_text_is_right_padded():
    tok = byte_level_bpe()
    tok.padding_side = "left"
    enc = encode_prompts(tok, TEXTS, left=False)
    expected = tok(TEXTS, return_tensors="pt", padding=True, padding_side="right")
    assert torch.equal(enc["input_ids"], expected["input_ids"])
    assert torch.equal(enc["attention_mask"], expected["attention_mask"])
    model = model_for(tok, "t5")
    result = mmgen.generate(model, tokenizer=tok, text=TEXTS, **OPTIONS)
    assert torch.equal(result.sequences, model.generate(**expected, **OPTIONS))


def test_a_tokenizer_without_pad_token_still_batches():
    tok = byte_level_bpe()
    tok.pad_token = None
    enc = encode_prompts(tok, TEXTS, left=True)
    lengths = [len(tok(t)["input_ids"]) for t in TEXTS]
    assert enc["attention_mask"].sum(1).tolist() == lengths
    assert (enc["input_ids"][enc["attention_mask"] == 0] == tok.eos_token_id).all()


def chat_tokenizer():
    tok = byte_level_bpe()
    tok.chat_template = CHAT_TEMPLATE
    return tok


def test_messages_use_the_chat_template_with_the_generation_prompt():
    tok = chat_tokenizer()
    model = model_for(tok, "llama", seed=1)
    messages = [{"role": "user", "content": "hi"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
    assert tok.decode(ids).endswith("<s>user hi<s>assistant")
    enc = encode_prompts(tok, call_items(messages=messages), left=True)
    assert enc["input_ids"].tolist() == [ids]
    result = mmgen.generate(model, tokenizer=tok, messages=messages, **OPTIONS)
    expected = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                              **OPTIONS)
    assert torch.equal(result.sequences, expected)


def test_a_batch_of_conversations():
    tok = chat_tokenizer()
    model = model_for(tok, "llama", seed=1)
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the cat sat on the mat?"}],
        [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hello there"},
         {"role": "user", "content": "stop"}],
    ]
    rows = [tok.apply_chat_template(c, add_generation_prompt=True)["input_ids"] for c in conversations]
    enc = tok.pad({"input_ids": rows}, return_tensors="pt", padding_side="left")
    result = mmgen.generate(model, tokenizer=tok, messages=conversations, **OPTIONS)
    assert torch.equal(result.sequences[:, : result.prompt_length], enc["input_ids"])
    assert torch.equal(result.sequences, model.generate(**enc, **OPTIONS))


def test_a_tokenizer_without_chat_template_gives_a_clear_error():
    tok = byte_level_bpe()
    model = model_for(tok)
    with pytest.raises(ValueError, match="chat template"):
        mmgen.generate(model, tokenizer=tok, messages=[{"role": "user", "content": "hi"}], **OPTIONS)


@pytest.mark.parametrize("kwargs", [{}, {"text": "a", "messages": [{"role": "user", "content": "a"}]},
                                    {"text": []}, {"text": [1, 2]}, {"messages": ["hi"]}])
def test_bad_prompt_arguments(kwargs):
    with pytest.raises(ValueError):
        encode_prompts(chat_tokenizer(), call_items(**kwargs), left=True)
