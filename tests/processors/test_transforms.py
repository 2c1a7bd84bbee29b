"""Pure transforms on hand-made distributions: every processor, with the exact values expected."""

from __future__ import annotations

import math

import pytest
import torch

from mmgen.core.options import GenerationOptions, OptionError
from mmgen.processors import ProcessorContext, build_processors, constraints, penalties, warpers

INF = float("inf")


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def ids(rows):
    return torch.tensor(rows, dtype=torch.long)


def kept(scores: torch.Tensor) -> list[list[int]]:
    """Indices of the tokens left finite, per row."""
    return [torch.nonzero(torch.isfinite(row)).flatten().tolist() for row in scores]


NO_TOKENS = ids([[0]])


# --- warpers -------------------------------------------------------------------------------------

def test_temperature_divides():
    out = warpers.make_temperature(0.5)(NO_TOKENS, t([[1.0, -2.0, 0.0]]))
    assert out.tolist() == [[2.0, -4.0, 0.0]]


def test_top_k_keeps_the_k_best():
    out = warpers.make_top_k(2)(NO_TOKENS, t([[1, 3, 2, 0]]))
    assert out.tolist() == [[-INF, 3.0, 2.0, -INF]]


def test_top_k_keeps_ties_with_the_kth_and_min_tokens_to_keep():
    assert kept(warpers.make_top_k(2)(NO_TOKENS, t([[1, 3, 2, 2]]))) == [[1, 2, 3]]
    assert kept(warpers.make_top_k(1, min_tokens_to_keep=3)(NO_TOKENS, t([[1, 3, 2, 0]]))) == [[0, 1, 2]]
    assert kept(warpers.make_top_k(10)(NO_TOKENS, t([[1, 3, 2, 0]]))) == [[0, 1, 2, 3]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = t([[0.5, 0.05, 0.3, 0.15]])
    logits = probs.log()
    # Mass in order 0.5, 0.3, 0.15, 0.05: 0.5 < 0.7 so two tokens are needed; 0.8 >= 0.7.
    assert kept(warpers.make_top_p(0.7)(NO_TOKENS, logits)) == [[0, 2]]
    assert kept(warpers.make_top_p(0.4)(NO_TOKENS, logits)) == [[0]]
    assert kept(warpers.make_top_p(0.9)(NO_TOKENS, logits)) == [[0, 2, 3]]
    assert kept(warpers.make_top_p(0.4, min_tokens_to_keep=3)(NO_TOKENS, logits)) == [[0, 2, 3]]


def test_min_p_scales_with_the_best_probability():
    logits = t([[0.6, 0.25, 0.1, 0.05]]).log()
    # Threshold 0.3 * 0.6 = 0.18: only 0.6 and 0.25 stay.
    assert kept(warpers.make_min_p(0.3)(NO_TOKENS, logits)) == [[0, 1]]
    assert kept(warpers.make_min_p(1.0)(NO_TOKENS, logits)) == [[0]]
    assert kept(warpers.make_min_p(1.0, min_tokens_to_keep=2)(NO_TOKENS, logits)) == [[0, 1]]


def test_typical_keeps_tokens_near_the_entropy_and_can_drop_the_most_likely():
    probs = t([[0.4, 0.2, 0.2, 0.2]])
    entropy = -(probs * probs.log()).sum().item()
    # Surprisals: 0.916 (token 0), 1.609 (tokens 1-3); entropy 1.332, so tokens 1-3 are closer.
    assert abs(-math.log(0.2) - entropy) < abs(-math.log(0.4) - entropy)
    assert kept(warpers.make_typical(0.5)(NO_TOKENS, probs.log())) == [[1, 2, 3]]
    assert kept(warpers.make_typical(0.7)(NO_TOKENS, probs.log())) == [[0, 1, 2, 3]]


def test_epsilon_drops_low_probabilities_but_keeps_the_best():
    logits = t([[0.7, 0.25, 0.04, 0.01]]).log()
    assert kept(warpers.make_epsilon(0.05)(NO_TOKENS, logits)) == [[0, 1]]
    assert kept(warpers.make_epsilon(0.9)(NO_TOKENS, logits)) == [[0]]
    assert kept(warpers.make_epsilon(0.9, min_tokens_to_keep=3)(NO_TOKENS, logits)) == [[0, 1, 2]]


def test_eta_cutoff_depends_on_entropy():
    probs = t([[0.7, 0.25, 0.04, 0.01]])
    entropy = -(probs * probs.log()).sum().item()
    epsilon = 0.2
    eta = min(epsilon, math.sqrt(epsilon) * math.exp(-entropy))  # min(0.2, 0.447 * e^-0.771 = 0.207)
    expected = [i for i, p in enumerate(probs[0].tolist()) if p >= eta]
    assert kept(warpers.make_eta(epsilon)(NO_TOKENS, probs.log())) == [expected]
    # A flat distribution has high entropy, so the cutoff sqrt(eps) * e^-H drops below every token.
    flat = torch.zeros(1, 8)
    assert kept(warpers.make_eta(0.2)(NO_TOKENS, flat)) == [list(range(8))]


def test_keeps_argmax_marks():
    assert warpers.make_temperature(2.0).keeps_argmax and warpers.make_top_k(3).keeps_argmax
    assert not getattr(warpers.make_typical(0.5), "keeps_argmax", False)
    assert not getattr(warpers.make_top_p(0.5), "keeps_argmax", False)


# --- penalties -----------------------------------------------------------------------------------

def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_logits():
    tokens = ids([[0, 1, 1]])
    out = penalties.make_repetition_penalty(2.0)(tokens, t([[4.0, -3.0, 5.0]]))
    assert out.tolist() == [[2.0, -6.0, 5.0]]


def test_repetition_penalty_ignores_left_padding():
    tokens = ids([[0, 0, 2], [0, 1, 2]])  # row 0 has two pad tokens (id 0) on the left
    out = penalties.make_repetition_penalty(2.0, prompt_padding=ids([2, 0]))(tokens, t([[4.0, 4.0, 4.0]] * 2))
    assert out.tolist() == [[4.0, 4.0, 2.0], [2.0, 2.0, 2.0]]


def test_encoder_repetition_penalty_rewards_encoder_tokens():
    encoder = ids([[2, 2]])
    out = penalties.make_encoder_repetition_penalty(2.0, encoder_input_ids=encoder)(ids([[0]]), t([[4.0, 4.0, 4.0, -4.0]]))
    assert out.tolist() == [[4.0, 4.0, 8.0, -4.0]]
    # Decoder-only: the prompt is the encoder input.
    out = penalties.make_encoder_repetition_penalty(2.0, prompt_length=1)(ids([[3, 0]]), t([[4.0, 4.0, 4.0, -4.0]]))
    assert out.tolist() == [[4.0, 4.0, 4.0, -2.0]]


def test_no_repeat_ngram_bans_the_exact_token():
    tokens = ids([[5, 6, 7, 5]])  # the bigram (5, 6) occurred, the last token is 5: 6 is banned
    out = penalties.make_no_repeat_ngram(2)(tokens, torch.zeros(1, 9))
    assert kept(out) == [[0, 1, 2, 3, 4, 5, 7, 8]]
    # Trigrams: the last two (7, 5) never started a trigram, so nothing is banned.
    assert kept(penalties.make_no_repeat_ngram(3)(tokens, torch.zeros(1, 9))) == [list(range(9))]
    # Unigrams: every token seen is banned.
    assert kept(penalties.make_no_repeat_ngram(1)(tokens, torch.zeros(1, 9))) == [[0, 1, 2, 3, 4, 8]]


def test_no_repeat_ngram_waits_for_a_complete_ngram():
    assert kept(penalties.make_no_repeat_ngram(3)(ids([[5, 5]]), torch.zeros(1, 9))) == [list(range(9))]


def test_encoder_no_repeat_ngram_bans_completions_of_encoder_ngrams():
    encoder = ids([[3, 4, 3, 5]])
    make = penalties.make_encoder_no_repeat_ngram
    # The decoder ends with 3: encoder bigrams (3, 4) and (3, 5) ban 4 and 5.
    assert kept(make(2, encoder_input_ids=encoder)(ids([[0, 3]]), torch.zeros(1, 7))) == [[0, 1, 2, 3, 6]]
    assert kept(make(2, encoder_input_ids=encoder)(ids([[0, 4]]), torch.zeros(1, 7))) == [[0, 1, 2, 4, 5, 6]]
    # Unigrams: every encoder token, from the first step.
    assert kept(make(1, encoder_input_ids=encoder)(ids([[0]]), torch.zeros(1, 7))) == [[0, 1, 2, 6]]


def test_exponential_decay_raises_eos_after_start():
    eos = ids([1])
    penalty = penalties.make_exponential_decay_length_penalty(start=2, factor=2.0, eos_token_ids=eos, prompt_length=3)
    scores = t([[1.0, -3.0, 0.5]])
    assert penalty(ids([[0] * 5]), scores).tolist() == scores.tolist()  # length 5 = 3 + 2: not yet
    # Length 7 is 2 past the start: |-3| * (2**2 - 1) = 9 is added.
    assert penalty(ids([[0] * 7]), scores).tolist() == [[1.0, 6.0, 0.5]]


# --- constraints ---------------------------------------------------------------------------------

def test_min_length_masks_eos_below_the_length():
    eos = ids([1, 2])
    proc = constraints.make_min_length(4, eos)
    assert kept(proc(ids([[0, 0, 0]]), torch.zeros(1, 4))) == [[0, 3]]
    assert kept(proc(ids([[0, 0, 0, 0]]), torch.zeros(1, 4))) == [[0, 1, 2, 3]]


def test_min_new_tokens_masks_eos_until_the_count():
    proc = constraints.make_min_new_tokens(2, prompt_length=3, eos_token_ids=ids([1]))
    assert kept(proc(ids([[0] * 3]), torch.zeros(1, 3))) == [[0, 2]]
    assert kept(proc(ids([[0] * 4]), torch.zeros(1, 3))) == [[0, 2]]
    assert kept(proc(ids([[0] * 5]), torch.zeros(1, 3))) == [[0, 1, 2]]


def test_bad_words_single_token_always_and_multi_token_only_after_the_prefix():
    proc = constraints.make_bad_words([(4,), (1, 2, 3)], eos_token_ids=None)
    scores = torch.zeros(2, 5)
    out = proc(ids([[0, 1, 2], [1, 0, 2]]), scores)
    assert kept(out) == [[0, 1, 2], [0, 1, 2, 3]]


def test_bad_words_never_ban_a_lone_eos_and_prefix_longer_than_the_sequence():
    proc = constraints.make_bad_words([(2,), (1, 1, 3)], eos_token_ids=(2,))
    assert kept(proc(ids([[1]]), torch.zeros(1, 4))) == [[0, 1, 2, 3]]
    assert constraints.make_bad_words([(2,)], eos_token_ids=(2,)) is None


def test_sequence_bias_single_and_multi_token():
    proc = constraints.make_sequence_bias([((0,), 1.5), ((1, 2), -2.0), ((3, 1, 2), -1.0)])
    scores = torch.zeros(3, 4)
    out = proc(ids([[3, 1], [0, 1], [1, 0]]), scores)
    assert out.tolist() == [[1.5, 0.0, -3.0, 0.0], [1.5, 0.0, -2.0, 0.0], [1.5, 0.0, 0.0, 0.0]]


def test_sequence_bias_rejects_ids_past_the_vocab():
    proc = constraints.make_sequence_bias([((9,), 1.0)])
    with pytest.raises(OptionError, match="vocabulary"):
        proc(ids([[0]]), torch.zeros(1, 4))


def test_suppress_and_begin_suppress():
    assert kept(constraints.make_suppress_tokens([1, 3])(ids([[0]]), torch.zeros(1, 4))) == [[0, 2]]
    proc = constraints.make_begin_suppress_tokens([1], begin_index=2)
    assert kept(proc(ids([[0, 0]]), torch.zeros(1, 3))) == [[0, 2]]
    assert kept(proc(ids([[0, 0, 0]]), torch.zeros(1, 3))) == [[0, 1, 2]]


def test_forced_bos_and_eos():
    bos = constraints.make_forced_bos(2)
    assert bos(ids([[0]]), torch.ones(1, 3)).tolist() == [[-INF, -INF, 0.0]]
    assert bos(ids([[0, 1]]), torch.ones(1, 3)).tolist() == [[1.0, 1.0, 1.0]]
    eos = constraints.make_forced_eos(max_length=4, eos_token_ids=(0, 1))
    assert eos(ids([[0, 0, 0]]), torch.ones(1, 3)).tolist() == [[0.0, 0.0, -INF]]
    assert eos(ids([[0, 0]]), torch.ones(1, 3)).tolist() == [[1.0, 1.0, 1.0]]


def test_remove_invalid_values_and_renormalize():
    out = constraints.make_remove_invalid_values()(NO_TOKENS, t([[float("nan"), INF, -INF, 1.0]]))
    big = torch.finfo(torch.float32).max
    assert out.tolist() == [[0.0, big, -big, 1.0]]
    out = constraints.make_renormalize()(NO_TOKENS, t([[0.0, 0.0]]))
    torch.testing.assert_close(out, t([[math.log(0.5)] * 2]))


# --- the pipeline --------------------------------------------------------------------------------

def context(prompt_length=3, max_length=10, eos=(2,), num_beams=1, padding=(0,), encoder=None):
    return ProcessorContext(
        prompt_length=prompt_length, max_length=max_length,
        eos_token_ids=ids(list(eos)) if eos else None,
        encoder_input_ids=encoder, prompt_padding=ids(list(padding)) if padding is not None else None,
        num_beams=num_beams, device=torch.device("cpu"),
    )


def names(processors):
    return [p.__name__ for p in processors]


def test_no_options_no_processors():
    assert build_processors(GenerationOptions(), context()) == []


def test_pipeline_order_matches_transformers():
    def user(tokens, scores):
        return scores

    options = GenerationOptions(
        sequence_bias=(((5,), 1.0),), encoder_repetition_penalty=1.2, repetition_penalty=1.1, no_repeat_ngram_size=2,
        encoder_no_repeat_ngram_size=2, bad_words_ids=((7,),), min_length=5, min_new_tokens=1, forced_bos_token_id=1,
        forced_eos_token_id=2, remove_invalid_values=True, exponential_decay_length_penalty=(1, 1.1),
        suppress_tokens=(9,), begin_suppress_tokens=(8,), logits_processor=(user,), do_sample=True, temperature=0.7,
        top_k=5, top_p=0.9, min_p=0.1, typical_p=0.9, epsilon_cutoff=0.01, eta_cutoff=0.01, renormalize_logits=True,
    )
    assert names(build_processors(options, context())) == [
        "sequence_bias", "encoder_repetition_penalty", "repetition_penalty", "no_repeat_ngram", "encoder_no_repeat_ngram",
        "bad_words", "min_length", "min_new_tokens", "forced_bos", "forced_eos", "remove_invalid_values",
        "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "user", "temperature", "top_k",
        "top_p", "min_p", "typical", "epsilon_cutoff", "eta_cutoff", "renormalize",
    ]


def test_warpers_only_when_sampling_and_top_k_zero_disables():
    greedy = GenerationOptions(temperature=0.5, top_k=3, top_p=0.5)
    assert build_processors(greedy, context()) == []
    sampling = GenerationOptions(do_sample=True, top_k=0)
    assert build_processors(sampling, context()) == []


def test_encoder_processors_skip_without_encoder_ids(caplog):
    options = GenerationOptions(encoder_repetition_penalty=1.5, encoder_no_repeat_ngram_size=2)
    # Encoder-decoder without token ids (e.g. audio features): skipped, with a warning.
    assert build_processors(options, context(padding=None, encoder=None)) == []
    assert "encoder_repetition_penalty" in caplog.text and "encoder_no_repeat_ngram_size" in caplog.text
    # Decoder-only: the prompt stands in for the encoder input.
    assert names(build_processors(options, context())) == ["encoder_repetition_penalty", "encoder_no_repeat_ngram"]


def test_begin_suppress_index_moves_after_a_forced_bos():
    options = GenerationOptions(begin_suppress_tokens=(1,), forced_bos_token_id=3)
    suppress = build_processors(options, context(prompt_length=1, padding=None))[-1]
    assert kept(suppress(ids([[0]]), torch.zeros(1, 3))) == [[0, 1, 2]]
    assert kept(suppress(ids([[0, 3]]), torch.zeros(1, 3))) == [[0, 2]]


def test_beam_sampling_keeps_len_eos_plus_one_tokens():
    options = GenerationOptions(do_sample=True, top_k=1, num_beams=2)
    (top_k,) = build_processors(options, context(eos=(2, 3), num_beams=2))
    assert kept(top_k(NO_TOKENS, t([[4, 3, 2, 1, 0]]))) == [[0, 1, 2]]


def test_min_new_tokens_overrides_min_length_like_transformers():
    # min_length=50 is replaced by prompt (3) + min_new_tokens (1) = 4.
    options = GenerationOptions(min_length=50, min_new_tokens=1)
    min_length = build_processors(options, context())[0]
    assert kept(min_length(ids([[0] * 4]), torch.zeros(1, 3))) == [[0, 1, 2]]
