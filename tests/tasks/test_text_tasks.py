"""mmgen.tasks text generation and summarization: prompts, chats, finish reasons, model-specific prompts."""

from __future__ import annotations

import dataclasses

import pytest
import tiny_saved as ts
from mmgen.tasks import Completion, Summary, chat, generate_text, summarize
from mmgen.tasks.summarization import INSTRUCTION, TLDR

from mmgen import FinishReason
from mmgen.generator import load

NEW = 5
CHATS = [[{"role": "user", "content": "hello there"}],
         [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the end of the road"}]]


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return load(ts.save_gpt2(tmp_path_factory.mktemp("gpt2")), device="cpu", max_new_tokens=NEW)


def test_prompts_give_text_and_finish_reason(lm):
    prompts = ["the cat sat", "hello"]
    completions = generate_text(lm, prompts)
    expected = lm.generate(prompts)
    assert [c.text for c in completions] == [r.text for r in expected]
    assert [c.prompt for c in completions] == prompts
    assert all(isinstance(c, Completion) and c.finish_reason is FinishReason.LENGTH and c.new_tokens == NEW
               for c in completions)
    one = generate_text(lm, "hello", max_new_tokens=2)
    assert len(one) == 1 and one[0].new_tokens == 2 and one[0].input_index == 0


def test_stop_strings_finish_reason(lm):
    text = generate_text(lm, "the cat sat", max_new_tokens=12)[0].text
    stop = text.strip()[:2]
    stopped = generate_text(lm, "the cat sat", max_new_tokens=12, stop_strings=[stop])[0]
    assert stopped.finish_reason is FinishReason.STOP_STRING and stop in stopped.text


def test_chat_conversations(lm):
    completions = chat(lm, CHATS)
    assert [c.text for c in completions] == [r.text for r in lm.generate(CHATS)]
    assert completions[1].prompt == CHATS[1]
    assert completions[0].record()["prompt"] == CHATS[0]
    assert len(chat(lm, CHATS[0])) == 1  # one conversation
    with pytest.raises(ValueError, match="conversation #0"):
        chat(lm, ["not a chat"])


def test_several_completions_per_prompt_are_input_major(lm):
    completions = generate_text(lm, ["a", "b"], do_sample=True, seed=3, num_return_sequences=2)
    assert [c.input_index for c in completions] == [0, 0, 1, 1]
    assert [c.prompt for c in completions] == ["a", "a", "b", "b"]


def test_summarize_seq2seq_with_the_checkpoints_settings(tmp_path):
    params = {"summarization": {"prefix": "summarize: ", "num_beams": 2, "length_penalty": 2.0}}
    generator = load(ts.save_seq2seq(tmp_path / "bart", "bart", task_specific_params=params), device="cpu",
                     max_new_tokens=NEW)
    docs = ["the cat sat on the mat and the dog sat on the log", "", "hello world"]
    out = summarize(generator, docs)
    assert [s.source for s in out] == docs and out[1] == Summary("", "", None)
    expected = generator.generate(["summarize: " + docs[0], "summarize: " + docs[2]], num_beams=2, length_penalty=2.0)
    assert [out[0].text, out[2].text] == [r.text.strip() for r in expected]
    greedy = summarize(generator, docs[:1], num_beams=1)  # the call's options win
    assert greedy[0].text == generator.generate(["summarize: " + docs[0]], num_beams=1)[0].text.strip()


def test_summarize_t5_gets_its_prefix(tmp_path):
    generator = load(ts.save_seq2seq(tmp_path / "t5", "t5"), device="cpu", max_new_tokens=NEW)
    out = summarize(generator, "the cat sat on the mat")
    assert out[0].text == generator.generate(["summarize: the cat sat on the mat"])[0].text.strip()


def test_summarize_decoder_only(lm, tmp_path):
    out = summarize(lm, ["the cat sat on the mat"])
    message = [{"role": "user", "content": INSTRUCTION.format(text="the cat sat on the mat")}]
    assert out[0].text == lm.generate([message])[0].text.strip()
    plain = load(ts.save_gpt2(tmp_path / "plain", chat=False), device="cpu", max_new_tokens=NEW)
    out = summarize(plain, ["the cat sat on the mat"])
    assert out[0].text == plain.generate([TLDR.format(text="the cat sat on the mat")])[0].text.strip()


def test_summarize_names_an_item_that_is_not_a_string(lm):
    from mmgen import InputError

    with pytest.raises(InputError, match=r"texts\[1\]: summarize\(\) takes strings and this item is a dict"):
        summarize(lm, ["a document", {"text": "not like this"}])


def test_streamed_completions_are_the_generated_ones_piece_by_piece(lm):
    from mmgen.tasks import stream_text_completions

    prompts = ["the cat sat", "hello"]
    pieces: dict[int, list[str]] = {0: [], 1: []}
    streamed = stream_text_completions(lm, prompts, lambda row, text: pieces[row].append(text), max_new_tokens=6)
    assert streamed == generate_text(lm, prompts, max_new_tokens=6)  # text, finish reason, token count
    assert ["".join(pieces[i]) for i in (0, 1)] == [c.text for c in streamed]
    assert all(len(p) > 1 for p in pieces.values())  # more than one piece each: streamed
    beams: list[tuple[int, str]] = []
    whole = stream_text_completions(lm, prompts, lambda row, text: beams.append((row, text)), num_beams=2,
                                    max_new_tokens=6)
    assert whole == generate_text(lm, prompts, num_beams=2, max_new_tokens=6)
    assert beams == [(c.input_index, c.text) for c in whole]  # beam search cannot stream: once, whole


def test_a_prompt_past_the_models_positions_is_refused_before_any_compute(lm):
    from mmgen import InputError

    limit = lm.model.config.max_position_embeddings
    with pytest.raises(InputError, match=rf"tokens long and this model reads at most {limit}"):
        generate_text(lm, ["word " * (4 * limit)])
    assert generate_text(lm, ["word " * 4])[0].new_tokens == NEW


def test_completions_through_a_running_batch_are_each_prompts_own_as_they_finish(lm):
    from mmgen import InputError, OptionError
    from mmgen.tasks import generate_text_many

    prompts = ["the cat sat", "hello", CHATS[1], "a", "the end of the road is near"]
    limits = {"max_new_tokens": 3, "stop_strings": ["e"]}  # rows end at different steps
    finished = list(generate_text_many(lm, iter(prompts), batch_size=2, **limits))
    assert sorted(c.input_index for c in finished) == [0, 1, 2, 3, 4]
    for c in finished:
        alone = generate_text(lm, [prompts[c.input_index]], **limits)[0]
        assert c == dataclasses.replace(alone, input_index=c.input_index)  # prompt, text, reason, tokens
    assert {c.finish_reason for c in finished} == {FinishReason.LENGTH, FinishReason.STOP_STRING}
    limit = lm.model.config.max_position_embeddings
    with pytest.raises(InputError, match="tokens long"):
        list(generate_text_many(lm, ["hello", "word " * (4 * limit)]))
    with pytest.raises(OptionError, match="num_beams"):
        list(generate_text_many(lm, ["hello"], num_beams=2))
