"""Property-based tests of the logits processors (hypothesis): from finite scores, the pipeline that
`build_processors` makes for any accepted option set never gives a NaN or an all-masked row, at any step."""

from __future__ import annotations

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from transformers import GenerationConfig

from mmgen.core.options import OptionError, resolve_options
from mmgen.processors import ProcessorContext, build_processors

VOCAB = 32
EOS = 2
IDS = st.integers(0, VOCAB - 1)
# Token-id options are short lists in a vocabulary of 32, so together they never ban every token:
# an all-masked row must come from a processor, not from options that ban the whole vocabulary.
OPTIONS = {
    "repetition_penalty": st.sampled_from([0.01, 0.5, 1.0, 1.3, 100.0, 1e30]),
    "encoder_repetition_penalty": st.sampled_from([0.5, 1.0, 2.0]),
    "no_repeat_ngram_size": st.integers(0, 4),
    "encoder_no_repeat_ngram_size": st.integers(0, 3),
    "bad_words_ids": st.lists(st.lists(IDS, min_size=1, max_size=3), min_size=1, max_size=3),
    "sequence_bias": st.lists(st.tuples(st.lists(IDS, min_size=1, max_size=2).map(tuple),
                                        st.floats(-1e4, 1e4)), min_size=1, max_size=3),
    "min_length": st.integers(0, 12),
    "min_new_tokens": st.integers(0, 6),
    "forced_bos_token_id": IDS,
    "forced_eos_token_id": IDS,
    "remove_invalid_values": st.booleans(),
    "exponential_decay_length_penalty": st.tuples(st.integers(0, 6), st.sampled_from([0.5, 1.0, 1.01, 3.0, 1e10])),
    "suppress_tokens": st.lists(IDS, max_size=4),
    "begin_suppress_tokens": st.lists(IDS, max_size=4),
    "do_sample": st.booleans(),
    "temperature": st.sampled_from([1e-4, 0.1, 0.7, 1.0, 2.0, 1e4]),
    "top_k": st.sampled_from([None, 0, 1, 3, 10**6]),
    "top_p": st.sampled_from([1e-9, 0.1, 0.9, 1.0]),
    "min_p": st.sampled_from([None, 0.0, 0.05, 0.9, 1.0]),
    "typical_p": st.sampled_from([1e-9, 0.2, 0.95, 1.0]),
    "epsilon_cutoff": st.sampled_from([0.0, 3e-4, 0.5, 0.999]),
    "eta_cutoff": st.sampled_from([0.0, 3e-4, 0.5, 0.999]),
    "renormalize_logits": st.booleans(),
    "num_beams": st.sampled_from([1, 1, 2]),
}
SCORES = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def calls(draw):
    keys = draw(st.lists(st.sampled_from(sorted(OPTIONS)), unique=True, max_size=8))
    user = {key: draw(OPTIONS[key]) for key in keys}
    user["eos_token_id"] = EOS
    user["max_new_tokens"] = draw(st.integers(1, 8))
    if "suppress_tokens" in user:
        user["suppress_tokens"] = [t for t in user["suppress_tokens"] if t != EOS]  # keep one token allowed
    beams = user.get("num_beams", 1)
    rows = draw(st.integers(1, 3)) * beams
    prompt_length = draw(st.integers(1, 5))
    decoder_only = draw(st.booleans())
    generated = draw(st.integers(0, user["max_new_tokens"] - 1))  # the step at which the processors run
    tokens = torch.tensor(draw(st.lists(st.lists(IDS, min_size=prompt_length + generated,
                                                 max_size=prompt_length + generated), min_size=rows, max_size=rows)))
    scores = torch.tensor(draw(st.lists(st.lists(SCORES, min_size=VOCAB, max_size=VOCAB), min_size=rows,
                                        max_size=rows)), dtype=torch.float32)
    if beams > 1 and draw(st.booleans()):
        scores = torch.log_softmax(scores, dim=-1)  # beam search hands the processors log-probabilities
    encoder = None if decoder_only else torch.tensor(draw(st.lists(st.lists(IDS, min_size=4, max_size=4),
                                                                   min_size=rows, max_size=rows)))
    return user, tokens, scores, prompt_length, decoder_only, encoder


@settings(max_examples=300, deadline=None)
@given(calls())
def test_finite_scores_never_become_nan_or_all_masked(call):
    user, tokens, scores, prompt_length, decoder_only, encoder = call
    try:
        options = resolve_options(GenerationConfig(), user)
    except OptionError:
        assume(False)
    context = ProcessorContext(
        prompt_length=prompt_length,
        max_length=prompt_length + options.max_new_tokens,
        eos_token_ids=torch.tensor([EOS]),
        encoder_input_ids=encoder,
        prompt_padding=torch.zeros(tokens.shape[0], dtype=torch.long) if decoder_only else None,
        num_beams=options.num_beams,
        device=torch.device("cpu"),
    )
    try:
        processors = build_processors(options, context)
    except OptionError:
        assume(False)
    out = scores.clone()
    for processor in processors:
        out = processor(tokens, out)
        name = getattr(processor, "__name__", type(processor).__name__)
        assert not torch.isnan(out).any(), f"{name} made NaN from {user}"
        assert bool(torch.isfinite(out).any(dim=-1).all()), f"{name} masked a whole row with {user}"
    # What the selector reads next: a distribution without NaN.
    assert not torch.isnan(torch.softmax(out, dim=-1)).any(), f"softmax of the processed scores is NaN with {user}"
