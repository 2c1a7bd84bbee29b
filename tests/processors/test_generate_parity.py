"""End to end: ``mmgen.generate`` with processor options gives ``model.generate``'s sequences.

Greedy decoding on every architecture, batches of unequal prompts (left-padded for decoder-only
models, right-padded for encoder-decoder ones). Option values are read off each model's own
baseline output (a token it likes, its first two tokens) so that every case changes what the
model generates, not just passes through. Every processor runs on gpt2 and t5; a few run on
every architecture. Sampling is checked by replaying mmgen's sample through the model and
transformers' processors: every chosen token must be allowed there, with the same log-probability.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

import pytest
import torch
from tiny_models import DECODER_ONLY, ENCODER_DECODER, EOS, prompts, tiny_model
from transformers.generation import logits_process as hf

from mmgen.api import generate

MAX_NEW = 8
ALL = DECODER_ONLY + ENCODER_DECODER
# The tiny BART and mBART end at once; a minimum keeps them generating so the processors act.
BASE = {"bart": dict(min_new_tokens=6), "mbart": dict(min_new_tokens=6)}



@functools.lru_cache(maxsize=None)
def model(name: str) -> torch.nn.Module:
    return tiny_model(name)


def inputs(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    return prompts(left=name in DECODER_ONLY)


def reference(name: str, **options) -> torch.Tensor:
    ids, mask = inputs(name)
    if "logits_processor" in options:
        options["logits_processor"] = hf.LogitsProcessorList(options["logits_processor"])
    with torch.no_grad():
        return model(name).generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW, do_sample=False,
                                    **options)


def ours(name: str, **options) -> torch.Tensor:
    ids, mask = inputs(name)
    return generate(model(name), input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW, **options).sequences


@dataclass(frozen=True)
class Probe:
    """Token ids read off a model's baseline output."""

    decoder_only: bool
    prompt_length: int
    liked: int  # the most frequent generated token (not a special one)
    first: int  # row 0's first two generated tokens
    second: int


@functools.lru_cache(maxsize=None)
def baseline(name: str) -> torch.Tensor:
    return reference(name, **BASE.get(name, {}))


def probe(name: str) -> Probe:
    out = baseline(name)
    prompt_length = inputs(name)[0].shape[1] if name in DECODER_ONLY else 1
    new = out[:, prompt_length:]
    liked = Counter(t for t in new.flatten().tolist() if t > EOS).most_common(1)[0][0]
    return Probe(name in DECODER_ONLY, prompt_length, liked, int(new[0, 0]), int(new[0, 1]))


class BanLastToken:
    """A user processor: the token just generated cannot follow itself."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.scatter(1, input_ids[:, -1:], -1e4)


# Each case: (the options under test, supporting options). The supporting ones make the tiny
# random models behave so that the tested processor has something to act on (e.g. rewarding
# repetition before banning repeated n-grams); the test checks the tested options change the output.
CASES = {
    "repetition_penalty": lambda p: (dict(repetition_penalty=1.8), {}),
    "repetition_reward": lambda p: (dict(repetition_penalty=0.5), {}),
    # Penalize the prompt on the decoder-only models, reward the encoder input on the others.
    "encoder_repetition_penalty": lambda p: (dict(encoder_repetition_penalty=0.3 if p.decoder_only else 3.0), {}),
    "no_repeat_ngram_size": lambda p: (dict(no_repeat_ngram_size=2), dict(repetition_penalty=0.2)),
    "encoder_no_repeat_ngram_size": lambda p: (dict(encoder_no_repeat_ngram_size=2),
                                               dict(encoder_repetition_penalty=20.0)),
    "min_length": lambda p: (dict(min_length=p.prompt_length + 5), dict(eos_token_id=p.liked)),
    "min_new_tokens": lambda p: (dict(min_new_tokens=5), dict(eos_token_id=p.liked)),
    "bad_words_ids": lambda p: (dict(bad_words_ids=[[p.liked], [90, 91, 92]]), {}),
    "bad_words_ids_prefix": lambda p: (dict(bad_words_ids=[[p.first, p.second]]), {}),
    "sequence_bias": lambda p: (dict(sequence_bias=[[[p.liked], -4.0], [[p.first, p.second], -30.0], [[7], 1.5]]), {}),
    "suppress_tokens": lambda p: (dict(suppress_tokens=[p.liked, 7]), {}),
    "begin_suppress_tokens": lambda p: (dict(begin_suppress_tokens=[p.first]), {}),
    "forced_bos_token_id": lambda p: (dict(forced_bos_token_id=7), {}),
    "forced_eos_token_id": lambda p: (dict(forced_eos_token_id=7), {}),
    "exponential_decay_length_penalty": lambda p: (dict(exponential_decay_length_penalty=(2, 4.0)),
                                                   dict(eos_token_id=7)),
    "remove_invalid_values": lambda p: (dict(remove_invalid_values=True), {}),
    "logits_processor": lambda p: (dict(logits_processor=[BanLastToken()]), {}),
    "combined": lambda p: (dict(repetition_penalty=1.3, no_repeat_ngram_size=3, bad_words_ids=[[p.first, p.second]],
                                sequence_bias=[[[p.liked], -1.0]], min_new_tokens=4, suppress_tokens=[11],
                                forced_eos_token_id=7, logits_processor=[BanLastToken()]), {}),
}
# Cases that leave the output as it was: a forced BOS after a multi-token prompt is never due,
# and the tiny models give no inf/nan to remove.
UNCHANGED = {("forced_bos_token_id", name) for name in DECODER_ONLY} | {("remove_invalid_values", name) for name in ALL}
EVERYWHERE = ("repetition_penalty", "no_repeat_ngram_size", "encoder_repetition_penalty", "sequence_bias", "combined")

PAIRS = [(case, name) for name in ("gpt2", "t5") for case in CASES]
PAIRS += [(case, name) for name in ALL if name not in ("gpt2", "t5") for case in EVERYWHERE]


@pytest.mark.parametrize("case,name", PAIRS, ids=[f"{n}-{c}" for c, n in PAIRS])
def test_greedy_parity(case, name):
    tested, support = CASES[case](probe(name))
    support = {k: v for k, v in {**BASE.get(name, {}), **support}.items() if k not in tested}
    expected = reference(name, **support, **tested)
    got = ours(name, **support, **tested)
    assert got.shape == expected.shape and torch.equal(got, expected), f"\nmmgen {got.tolist()}\nhf    {expected.tolist()}"
    without = reference(name, **support)
    changed = without.shape != expected.shape or not torch.equal(without, expected)
    assert changed == ((case, name) not in UNCHANGED), f"{case} does not change {name}'s output"


@pytest.mark.parametrize("name", ALL)
def test_model_defaults(name):
    """The models' own generation configs (BART, mBART and Marian force an EOS at max_length)."""
    assert torch.equal(ours(name), reference(name))


# --- sampling: every token mmgen draws is allowed by transformers' processors -------------------

def _replay_logits(name: str, sequences: torch.Tensor, length: int) -> torch.Tensor:
    """Last-position logits for ``sequences[:, :length]``, recomputed without a cache."""
    ids, mask = inputs(name)
    m = model(name)
    with torch.no_grad():
        if name in ENCODER_DECODER:
            return m(input_ids=ids, attention_mask=mask, decoder_input_ids=sequences[:, :length]).logits[:, -1].float()
        full_mask = torch.cat([mask, torch.ones(mask.shape[0], length - mask.shape[1], dtype=mask.dtype)], dim=1)
        positions = (full_mask.cumsum(-1) - 1).masked_fill(full_mask == 0, 1)
        return m(input_ids=sequences[:, :length], attention_mask=full_mask, position_ids=positions).logits[:, -1].float()


@pytest.mark.parametrize("name", ["gpt2", "t5"])
def test_sampled_tokens_are_allowed_by_transformers(name):
    ids, mask = inputs(name)
    options = dict(do_sample=True, temperature=0.7, top_k=12, top_p=0.9, min_p=0.02, repetition_penalty=1.2)
    result = generate(model(name), input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW, seed=7, **options)
    padding = (mask == 0).sum(-1) if name in DECODER_ONLY else None
    processors = hf.LogitsProcessorList([
        hf.RepetitionPenaltyLogitsProcessor(1.2, prompt_ignore_length=padding),
        hf.TemperatureLogitsWarper(0.7), hf.TopKLogitsWarper(12), hf.TopPLogitsWarper(0.9), hf.MinPLogitsWarper(0.02),
    ])
    sequences, start = result.sequences, result.prompt_length
    running = torch.ones(sequences.shape[0], dtype=torch.bool)
    for step in range(sequences.shape[1] - start):
        length = start + step
        scores = processors(sequences[:, :length], _replay_logits(name, sequences, length))
        chosen = sequences[:, length]
        picked = scores.log_softmax(-1).gather(1, chosen[:, None]).squeeze(1)
        assert bool(torch.isfinite(picked[running]).all()), f"step {step}: mmgen drew a token transformers forbids"
        # The log-prob mmgen reports: the processed distribution at temperature 1 (filters kept).
        unscaled = (scores * 0.7).log_softmax(-1).gather(1, chosen[:, None]).squeeze(1)
        torch.testing.assert_close(unscaled[running], result.logprobs[running, step], atol=1e-4, rtol=1e-4)
        running &= chosen != EOS
