"""Whisper short-form (one 30 s window) through mmgen's decode core, against transformers.

Parity: ``mmgen.generate(model, input_features=..., ...)`` equals, token for token, the one
underlying pass of transformers' Whisper generate (``force_unique_generate_call=True``) on a tiny
random-weight Whisper and a batch of synthetic audio of unequal lengths, shaped as Whisper's
``generate`` returns it (`drop_in`): without the decoder prompt (kept in ``prompt_ids``) and
without the final EOS. (Without that flag transformers goes on decoding the window from its last
timestamp, which random weights seldom end on; `tests/demo` compares the default call on the
trained demo/asr.) The timestamp rules are also checked alone
against ``WhisperTimeStampLogitsProcessor`` on hand-made histories.

The tiny model keeps Whisper's token layout (text < eos < start/languages/tasks/... <
<|notimestamps|> < 1501 timestamps) with 100 text tokens. Its eos embedding is a scaled copy of
text token 8, so a row ends where it would have said 8: rows end at different steps.
"""

from __future__ import annotations

import functools

import pytest
import torch
from tiny_speech import (
    EOT,
    LANG_TO_ID,
    NO_SPEECH,
    NO_TIMESTAMPS,
    RATE,
    SOT,
    START_OF_PREV,
    TEXT,
    TIMESTAMP_BEGIN,
    TRANSCRIBE,
    audio,
    generation_config,
    seeded_whisper,
)
from transformers import WhisperFeatureExtractor
from transformers.generation.logits_process import WhisperTimeStampLogitsProcessor

import mmgen
from mmgen.core.options import OptionError
from mmgen.families import family_for, whisper_prompt
from mmgen.families.whisper import Whisper
from mmgen.families.whisper_timestamps import make_timestamp_rules

VOCAB = TIMESTAMP_BEGIN + 1501
tiny_whisper = functools.cache(seeded_whisper)  # a seeded tiny Whisper, built once per seed
PROMPT = torch.tensor([START_OF_PREV, 60, 61])


@functools.cache
def short_features() -> torch.Tensor:
    """(3, 80, 3000) features of 3 s, 7 s and 5 s of audio, each padded to 30 s."""
    clips = [audio(s, seed) for s, seed in ((3, 1), (7, 2), (5, 3))]
    return WhisperFeatureExtractor()(clips, sampling_rate=RATE, return_tensors="pt").input_features


def both(**options):
    """(transformers' one pass: decoder prompt, tokens, EOS, padding; mmgen's Generation)."""
    model, features = tiny_whisper(), short_features()
    expected = model.generate(features, force_unique_generate_call=True, **options)
    actual = mmgen.generate(model, input_features=features, **options)
    return expected, actual


def drop_in(one_pass: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """What Whisper's generate returns from one pass: each row's tokens after the prompt, up to its
    first EOS (excluded), right-padded with the pad id (EOT here) to the longest row."""
    rows = []
    for row in one_pass[:, prompt_length:].tolist():
        rows.append(row[: row.index(EOT)] if EOT in row else row)
    width = max(len(r) for r in rows)
    return torch.tensor([r + [EOT] * (width - len(r)) for r in rows])


def assert_same(expected: torch.Tensor, actual: mmgen.Generation) -> None:
    """mmgen's sequences are the drop-in shape of transformers' pass; its prompt is in prompt_ids."""
    prompt_length = actual.prompt_ids.shape[1]
    assert actual.prompt_length == 0
    assert torch.equal(actual.prompt_ids, expected[:, :prompt_length])
    assert torch.equal(actual.sequences, drop_in(expected, prompt_length))
    ended = [EOT in row for row in expected[:, prompt_length:].tolist()]
    assert [r is mmgen.FinishReason.EOS for r in actual.finish_reasons] == ended


def assert_nontrivial(actual: mmgen.Generation) -> None:
    """Random weights often give empty or identical rows; the parity cases are chosen to avoid that."""
    assert bool((actual.new_tokens[:, :3] != EOT).all()), "a row ended within its first three steps"
    assert len({tuple(row.tolist()) for row in actual.new_tokens}) > 1, "every row decoded the same"


# -- parity ----------------------------------------------------------------------------------------


def test_whisper_uses_its_own_family():
    assert type(family_for(tiny_whisper())) is Whisper


def test_language_and_task_greedy():
    expected, actual = both(language="en", task="transcribe", max_new_tokens=24)
    assert_same(expected, actual)
    assert actual.prompt_ids[0].tolist() == [SOT, LANG_TO_ID["<|en|>"], TRANSCRIBE, NO_TIMESTAMPS]
    assert_nontrivial(actual)


def test_language_per_row_by_code_name_and_token_with_translate():
    expected, actual = both(language=["en", "french", "<|de|>"], task="translate", max_new_tokens=16)
    assert_same(expected, actual)
    assert actual.prompt_ids[:, 1].tolist() == [LANG_TO_ID[f"<|{c}|>"] for c in ("en", "fr", "de")]
    assert_nontrivial(actual)


def test_timestamps_rows_end_at_different_steps():
    expected, actual = both(language="fr", return_timestamps=True, max_new_tokens=40)
    assert_same(expected, actual)
    generated = actual.new_tokens
    assert bool((generated[:, 0] >= TIMESTAMP_BEGIN).all())  # the first token is a timestamp
    assert bool((generated >= TIMESTAMP_BEGIN).any(dim=1).all())
    ended = [n for n, r in zip(actual.lengths.tolist(), actual.finish_reasons) if r is mmgen.FinishReason.EOS]
    assert len(set(ended)) >= 2, f"rows should end at different steps, got lengths {ended}"
    assert_nontrivial(actual)


def test_prompt_ids_precede_the_start_tokens():
    expected, actual = both(language="fr", prompt_ids=PROMPT, return_timestamps=True, max_new_tokens=30)
    assert_same(expected, actual)
    assert actual.prompt_ids.shape[1] == len(PROMPT) + 3  # start, language, transcribe
    assert actual.prompt_ids[0, : len(PROMPT)].tolist() == PROMPT.tolist()
    assert_nontrivial(actual)


def test_given_decoder_input_ids_are_kept_as_they_are():
    """No start token is put in front of a Whisper prompt (the generic encoder-decoder adapter would)."""
    ids = torch.tensor([[LANG_TO_ID["<|fr|>"], TRANSCRIBE, NO_TIMESTAMPS]]).expand(3, -1)
    expected, actual = both(decoder_input_ids=ids, max_new_tokens=12)
    assert_same(expected, actual)
    assert torch.equal(actual.prompt_ids, ids)


def test_language_detection():
    model = tiny_whisper()
    expected, actual = both(max_new_tokens=16)
    assert_same(expected, actual)
    detected = whisper_prompt.detect_language(model, whisper_prompt.encode(model, short_features()))
    assert torch.equal(detected, model.detect_language(short_features()))
    assert torch.equal(actual.prompt_ids[:, 1], detected)
    assert set(detected.tolist()) <= set(LANG_TO_ID.values())
    assert_nontrivial(actual)


def test_beam_search_with_timestamps():
    expected, actual = both(language="fr", return_timestamps=True, num_beams=3, max_new_tokens=20)
    assert_same(expected, actual)
    assert_nontrivial(actual)


def test_beam_search_returned_sequences_start_with_the_best():
    # transformers' Whisper repeats each input num_return_sequences times and returns the best
    # beam of each copy; mmgen returns the num_return_sequences best beams of each input.
    expected, actual = both(language="en", num_beams=3, num_return_sequences=2, max_new_tokens=16)
    best = drop_in(expected[0::2], actual.prompt_ids.shape[1])
    assert torch.equal(actual.sequences[0::2, : best.shape[1]], best)
    assert not torch.equal(actual.sequences[0::2], actual.sequences[1::2])


def test_streaming_equals_generate():
    model, features = tiny_whisper(), short_features()
    result = mmgen.generate(model, input_features=features, language="fr", return_timestamps=True, max_new_tokens=12)
    steps = list(mmgen.stream(model, input_features=features, language="fr", return_timestamps=True,
                              max_new_tokens=12))
    streamed = torch.stack([s.tokens for s in steps], dim=1)
    assert torch.equal(streamed[:, : result.sequences.shape[1]], result.sequences)


# -- the timestamp rules alone ---------------------------------------------------------------------


def test_timestamp_rules_equal_transformers_on_histories():
    """Random histories mixing text, eos-free timestamps and pairs; scores of both signs."""
    g = torch.Generator().manual_seed(0)
    begin_index = 3
    config = generation_config()
    reference = WhisperTimeStampLogitsProcessor(config, begin_index=begin_index)
    ours = make_timestamp_rules(NO_TIMESTAMPS, EOT, begin_index, config.max_initial_timestamp_index)
    for length in range(8):
        prompt = torch.full((64, begin_index), SOT)
        text = torch.randint(0, TEXT, (64, length), generator=g)
        stamps = TIMESTAMP_BEGIN + torch.randint(0, 30, (64, length), generator=g)
        tokens = torch.where(torch.rand(64, length, generator=g) < 0.5, stamps, text)
        tokens = torch.cat([prompt, tokens], dim=1)
        for scale in (0.1, 3.0):
            scores = torch.randn(64, VOCAB, generator=g) * scale
            scores[:, TIMESTAMP_BEGIN:] -= torch.rand(64, 1, generator=g) * 6  # timestamps win in some rows only
            assert torch.equal(ours(tokens, scores.clone()), reference(tokens, scores.clone())), (length, scale)


def test_first_token_is_an_early_timestamp():
    rules = make_timestamp_rules(NO_TIMESTAMPS, EOT, begin_index=2, max_initial_timestamp_index=5)
    scores = rules(torch.tensor([[SOT, LANG_TO_ID["<|en|>"]]]), torch.zeros(1, VOCAB))
    allowed = torch.isfinite(scores[0]).nonzero().squeeze(1)
    assert allowed.tolist() == list(range(TIMESTAMP_BEGIN, TIMESTAMP_BEGIN + 6))


# -- errors ----------------------------------------------------------------------------------------


def test_average_log_probs_and_no_speech_probabilities():
    """The figures long-form's checks read: the mean log-prob of each row's tokens with its EOS, and
    p(<|nospeech|>) after <|startoftranscript|> from the unprocessed logits."""
    model, features = tiny_whisper(), short_features()
    result = mmgen.generate(model, input_features=features, language="fr", max_new_tokens=24)
    steps = list(mmgen.stream(model, input_features=features, language="fr", max_new_tokens=24))
    logprobs = torch.stack([s.logprobs for s in steps], dim=1)  # the EOS step included
    with_eos = result.lengths + torch.tensor([r is mmgen.FinishReason.EOS for r in result.finish_reasons])
    for row, n in enumerate(with_eos.tolist()):
        torch.testing.assert_close(result.avg_logprobs[row], logprobs[row, :n].mean())
    prompt = result.prompt_ids
    logits = model(input_features=features, decoder_input_ids=prompt).logits[:, 0]  # predicted after the start token
    torch.testing.assert_close(result.no_speech_probs, logits.softmax(-1)[:, NO_SPEECH])


def test_encoder_outputs_are_reused():
    model, features = tiny_whisper(), short_features()
    encoded = whisper_prompt.encode(model, features)
    given = mmgen.generate(model, encoder_outputs=(encoded,), language="fr", max_new_tokens=12)
    plain = mmgen.generate(model, input_features=features, language="fr", max_new_tokens=12)
    assert torch.equal(given.sequences, plain.sequences)


def test_long_audio_points_to_transcribe_long():
    features = torch.zeros(1, 80, 4000)
    with pytest.raises(OptionError, match="transcribe_long"):
        mmgen.generate(tiny_whisper(), input_features=features, max_new_tokens=4)


def test_long_form_options_point_to_transcribe_long():
    with pytest.raises(OptionError, match="transcribe_long"):
        mmgen.generate(tiny_whisper(), input_features=short_features(), logprob_threshold=-1.0, max_new_tokens=4)


def test_unknown_language_names_the_fix():
    with pytest.raises(OptionError, match="language='klingon'"):
        mmgen.generate(tiny_whisper(), input_features=short_features(), language="klingon", max_new_tokens=4)


def test_prompt_past_the_decoder_context_is_refused():
    with pytest.raises(OptionError, match="max_target_positions"):
        mmgen.generate(tiny_whisper(), input_features=short_features(), language="en", max_new_tokens=446)


@pytest.mark.parametrize("options", [{"cache": "static"}, {"cache": "static", "num_beams": 3}])
def test_a_static_cache_gives_the_plain_tokens(options):
    model, features = tiny_whisper(), short_features()
    kwargs = dict(language="fr", return_timestamps=True, max_new_tokens=20)
    plain = mmgen.generate(model, input_features=features, **kwargs, num_beams=options.get("num_beams", 1))
    fast = mmgen.generate(model, input_features=features, **kwargs, **options)
    assert torch.equal(plain.sequences, fast.sequences)
