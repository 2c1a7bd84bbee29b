"""Beam search (`mmgen.core.beam`): parity with ``model.generate(num_beams=...)``, the stream, beam sampling.

Random tiny models rarely say EOS at a useful moment, so most cases use a model whose EOS
logits are lifted to about the level of its best token, up or down with the context (a forward
hook on the output embeddings, seen by both sides): hypotheses then finish at different steps.
"""

from __future__ import annotations

import functools

import pytest
import torch
from tiny_models import CONFIGS, DECODER_ONLY, EOS, prompts, tiny_model

from mmgen.api import generate, plan, stream
from mmgen.core.beam import beam_search, gumbel_noise, initial_beams, top_candidates
from mmgen.core.frames import BeamResult, BeamStep, FinishReason

NEW_TOKENS = 10
LENGTH_PENALTIES = (1.0, 0.0, 2.0, -1.0)
EARLY_STOPPING = (True, False, "never")


def lift(ids: tuple[int, ...]):
    """A forward hook: logit[id] := best logit + 0.12 * tanh(10 * (logit[7 + k] - logit[8 + k])) for
    the k-th id, so each id is about as likely as the best token, more or less so with the context."""

    def hook(module, inputs, logits):
        logits = logits.clone()
        best = logits.max(-1).values
        for k, token in enumerate(ids):
            logits[..., token] = best + 0.12 * torch.tanh(10 * (logits[..., 7 + k] - logits[..., 8 + k]))
        return logits

    return hook


@functools.cache
def model(name: str, lifted: tuple[int, ...] = (EOS,)) -> torch.nn.Module:
    m = tiny_model(name)
    if lifted:
        m.get_output_embeddings().register_forward_hook(lift(lifted))
    return m


def inputs(name: str, seed: int = 1) -> dict:
    ids, mask = prompts(3, seed, lengths=(7, 4, 6), left=name in DECODER_ONLY)
    return {"input_ids": ids, "attention_mask": mask}


def reference_and_ours(m: torch.nn.Module, **kwargs):
    ref = m.generate(**kwargs, return_dict_in_generate=True, output_scores=True)
    return ref, generate(m, **kwargs)


def assert_same(ref, ours) -> None:
    assert torch.equal(ours.sequences, ref.sequences), (ours.sequences, ref.sequences)
    torch.testing.assert_close(ours.sequence_scores, ref.sequences_scores)


def generated_lengths(sequences: torch.Tensor, prompt_length: int, eos_ids: tuple[int, ...]) -> torch.Tensor:
    """(rows,) tokens up to and including the first EOS, else the whole width."""
    new = sequences[:, prompt_length:]
    is_eos = torch.isin(new, torch.tensor(eos_ids))
    return torch.where(is_eos.any(-1), is_eos.int().argmax(-1) + 1, new.shape[1])


def assert_consistent(out, length_penalty: float, eos_ids: tuple[int, ...]) -> None:
    """Finish reasons, log-probs (0 on padding) and scores agree with the sequences."""
    lengths = generated_lengths(out.sequences, out.prompt_length, eos_ids)
    for row, (n, reason) in enumerate(zip(lengths.tolist(), out.finish_reasons)):
        ends_on_eos = int(out.sequences[row, out.prompt_length + n - 1]) in eos_ids
        assert reason == (FinishReason.EOS if ends_on_eos else FinishReason.LENGTH)
        assert reason == FinishReason.EOS or n == NEW_TOKENS
        assert torch.isfinite(out.logprobs[row, :n]).all() and (out.logprobs[row, n:] == 0).all()
        torch.testing.assert_close(out.logprobs[row, :n].sum() / n**length_penalty, out.sequence_scores[row],
                                   rtol=1e-5, atol=1e-4)


def _cases():
    """4 cases per architecture: every length penalty, early_stopping value, beam count
    (2, 4) and num_return_sequences (1, >1) at least once per architecture."""
    for a, name in enumerate(CONFIGS):
        for i, length_penalty in enumerate(LENGTH_PENALTIES):
            beams = (2, 4)[(i + a) % 2]
            returned = (1, beams - (beams > 2))[(i // 2 + a) % 2]
            eos = (EOS, 5) if i == 2 else (EOS,)  # two EOS ids: 3 * num_beams candidates
            lifted = () if i == 3 else eos  # () the raw model: most hypotheses run to max length
            yield pytest.param(name, beams, returned, EARLY_STOPPING[(i + a) % 3], length_penalty, eos, lifted,
                               id=f"{name}-b{beams}-r{returned}-es{EARLY_STOPPING[(i + a) % 3]}-lp{length_penalty}"
                                  f"-eos{len(eos)}-{'lift' if lifted else 'raw'}")


@pytest.mark.parametrize("name, beams, returned, early_stopping, length_penalty, eos, lifted", list(_cases()))
def test_parity_with_transformers(name, beams, returned, early_stopping, length_penalty, eos, lifted):
    m = model(name, lifted)
    ref, ours = reference_and_ours(m, **inputs(name), num_beams=beams, num_return_sequences=returned,
                                   early_stopping=early_stopping, length_penalty=length_penalty,
                                   eos_token_id=list(eos), max_new_tokens=NEW_TOKENS)
    assert_same(ref, ours)
    assert ours.sequences.shape[0] == 3 * returned
    assert_consistent(ours, length_penalty, eos)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_hypotheses_finish_at_different_steps(name):
    m = model(name)
    kwargs = dict(inputs(name), num_beams=4, num_return_sequences=4, max_new_tokens=NEW_TOKENS, length_penalty=0.5)
    ref, ours = reference_and_ours(m, **kwargs, early_stopping=False)
    assert_same(ref, ours)
    assert_consistent(ours, 0.5, (EOS,))
    lengths = generated_lengths(ours.sequences, ours.prompt_length, (EOS,))
    width = ours.sequences.shape[1] - ours.prompt_length
    # Hypotheses ended on EOS before max length, at different steps; the shorter ones are padded.
    assert width < NEW_TOKENS and (lengths < width).any() and len(set(lengths.tolist())) > 1
    # early_stopping=True ends the search once each input has num_beams finished hypotheses.
    ref, ours = reference_and_ours(m, **kwargs, early_stopping=True)
    assert_same(ref, ours)
    assert ours.sequences.shape[1] - ours.prompt_length < NEW_TOKENS
    # With a length penalty favouring long hypotheses, inputs fill their finished slots at
    # different steps; a full input takes no new hypothesis while the others go on.
    ref, ours = reference_and_ours(m, **{**kwargs, "length_penalty": 2.0}, early_stopping=True)
    assert_same(ref, ours)


@pytest.mark.parametrize("name, options", [
    ("gpt2", {"no_repeat_ngram_size": 2, "repetition_penalty": 1.3}),
    ("qwen2", {"sequence_bias": {(9,): 2.0}, "min_new_tokens": 3}),
    ("t5", {"bad_words_ids": [[5], [7, 8]], "min_length": 4, "renormalize_logits": True}),
    ("bart", {"exponential_decay_length_penalty": (3, 1.5), "suppress_tokens": [3, 4]}),
], ids=["gpt2-ngram-repetition", "qwen2-bias-min_new", "t5-bad_words-min_length-renorm", "bart-decay-suppress"])
def test_parity_with_processors(name, options):
    """Processors see the running beams (rows, cur_len) in flattened beam order, as in transformers."""
    ref, ours = reference_and_ours(model(name), **inputs(name), num_beams=3, num_return_sequences=2,
                                   max_new_tokens=NEW_TOKENS, **options)
    assert_same(ref, ours)


def test_stream_yields_a_beam_step_per_step_then_the_result(monkeypatch):
    m = model("llama")
    kwargs = dict(inputs("llama"), num_beams=3, num_return_sequences=2, max_new_tokens=NEW_TOKENS,
                  early_stopping="never")
    expected = generate(m, **kwargs).sequences

    def refuse(*args, **kwargs):
        raise AssertionError("mmgen must run its own loop")

    for method in ("generate", "_beam_search", "_get_top_k_continuations", "_update_finished_beams"):
        monkeypatch.setattr(type(m), method, refuse)
    events = list(stream(m, **kwargs))
    steps, result = events[:-1], events[-1]
    assert isinstance(result, BeamResult) and all(isinstance(e, BeamStep) for e in steps)
    assert [e.index for e in steps] == list(range(len(steps))) and len(steps) <= NEW_TOKENS
    for e in steps:
        assert e.tokens.shape == (3, e.index + 1)
    assert torch.equal(result.sequences, expected)


def _sample(name: str, seed: int, processors=()):
    """Beam sampling, driving `beam_search` directly with the given processors."""
    p = plan(model(name), **inputs(name), num_beams=3, num_return_sequences=3, do_sample=True, seed=seed,
             max_new_tokens=NEW_TOKENS)
    events = beam_search(p.step, p.buffer, list(processors), p.stopping, inputs=p.inputs, num_beams=3,
                         num_return_sequences=3, length_penalty=1.0, early_stopping=False, seeds=p.seeds,
                         pad_token_id=p.pad_token_id, prompt_length=p.prompt_length)
    with torch.inference_mode():
        return list(events)[-1], p.prompt_length


@pytest.mark.parametrize("name", ["gpt2", "t5"])
def test_beam_sampling_draws_only_allowed_tokens_and_is_seeded(name):
    seen = []

    def allow_multiples_of_three(tokens, scores):  # EOS (2) is allowed too
        allowed = (torch.arange(scores.shape[-1]) % 3 == 0) | (torch.arange(scores.shape[-1]) == EOS)
        scores = scores.masked_fill(~allowed, float("-inf"))
        seen.append(scores)
        return scores

    result, prompt_length = _sample(name, 7, [allow_multiples_of_three])
    lengths = generated_lengths(result.sequences, prompt_length, (EOS,))
    for row, n in enumerate(lengths.tolist()):
        new = result.sequences[row, prompt_length: prompt_length + n]
        assert ((new % 3 == 0) | (new == EOS)).all(), new
        assert torch.isfinite(result.token_logprobs[row, :n]).all()
    again, _ = _sample(name, 7, [allow_multiples_of_three])
    assert torch.equal(result.sequences, again.sequences)
    torch.testing.assert_close(result.sequence_scores, again.sequence_scores)
    others = [_sample(name, seed)[0].sequences for seed in (1, 2, 3)]
    assert any(not torch.equal(o, others[0]) for o in others[1:])


def test_beam_sampling_through_generate_is_seeded():
    kwargs = dict(inputs("llama"), num_beams=3, num_return_sequences=2, do_sample=True, top_k=4, seed=3,
                  max_new_tokens=NEW_TOKENS)
    first, second = generate(model("llama"), **kwargs), generate(model("llama"), **kwargs)
    assert torch.equal(first.sequences, second.sequences)
    lengths = generated_lengths(first.sequences, first.prompt_length, (EOS,))
    for row, n in enumerate(lengths.tolist()):
        assert torch.isfinite(first.logprobs[row, :n]).all()


def test_gumbel_top_k_samples_without_replacement_from_the_softmax():
    """Pure transform: 2 of 4 tokens drawn by `top_candidates` for 40000 seeds; the pair
    frequencies match sampling without replacement: P({i, j}) = p_i p_j / (1 - p_i) + p_j p_i / (1 - p_j)."""
    rows = 40_000
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    running, _ = initial_beams(torch.zeros(rows, 1, dtype=torch.long), rows, 1, 2, fill=0)
    log_probs = p.log().expand(rows, 4)
    noise = gumbel_noise(torch.arange(rows, dtype=torch.int64), 0, 4)
    candidates, _ = top_candidates(running, log_probs, 2, 1, 1, noise)
    first, second = candidates.tokens[:, 0, 1], candidates.tokens[:, 1, 1]
    assert (candidates.scores[:, 0] >= candidates.scores[:, 1]).all() and (first != second).all()
    for i in range(4):
        for j in range(i + 1, 4):
            expected = p[i] * p[j] / (1 - p[i]) + p[j] * p[i] / (1 - p[j])
            observed = (((first == i) & (second == j)) | ((first == j) & (second == i))).double().mean()
            assert abs(float(observed) - float(expected)) < 0.01, (i, j, observed, expected)


def test_repeat_state_expands_a_linear_attention_state_mixed_into_an_attention_layer():
    """Inkling's cache layers (linear attention + sliding window) inherit ``batch_repeat_interleave``
    from the attention part alone; expanding a prefilled cache for beams must repeat the
    convolution state too, as ``reorder_cache`` does."""
    from transformers.cache_utils import Cache, LinearAttentionAndSlidingWindowAttentionLayer

    from mmgen.core.state_rows import repeat_state

    layer = LinearAttentionAndSlidingWindowAttentionLayer(sliding_window=8)
    cache = Cache(layers=[layer])
    conv = torch.arange(2.0).view(2, 1, 1).expand(2, 3, 4).contiguous()
    layer.update_conv_state(conv)
    keys = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 1, 5, 4).contiguous()
    cache.update(keys, keys.clone(), 0)
    index = torch.arange(2).repeat_interleave(3)
    repeat_state(cache, index, 3)
    assert layer.conv_states[0][:, 0, 0].tolist() == [0, 0, 0, 1, 1, 1]
    assert layer.keys[:, 0, 0, 0].tolist() == [0, 0, 0, 1, 1, 1]
