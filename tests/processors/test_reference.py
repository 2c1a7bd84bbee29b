"""mmgen's processors against transformers' classes on seeded random scores (the reference).

Rows stand for batches and beams; tokens are drawn from a few ids so they repeat; some scores
are -inf already. Outputs must agree, and their -inf (and nan) masks exactly.
"""

from __future__ import annotations

import pytest
import torch
from transformers.generation import logits_process as hf

from mmgen.core.options import GenerationOptions
from mmgen.processors import ProcessorContext, build_processors, constraints, penalties, warpers

VOCAB = 40
ROWS = 6


def case(seed: int, length: int = 9, rows: int = ROWS, token_range: int = 8, neg_inf: bool = True):
    """(tokens (rows, length) with repeats, scores (rows, VOCAB) with a few -inf)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, token_range, (rows, length), generator=g)
    scores = torch.randn(rows, VOCAB, generator=g) * 3
    if neg_inf:
        scores[0, 3] = -float("inf")
        scores[1, :5] = -float("inf")
    return tokens, scores


def assert_same(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert torch.equal(torch.isneginf(ours), torch.isneginf(ref)), "different -inf masks"
    assert torch.equal(torch.isnan(ours), torch.isnan(ref)), "different nan masks"
    torch.testing.assert_close(ours, ref, equal_nan=True)


def compare(ours, ref, seeds=range(4), lengths=(1, 2, 3, 5, 9), **case_kwargs):
    for seed in seeds:
        for length in lengths:
            tokens, scores = case(seed, length=length, **case_kwargs)
            assert_same(ours(tokens, scores.clone()), ref(tokens, scores.clone()))


# --- penalties -----------------------------------------------------------------------------------

@pytest.mark.parametrize("penalty", [0.5, 1.3, 2.0])
def test_repetition_penalty(penalty):
    compare(penalties.make_repetition_penalty(penalty), hf.RepetitionPenaltyLogitsProcessor(penalty))


@pytest.mark.parametrize("penalty", [0.5, 1.7])
def test_repetition_penalty_ignoring_left_padding(penalty):
    padding = torch.tensor([0, 1, 3, 0, 2, 5])
    compare(penalties.make_repetition_penalty(penalty, prompt_padding=padding),
            hf.RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=padding), lengths=(5, 9))


@pytest.mark.parametrize("penalty", [0.7, 1.5])
@pytest.mark.parametrize("beams", [1, 3])
def test_encoder_repetition_penalty(penalty, beams):
    g = torch.Generator().manual_seed(3)
    encoder = torch.randint(0, 12, (ROWS // beams, 7), generator=g)
    # Given per input (transformers' layout) or already expanded to rows (mmgen's context).
    for given in (encoder, encoder.repeat_interleave(beams, dim=0)):
        compare(penalties.make_encoder_repetition_penalty(penalty, encoder_input_ids=given),
                hf.EncoderRepetitionPenaltyLogitsProcessor(penalty, encoder_input_ids=encoder))


def test_encoder_repetition_penalty_from_the_prompt():
    tokens, scores = case(0, length=9)
    ours = penalties.make_encoder_repetition_penalty(1.6, prompt_length=5)
    ref = hf.EncoderRepetitionPenaltyLogitsProcessor(1.6, encoder_input_ids=tokens[:, :5])
    assert_same(ours(tokens, scores), ref(tokens, scores))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_no_repeat_ngram(n):
    compare(penalties.make_no_repeat_ngram(n), hf.NoRepeatNGramLogitsProcessor(n),
            lengths=(1, 2, 3, 4, 6, 12), token_range=4)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("beams", [1, 2])
def test_encoder_no_repeat_ngram(n, beams):
    g = torch.Generator().manual_seed(5)
    encoder = torch.randint(0, 5, (ROWS // beams, 8), generator=g)
    for given in (encoder, encoder.repeat_interleave(beams, dim=0)):
        compare(penalties.make_encoder_no_repeat_ngram(n, encoder_input_ids=given),
                hf.EncoderNoRepeatNGramLogitsProcessor(n, encoder), lengths=(1, 2, 3, 4, 7), token_range=5)


def test_encoder_no_repeat_ngram_shorter_encoder_than_n():
    encoder = torch.randint(0, 5, (ROWS, 2))
    compare(penalties.make_encoder_no_repeat_ngram(3, encoder_input_ids=encoder),
            hf.EncoderNoRepeatNGramLogitsProcessor(3, encoder))


@pytest.mark.parametrize("eos", [[4], [4, 7, 2]])
@pytest.mark.parametrize("start,factor", [(0, 1.5), (2, 1.01), (3, 0.8)])
def test_exponential_decay_length_penalty(eos, start, factor):
    eos_t = torch.tensor(eos)
    compare(penalties.make_exponential_decay_length_penalty(start, factor, eos_t, prompt_length=2),
            hf.ExponentialDecayLengthPenalty((start, factor), eos_t, 2), lengths=(1, 2, 3, 4, 5, 6, 9))


# --- constraints ---------------------------------------------------------------------------------

@pytest.mark.parametrize("min_length", [1, 3, 6])
@pytest.mark.parametrize("eos", [[4], [4, 0]])
def test_min_length(min_length, eos):
    compare(constraints.make_min_length(min_length, torch.tensor(eos)),
            hf.MinLengthLogitsProcessor(min_length, eos), lengths=range(1, 8))


@pytest.mark.parametrize("min_new", [1, 3])
@pytest.mark.parametrize("eos", [[4], [4, 0]])
def test_min_new_tokens(min_new, eos):
    compare(constraints.make_min_new_tokens(min_new, 2, torch.tensor(eos)),
            hf.MinNewTokensLengthLogitsProcessor(2, min_new, eos), lengths=range(1, 8))


BAD_WORDS = [
    [[3]],
    [[1, 2]],
    [[3], [0, 1], [2, 2, 2], [1, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6]],  # the last is longer than any sequence here
    [[0, 1, 2], [1, 2], [2], [4, 2]],  # several sequences ending on the same token
]


@pytest.mark.parametrize("bad_words", BAD_WORDS)
@pytest.mark.parametrize("eos", [None, [3], [2, 7]])
def test_bad_words(bad_words, eos):
    ours = constraints.make_bad_words([tuple(w) for w in bad_words], eos)
    ref = hf.NoBadWordsLogitsProcessor(bad_words, eos)
    if ours is None:  # only an EOS was banned: transformers' processor is then a no-op
        compare(lambda tokens, scores: scores, ref)
        return
    compare(ours, ref, token_range=4, lengths=(1, 2, 3, 6))


SEQUENCE_BIASES = [
    [[[3], 2.5]],
    [[[1, 2], -4.0]],
    [[[3], 1.0], [[0, 3], -2.0], [[1, 2, 3], 0.5], [[2, 2, 2, 0], 3.0], [[5], -10.0]],
    [[[0, 1], 1.5], [[2, 1], -0.5], [[1], 0.25], [[3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1], 7.0]],
]


@pytest.mark.parametrize("bias", SEQUENCE_BIASES)
def test_sequence_bias(bias):
    ours = constraints.make_sequence_bias([(tuple(ids), b) for ids, b in bias])
    compare(ours, hf.SequenceBiasLogitsProcessor(bias), token_range=4, lengths=(1, 2, 3, 6))


@pytest.mark.parametrize("suppress", [[0], [3, 5, 39], [1, 1, 2]])
def test_suppress_tokens(suppress):
    compare(constraints.make_suppress_tokens(suppress), hf.SuppressTokensLogitsProcessor(suppress))


@pytest.mark.parametrize("begin", [1, 3])
def test_begin_suppress_tokens(begin):
    compare(constraints.make_begin_suppress_tokens([2, 6], begin),
            hf.SuppressTokensAtBeginLogitsProcessor([2, 6], begin), lengths=(1, 2, 3, 4))


def test_forced_bos():
    compare(constraints.make_forced_bos(7), hf.ForcedBOSTokenLogitsProcessor(7), lengths=(1, 2, 3))


@pytest.mark.parametrize("eos", [[4], [4, 9]])
def test_forced_eos(eos):
    compare(constraints.make_forced_eos(6, eos), hf.ForcedEOSTokenLogitsProcessor(6, eos), lengths=(1, 4, 5, 6))


def test_remove_invalid_values():
    tokens, scores = case(0)
    scores[2, 4] = float("nan")
    scores[3, 0] = float("inf")
    scores[4, :] = float("nan")
    assert_same(constraints.make_remove_invalid_values()(tokens, scores), hf.InfNanRemoveLogitsProcessor()(tokens, scores))


def test_renormalize():
    compare(constraints.make_renormalize(), hf.LogitNormalization())


# --- warpers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.5, 1.7])
def test_temperature(temperature):
    compare(warpers.make_temperature(temperature), hf.TemperatureLogitsWarper(temperature))


@pytest.mark.parametrize("k", [1, 3, 50])
@pytest.mark.parametrize("keep", [1, 3])
def test_top_k(k, keep):
    compare(warpers.make_top_k(k, keep), hf.TopKLogitsWarper(k, min_tokens_to_keep=keep))


def test_top_k_with_ties():
    tokens, scores = case(1)
    scores = scores.round()  # many ties
    assert_same(warpers.make_top_k(4)(tokens, scores), hf.TopKLogitsWarper(4)(tokens, scores))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("keep", [1, 3])
def test_top_p(p, keep):
    compare(warpers.make_top_p(p, keep), hf.TopPLogitsWarper(p, min_tokens_to_keep=keep))


@pytest.mark.parametrize("min_p", [0.0, 0.05, 0.3, 1.0])
@pytest.mark.parametrize("keep", [1, 3])
def test_min_p(min_p, keep):
    compare(warpers.make_min_p(min_p, keep), hf.MinPLogitsWarper(min_p, min_tokens_to_keep=keep))


@pytest.mark.parametrize("mass", [0.2, 0.6, 0.95])
@pytest.mark.parametrize("keep", [1, 3])
def test_typical(mass, keep):
    compare(warpers.make_typical(mass, keep), hf.TypicalLogitsWarper(mass, min_tokens_to_keep=keep))


@pytest.mark.parametrize("epsilon", [1e-4, 0.02, 0.3])
@pytest.mark.parametrize("keep", [1, 3])
def test_epsilon(epsilon, keep):
    compare(warpers.make_epsilon(epsilon, keep), hf.EpsilonLogitsWarper(epsilon, min_tokens_to_keep=keep))


@pytest.mark.parametrize("epsilon", [1e-4, 0.02, 0.3])
@pytest.mark.parametrize("keep", [1, 3])
def test_eta(epsilon, keep):
    compare(warpers.make_eta(epsilon, keep), hf.EtaLogitsWarper(epsilon, min_tokens_to_keep=keep))


def test_warpers_on_peaked_and_flat_rows():
    tokens, scores = case(2)
    scores[2] = 0.0  # flat
    scores[3, 7] = 40.0  # one token holds all the mass
    for ours, ref in [
        (warpers.make_top_p(0.8), hf.TopPLogitsWarper(0.8)),
        (warpers.make_typical(0.8), hf.TypicalLogitsWarper(0.8)),
        (warpers.make_eta(0.01), hf.EtaLogitsWarper(0.01)),
        (warpers.make_epsilon(0.01), hf.EpsilonLogitsWarper(0.01)),
        (warpers.make_min_p(0.1), hf.MinPLogitsWarper(0.1)),
    ]:
        assert_same(ours(tokens, scores.clone()), ref(tokens, scores.clone()))


# --- whole pipelines: build_processors against a hand-built LogitsProcessorList ------------------

def _context(prompt_length, max_length, eos, num_beams=1, padding=None, encoder=None):
    return ProcessorContext(prompt_length=prompt_length, max_length=max_length, eos_token_ids=torch.tensor(eos),
                            encoder_input_ids=encoder, prompt_padding=padding, num_beams=num_beams,
                            device=torch.device("cpu"))


class BanLastToken:
    """A user processor: the token just generated cannot follow itself."""

    def __call__(self, input_ids, scores):
        return scores.scatter(1, input_ids[:, -1:], -1e4)


def run_steps(ours, ref, tokens, steps=5, seed=0, compare_probabilities=False):
    """Apply both pipelines over several steps, growing ``tokens`` with random next tokens."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        scores = torch.randn(tokens.shape[0], VOCAB, generator=g) * 3
        a, b = scores.clone(), scores.clone()
        for p in ours:
            a = p(tokens, a)
        b = ref(tokens, b)
        if compare_probabilities:
            assert torch.equal(a.softmax(-1) == 0, b.softmax(-1) == 0)
            torch.testing.assert_close(a.softmax(-1), b.softmax(-1))
        else:
            assert_same(a, b)
        tokens = torch.cat([tokens, torch.randint(0, 6, (tokens.shape[0], 1), generator=g)], dim=1)


class InFloat64:
    """A transformers processor run in float64, its result capped at sqrt(float32 max) as mmgen caps it.

    Here the EOS scores masked by min_length become -3.4e38 (InfNanRemove), and the exponential decay
    raises them by |score| * (1.3 ** n - 1): past float32 from n = 3, where transformers' float32
    sum is +inf and its log-softmax NaN. mmgen raises them as exact arithmetic does, stopping at
    sqrt(float32 max) (`penalties.make_exponential_decay_length_penalty`): EOS certain, no NaN.
    """

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, tokens, scores):
        raised = self.processor(tokens, scores.double())
        return torch.minimum(raised, torch.maximum(scores.double(), torch.tensor(torch.finfo(scores.dtype).max ** 0.5)))\
            .to(scores.dtype)


def test_every_logits_processor_in_transformers_order():
    tokens = torch.randint(0, 6, (ROWS, 4), generator=torch.Generator().manual_seed(0))
    padding = torch.tensor([0, 1, 0, 2, 0, 3])
    user = BanLastToken()
    eos = [2, 5]
    options = GenerationOptions(
        sequence_bias=(((1,), 0.7), ((3, 4), -1.5)), encoder_repetition_penalty=1.4, repetition_penalty=1.2,
        no_repeat_ngram_size=3, encoder_no_repeat_ngram_size=2, bad_words_ids=((7,), (1, 0), (2,)), min_length=6,
        min_new_tokens=None, forced_eos_token_id=(9, 2), remove_invalid_values=True,
        exponential_decay_length_penalty=(1, 1.3), suppress_tokens=(8,), begin_suppress_tokens=(3,),
        logits_processor=(user,), eos_token_id=tuple(eos), renormalize_logits=True,
    )
    ours = build_processors(options, _context(4, 9, eos, padding=padding))
    ref = hf.LogitsProcessorList([
        hf.SequenceBiasLogitsProcessor([[[1], 0.7], [[3, 4], -1.5]]),
        hf.EncoderRepetitionPenaltyLogitsProcessor(1.4, tokens),
        hf.RepetitionPenaltyLogitsProcessor(1.2, prompt_ignore_length=padding),
        hf.NoRepeatNGramLogitsProcessor(3),
        hf.EncoderNoRepeatNGramLogitsProcessor(2, tokens),
        hf.NoBadWordsLogitsProcessor([[7], [1, 0], [2]], eos),
        hf.MinLengthLogitsProcessor(6, eos),
        hf.ForcedEOSTokenLogitsProcessor(9, [9, 2]),
        hf.InfNanRemoveLogitsProcessor(),
        InFloat64(hf.ExponentialDecayLengthPenalty((1, 1.3), torch.tensor(eos), 4)),
        hf.SuppressTokensLogitsProcessor([8]),
        hf.SuppressTokensAtBeginLogitsProcessor([3], 4),
        user,
        hf.LogitNormalization(),
    ])
    assert len(ours) == len(ref)
    run_steps(ours, ref, tokens)


def test_encoder_decoder_pipeline_with_forced_bos_and_min_new_tokens():
    encoder = torch.randint(0, 6, (ROWS, 5), generator=torch.Generator().manual_seed(1))
    start = torch.zeros(ROWS, 1, dtype=torch.long)
    eos = [2]
    options = GenerationOptions(encoder_repetition_penalty=0.6, encoder_no_repeat_ngram_size=1, min_new_tokens=3,
                                min_length=1, forced_bos_token_id=4, begin_suppress_tokens=(5, 1), eos_token_id=(2,))
    ours = build_processors(options, _context(1, 8, eos, encoder=encoder))
    ref = hf.LogitsProcessorList([
        hf.EncoderRepetitionPenaltyLogitsProcessor(0.6, encoder),
        hf.EncoderNoRepeatNGramLogitsProcessor(1, encoder),
        hf.MinLengthLogitsProcessor(4, eos),  # transformers: min_length = min_new_tokens + prompt length
        hf.MinNewTokensLengthLogitsProcessor(1, 3, eos),
        hf.ForcedBOSTokenLogitsProcessor(4),
        hf.SuppressTokensAtBeginLogitsProcessor([5, 1], 2),  # one later: the forced BOS fills position 1
    ])
    assert len(ours) == len(ref)
    run_steps(ours, ref, start, steps=6)


# --- sampling: each warper combination gives transformers' distribution at every step -----------

WARPER_COMBINATIONS = [
    ("temperature", dict(temperature=0.6, top_k=0), [hf.TemperatureLogitsWarper(0.6)]),
    ("default top_k", dict(), [hf.TopKLogitsWarper(50)]),
    ("top_k", dict(top_k=5), [hf.TopKLogitsWarper(5)]),
    ("top_p", dict(top_k=0, top_p=0.8), [hf.TopPLogitsWarper(0.8)]),
    ("min_p", dict(top_k=0, min_p=0.1), [hf.MinPLogitsWarper(0.1)]),
    ("typical", dict(top_k=0, typical_p=0.7), [hf.TypicalLogitsWarper(0.7)]),
    ("epsilon", dict(top_k=0, epsilon_cutoff=0.02), [hf.EpsilonLogitsWarper(0.02)]),
    ("eta", dict(top_k=0, eta_cutoff=0.02), [hf.EtaLogitsWarper(0.02)]),
    ("combined", dict(temperature=1.3, top_k=20, top_p=0.95, min_p=0.02, typical_p=0.98, epsilon_cutoff=1e-3,
                      eta_cutoff=1e-3),
     [hf.TemperatureLogitsWarper(1.3), hf.TopKLogitsWarper(20), hf.TopPLogitsWarper(0.95), hf.MinPLogitsWarper(0.02),
      hf.TypicalLogitsWarper(0.98), hf.EpsilonLogitsWarper(1e-3), hf.EtaLogitsWarper(1e-3)]),
    ("with processors", dict(temperature=0.8, top_p=0.9, repetition_penalty=1.3, no_repeat_ngram_size=2),
     [hf.RepetitionPenaltyLogitsProcessor(1.3), hf.NoRepeatNGramLogitsProcessor(2), hf.TemperatureLogitsWarper(0.8),
      hf.TopKLogitsWarper(50), hf.TopPLogitsWarper(0.9)]),
]


@pytest.mark.parametrize("name,options,reference", WARPER_COMBINATIONS, ids=[c[0] for c in WARPER_COMBINATIONS])
def test_sampling_distribution_matches_transformers(name, options, reference):
    ours = build_processors(GenerationOptions(do_sample=True, **options), _context(3, 20, [2]))
    tokens = torch.randint(0, 6, (ROWS, 3), generator=torch.Generator().manual_seed(2))
    run_steps(ours, hf.LogitsProcessorList(reference), tokens, steps=6, compare_probabilities=True)


def test_beam_sampling_keeps_len_eos_plus_one():
    eos = [2, 3]
    options = GenerationOptions(do_sample=True, top_k=1, top_p=0.01, min_p=0.9, typical_p=0.01, epsilon_cutoff=0.9,
                                eta_cutoff=0.9, num_beams=2, eos_token_id=(2, 3))
    keep = len(eos) + 1
    reference = hf.LogitsProcessorList([
        hf.TopKLogitsWarper(1, min_tokens_to_keep=keep), hf.TopPLogitsWarper(0.01, min_tokens_to_keep=keep),
        hf.MinPLogitsWarper(0.9, min_tokens_to_keep=keep), hf.TypicalLogitsWarper(0.01, min_tokens_to_keep=keep),
        hf.EpsilonLogitsWarper(0.9, min_tokens_to_keep=keep), hf.EtaLogitsWarper(0.9, min_tokens_to_keep=keep),
    ])
    ours = build_processors(options, _context(3, 20, eos, num_beams=2))
    tokens = torch.randint(0, 6, (ROWS, 3), generator=torch.Generator().manual_seed(3))
    run_steps(ours, reference, tokens, steps=3)
