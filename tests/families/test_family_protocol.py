"""The family protocol on mock families: what the core asks of a family, once each, and its defaults."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch
from tiny_models import EOS, prompts, tiny_model

import mmgen
import mmgen.families
from mmgen.core.collect import Collected
from mmgen.core.frames import FinishReason, SpectrogramStep
from mmgen.core.results import Generation
from mmgen.families import FAMILIES, Family
from mmgen.families.decoder_only import DecoderOnly


class Shouting(DecoderOnly):
    """A mock family: its own option (``shout``, resolved with the tokenizer), its own defaults, and a
    processor that forces the resolved token first. It records every call the core makes."""

    name = "shouting"
    options = frozenset({"shout"})

    def __init__(self) -> None:
        self.calls: list[str] = []

    def matches(self, model: torch.nn.Module) -> bool:
        return getattr(model.config, "shouting", False)

    def option_defaults(self, model):
        self.calls.append("option_defaults")
        return {"max_new_tokens": 4, "eos_token_id": None}

    def resolve_options(self, tokenizer, family_options):
        self.calls.append("resolve_options")
        return {**family_options, "shout": tokenizer[family_options["shout"]]}

    def prepare(self, model, model_inputs, options, family_options, per_input):
        self.calls.append("prepare")
        prepared = super().prepare(model, model_inputs, options, family_options, per_input)
        token = family_options["shout"]

        def force_first(tokens, scores):
            if tokens.shape[1] == prepared.prompt_length:
                return torch.full_like(scores, -float("inf")).index_fill(1, torch.tensor([token]), 0.0)
            return scores

        prepared.processors.append(force_first)
        return prepared


class Vocabulary(dict):
    """A mock tokenizer: words -> ids, and ids decoded as their numbers."""

    def batch_decode(self, rows, skip_special_tokens=True):
        return [" ".join(str(int(t)) for t in row) for row in rows]


@pytest.fixture
def shouting(monkeypatch):
    family = Shouting()
    monkeypatch.setattr(mmgen.families, "FAMILIES", (family, *FAMILIES))
    model = tiny_model("gpt2")
    model.config.shouting = True
    return family, model


def test_the_core_asks_each_hook_once_and_honours_them(shouting):
    family, model = shouting
    ids, mask = prompts(batch=2)
    result = mmgen.generate(model, tokenizer=Vocabulary(A=42), input_ids=ids, attention_mask=mask, shout="A")
    assert family.calls == ["resolve_options", "option_defaults", "prepare"]
    assert result.new_tokens.shape[1] == 4  # the family's default length
    assert result.new_tokens[:, 0].tolist() == [42, 42]  # its option, resolved with the tokenizer
    assert result.finish_reasons == (FinishReason.LENGTH,) * 2


def test_the_call_wins_over_the_family_defaults(shouting):
    family, model = shouting
    ids, mask = prompts(batch=2)
    result = mmgen.generate(model, tokenizer=Vocabulary(A=42), input_ids=ids, attention_mask=mask, shout="A",
                            max_new_tokens=7)
    assert result.new_tokens.shape[1] == 7


def test_an_option_no_family_takes_is_refused_by_name(shouting):
    _, model = shouting
    ids, mask = prompts(batch=2)
    with pytest.raises(mmgen.OptionError, match="'shoutt'"):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, shoutt="A")


def test_the_base_family_documents_its_defaults():
    family = Family()
    model = tiny_model("gpt2")
    assert family.option_defaults(model) == {}
    assert family.resolve_options(None, {"x": 1}) == {"x": 1}
    assert family.options == frozenset()
    with pytest.raises(NotImplementedError):
        family.matches(model)
    with pytest.raises(NotImplementedError):
        family.prepare(model, {}, None, {}, 1)


@dataclass
class CountdownRun:
    """A run of spectrogram-like frames: row r runs r + 1 steps. The shared collect gathers it."""

    rows: int

    def events(self) -> Iterator[SpectrogramStep]:
        codes = torch.zeros(self.rows, dtype=torch.int8)
        running = torch.ones(self.rows, dtype=torch.bool)
        for index in range(self.rows):
            codes = torch.where(torch.arange(self.rows) == index, FinishReason.EOS.code, codes).to(torch.int8)
            yield SpectrogramStep(index=index, frames=torch.zeros(self.rows, 1, 2),
                                  stop_probs=torch.zeros(self.rows, 1),
                                  active=running.clone(), finish_codes=codes.clone())
            running &= codes == 0

    def stream(self) -> Iterator[SpectrogramStep]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        return Generation(sequences=torch.zeros(self.rows, 0, dtype=torch.long), logprobs=torch.zeros(self.rows, 0),
                          finish_reasons=collected.finish_reasons, lengths=collected.lengths, prompt_length=0,
                          timings=collected.timings)


class Countdown(Family):
    name = "countdown"
    options = frozenset({"rows"})

    def matches(self, model):
        return getattr(model.config, "countdown", False)

    def plan(self, model, tokenizer, call):
        return CountdownRun(call.family_options["rows"])


def test_a_family_that_plans_its_own_run_is_streamed_and_collected_like_the_others(monkeypatch):
    monkeypatch.setattr(mmgen.families, "FAMILIES", (Countdown(), *FAMILIES))
    model = tiny_model("gpt2")
    model.config.countdown = True
    result = mmgen.generate(model, rows=3)
    assert result.lengths.tolist() == [1, 2, 3]
    assert result.finish_reasons == (FinishReason.EOS,) * 3
    assert result.timings.new_tokens == 6
    assert [frame.index for frame in mmgen.stream(model, rows=3)] == [0, 1, 2]


def test_greedy_skips_processors_that_cannot_move_the_argmax():
    """renormalize_logits (a log-softmax) cannot change an argmax: greedy decoding skips it, and the
    tokens and their log-probs are those of the run with it."""
    from mmgen.processors import build_processors, for_greedy

    model = tiny_model("gpt2")
    ids, mask = prompts(batch=3)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=6, eos_token_id=EOS)
    renormalized = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=6, eos_token_id=EOS,
                                  renormalize_logits=True)
    assert torch.equal(plain.sequences, renormalized.sequences)
    torch.testing.assert_close(plain.logprobs, renormalized.logprobs)
    options = mmgen.GenerationOptions(renormalize_logits=True, max_new_tokens=6)
    from mmgen.processors import ProcessorContext

    context = ProcessorContext(prompt_length=3, max_length=9, eos_token_ids=None, encoder_input_ids=None,
                               prompt_padding=None, num_beams=1, device=torch.device("cpu"))
    built = build_processors(options, context)
    assert len(built) == 1 and for_greedy(built) == []


def test_use_cache_false_is_refused_and_true_accepted():
    model = tiny_model("gpt2")
    ids, mask = prompts(batch=1)
    with pytest.raises(mmgen.OptionError, match="use_cache=False"):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=2, use_cache=False)
    assert mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=2, use_cache=True).lengths[0] >= 1
