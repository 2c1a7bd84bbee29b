"""Speculative decoding gives plain greedy decoding's tokens at any batch size, rows keeping different
numbers of guesses per round: with a draft model (`assistant_model=`) and with prompt lookup
(`prompt_lookup_num_tokens=`). Speed is measured by benchmarks/bench_speculative.py, not here."""

from __future__ import annotations

import copy

import pytest
import torch
from tiny_models import PAD, VOCAB, prompts, tiny_model
from transformers import AutoModelForCausalLM, AutoTokenizer

import mmgen
from mmgen.core import masked_step
from mmgen.core.frames import TokenStep
from mmgen.core.options import OptionError
from mmgen.core.packed_batch import supports_packing
from mmgen.demo import demo_path

FREE = dict(max_new_tokens=16, eos_token_id=None, forced_eos_token_id=None)


def noisy_copy(model: torch.nn.Module, scale: float, seed: int = 5) -> torch.nn.Module:
    """The model with noise on its weights: a draft that agrees with it often, not always."""
    draft = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in draft.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale * p.abs().mean())
    return draft


def frames_of(model, **kwargs) -> list[TokenStep]:
    return [f for f in mmgen.stream(model, **kwargs) if isinstance(f, TokenStep)]


def assert_ragged(frames: list[TokenStep]) -> None:
    """Some frame leaves out a row that has not finished: rows kept different numbers of guesses."""
    for before, frame in zip(frames, frames[1:]):
        if bool((~frame.active & ~before.finished).any()):
            return
    raise AssertionError("every running row gained the same number of tokens in every round")


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("scale, num_tokens", [(0.0, 3), (0.3, 4), (0.3, 1), (3.0, 5)])
def test_a_draft_model_gives_greedy_tokens_in_a_padded_batch(name, scale, num_tokens):
    """scale 0: the draft is the model (every guess kept); 0.3: some kept; 3.0: almost none."""
    model = tiny_model(name)
    draft = noisy_copy(model, scale)
    ids, mask = prompts(batch=3)
    reference = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, **FREE)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, assistant_model=draft,
                          num_assistant_tokens=num_tokens, assistant_confidence_threshold=0.0, **FREE)
    assert torch.equal(fast.sequences, reference)
    assert torch.equal(fast.lengths, plain.lengths) and fast.finish_reasons == plain.finish_reasons
    torch.testing.assert_close(fast.logprobs, plain.logprobs, atol=1e-4, rtol=1e-4)


def test_rows_keep_different_numbers_of_guesses_and_each_row_streams_its_tokens_in_order():
    model = tiny_model("llama")
    draft = noisy_copy(model, 0.3)
    ids, mask = prompts(batch=3)
    frames = frames_of(model, input_ids=ids, attention_mask=mask, assistant_model=draft, num_assistant_tokens=4,
                       **FREE)
    assert_ragged(frames)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    for row in range(3):
        streamed = torch.stack([f.tokens[row] for f in frames if f.active[row]])
        assert torch.equal(streamed, plain.row_tokens(row))


def test_rows_finish_on_their_own_end_of_sequence_inside_a_round():
    model = tiny_model("gpt2")
    draft = noisy_copy(model, 0.1)
    ids, mask = prompts(batch=3)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=30)
    eos = int(plain.sequences[0, plain.prompt_length + 3])  # a token row 0 emits early: rows end at different points
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=30, eos_token_id=eos)
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=30, eos_token_id=eos,
                          assistant_model=draft, num_assistant_tokens=6)
    assert torch.equal(fast.sequences, plain.sequences)
    assert fast.finish_reasons == plain.finish_reasons and fast.lengths.tolist() == plain.lengths.tolist()


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_a_draft_that_is_the_model_has_every_guess_kept(name):
    """The proposer's bookkeeping (its holes, the kept guess it feeds next round) decides only the speed,
    never the tokens: it is checked here by counting the model's forwards. A draft equal to the model
    has all 3 guesses kept, so each round gains 4 tokens: 16 tokens = the prefill's 1 + 4 rounds."""
    model = tiny_model(name)
    draft = copy.deepcopy(model)
    supports_packing(model)  # the one-time probe of its 4D masks is not a decoding forward
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    ids, mask = prompts(batch=3)
    mmgen.generate(model, input_ids=ids, attention_mask=mask, assistant_model=draft,
                   num_assistant_tokens=3, assistant_confidence_threshold=0.0, **FREE)
    assert len(calls) == 1 + 4


@pytest.mark.parametrize("schedule", ["heuristic", "heuristic_transient"])
def test_the_heuristic_schedule_changes_the_guess_count_not_the_tokens(schedule):
    model = tiny_model("llama")
    ids, mask = prompts(batch=3)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, assistant_model=noisy_copy(model, 0.3),
                          num_assistant_tokens=2, num_assistant_tokens_schedule=schedule, **FREE)
    assert torch.equal(fast.sequences, plain.sequences)


def repetitive_prompts() -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompts that repeat a phrase: prompt lookup has n-grams to find."""
    g = torch.Generator().manual_seed(3)
    rows = []
    for length in (5, 3, 4):
        phrase = torch.randint(3, VOCAB, (length,), generator=g).tolist()
        rows.append(phrase * 3 + phrase[:2])
    width = max(map(len, rows))
    ids = torch.tensor([[PAD] * (width - len(r)) + r for r in rows])
    return ids, (ids != PAD).long()


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("num_tokens, ngram", [(3, 2), (6, 1)])
def test_prompt_lookup_gives_greedy_tokens(name, num_tokens, ngram):
    model = tiny_model(name)
    ids, mask = repetitive_prompts()
    reference = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, **FREE)
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, prompt_lookup_num_tokens=num_tokens,
                          max_matching_ngram_size=ngram, **FREE)
    assert torch.equal(fast.sequences, reference)


def test_batch_of_one_matches_transformers_assisted_decoding():
    model = tiny_model("llama")
    draft = noisy_copy(model, 0.3)
    ids, mask = prompts(batch=1)
    reference = model.generate(input_ids=ids, attention_mask=mask, assistant_model=draft, do_sample=False, **FREE)
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, assistant_model=draft, **FREE)
    assert torch.equal(fast.sequences, reference)


def test_the_demo_draft_gives_the_demo_models_greedy_text():
    tokenizer = AutoTokenizer.from_pretrained(demo_path("demo/lm"))
    model = AutoModelForCausalLM.from_pretrained(demo_path("demo/lm")).eval()
    draft = AutoModelForCausalLM.from_pretrained(demo_path("demo/lm-draft")).eval()
    text = ["count up : ninety-eight , ninety-nine ,", "count by twos : ten , twelve ,",
            "count down : five hundred , four hundred and ninety-nine ,", "count by tens : one , eleven ,"]
    plain = mmgen.generate(model, tokenizer=tokenizer, text=text, max_new_tokens=40)
    fast = mmgen.generate(model, tokenizer=tokenizer, text=text, max_new_tokens=40, assistant_model=draft)
    assert torch.equal(fast.sequences, plain.sequences) and fast.texts == plain.texts
    assert all(reason.value == "eos" for reason in fast.finish_reasons)


@pytest.mark.parametrize("options, named", [
    (dict(do_sample=True), "do_sample"),
    (dict(num_beams=2), "num_beams"),
    (dict(repetition_penalty=1.2), "repetition_penalty"),
    (dict(cache="static"), "cache='static'"),
    (dict(prompt_lookup_num_tokens=3), "pass one of them"),
    (dict(num_assistant_tokens_schedule="sometimes"), "'constant'"),
    (dict(num_assistant_tokens=0), "num_assistant_tokens=0"),
])
def test_what_the_speculative_path_cannot_run_is_refused_by_name(options, named):
    model = tiny_model("gpt2")
    ids, mask = prompts(batch=2)
    with pytest.raises(OptionError, match=named.replace("(", r"\(").replace("[", r"\[")):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, assistant_model=noisy_copy(model, 0.1),
                       **{**FREE, **options})


def test_an_assistant_that_is_not_a_model_is_refused():
    model = tiny_model("gpt2")
    ids, mask = prompts(batch=2)
    with pytest.raises(OptionError, match="assistant_model=str is not a model"):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, assistant_model="gpt2", **FREE)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("kind", ["sdpa", "eager", "2d"])
def test_the_ready_4d_mask_gives_the_tokens_the_2d_mask_gives(name, kind, monkeypatch):
    """The masked step hands SDPA and eager attention their 4D masks ready (holes, padding and the causal
    part inside a round's columns); models that may not take them get the 2D mask. Same tokens either way."""
    model = tiny_model(name)
    if kind == "2d":
        monkeypatch.setattr(masked_step, "supports_packing", lambda model: False)
    else:
        model.set_attn_implementation(kind)
    draft = noisy_copy(model, 0.3)
    ids, mask = prompts(batch=3)
    reference = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, **FREE)
    masks = []
    model.register_forward_pre_hook(lambda m, args, kwargs: masks.append(kwargs.get("attention_mask")),
                                    with_kwargs=True)
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, assistant_model=draft, num_assistant_tokens=4,
                          assistant_confidence_threshold=0.0, **FREE)
    assert torch.equal(fast.sequences, reference)
    given = {m.dim() for m in masks if m is not None}
    assert given == ({2} if kind == "2d" else {4})


def test_rounds_end_when_a_quarter_of_the_rows_stop_and_every_row_keeps_its_greedy_tokens():
    """Eight demo prompts whose lines end at different lengths: a round ends once two rows' drafts stop
    (end of sequence or unsure), so the draft runs fewer forwards than the longest row has tokens past
    its first round, and every row still holds plain greedy decoding's tokens."""
    from mmgen.demo.data.grammar import counting_lines
    from mmgen.demo.training.train_lm import split_prompt

    tokenizer = AutoTokenizer.from_pretrained(demo_path("demo/lm"))
    model = AutoModelForCausalLM.from_pretrained(demo_path("demo/lm")).eval()
    draft = AutoModelForCausalLM.from_pretrained(demo_path("demo/lm-draft")).eval()
    text = [split_prompt(line)[0] for line in counting_lines(8, seed=7, held_out=True)]
    plain = mmgen.generate(model, tokenizer=tokenizer, text=text, max_new_tokens=48)
    supports_packing(model)  # its one-time probe, before the forwards counted
    rounds = []
    model.register_forward_pre_hook(lambda m, args, kwargs: rounds.append(kwargs["input_ids"].shape), with_kwargs=True)
    fast = mmgen.generate(model, tokenizer=tokenizer, text=text, max_new_tokens=48, assistant_model=draft)
    assert torch.equal(fast.sequences, plain.sequences) and fast.texts == plain.texts
    assert len(set(plain.lengths.tolist())) > 1
    first_round = rounds[1]  # after the prefill: all rows, their pending token and the guesses
    assert first_round[0] == 8 and first_round[1] - 1 < int(plain.lengths.max()) - 1
