"""Long-form Whisper (audio past 30 s) with `transcribe_long`, against transformers' sequential generate.

Parity: ``transcribe_long(model, features, attention_mask, ...)`` gives the sequences and the
segments (start, end, tokens) of ``model.generate(features, attention_mask=..., return_timestamps=True,
return_segments=True, ...)`` on a batch of 38-62 s of synthetic audio, for greedy windows, with
previous-text conditioning and a prompt, with silence skipping, and with temperature fallback.

Fallback passes sample, and torch's sampler cannot be matched; two ways around it:
- ``top_k=1``: a sampled pass keeps one token per step, so both libraries redo the window with the
  same tokens; which windows fell back in transformers is read from the kept pass' scores (one
  finite score per step: it was that pass), and must be the windows mmgen redid;
- real sampling: only the greedy part can be compared (the first window of rows that did not
  fall back there); the test checks that fallback happened.
"""

from __future__ import annotations

import functools

import pytest
import torch
from mmgen.tasks.speech_recognition.fallback import compression_ratio
from mmgen.tasks.speech_recognition.longform import LongFormResult, transcribe_long
from mmgen.tasks.speech_recognition.windows import split_segments
from test_whisper import PROMPT, short_features, tiny_whisper
from tiny_speech import EOT, RATE, TIMESTAMP_BEGIN, audio
from transformers import WhisperFeatureExtractor

from mmgen.core.options import OptionError

NEW_TOKENS = 24
SECONDS = ((45, 4), (62, 5), (40, 6))



@functools.cache
def long_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """(features (3, 80, 6200), attention_mask (3, 6200)) of 45 s, 62 s and 40 s, unpadded past the longest."""
    clips = [audio(seconds, seed) for seconds, seed in SECONDS]
    inputs = WhisperFeatureExtractor()(clips, sampling_rate=RATE, return_tensors="pt", truncation=False,
                                       padding="longest", return_attention_mask=True)
    return inputs.input_features, inputs.attention_mask


def both(**options) -> tuple[dict, LongFormResult]:
    model, (features, mask) = tiny_whisper(), long_inputs()
    expected = model.generate(features, attention_mask=mask, return_timestamps=True, return_segments=True,
                              max_new_tokens=NEW_TOKENS, **options)
    actual = transcribe_long(model, features, mask, max_new_tokens=NEW_TOKENS, **options)
    return expected, actual


def assert_same_segments(expected: list, actual: tuple, rows=None) -> None:
    for row in rows if rows is not None else range(len(expected)):
        theirs, ours = expected[row], actual[row]
        assert len(theirs) == len(ours), row
        for a, b in zip(theirs, ours):
            assert float(a["start"]) == b.start and float(a["end"]) == b.end
            assert torch.equal(a["tokens"], b.tokens)


@functools.cache
def greedy() -> tuple[dict, LongFormResult]:
    """Greedy windows; the thresholds are set only so the checks are computed (they never fire)."""
    return both(language="fr", temperature=0.0, logprob_threshold=float("-inf"), no_speech_threshold=1.0)


def test_greedy_windows_with_timestamps():
    expected, actual = greedy()
    assert torch.equal(actual.sequences, expected["sequences"])
    assert_same_segments(expected["segments"], actual.segments)
    # Non-trivial: every row has several windows and segments; rows differ.
    assert [len(w) for w in actual.windows] != [1, 1, 1]
    assert all(len(row) >= 3 for row in actual.segments)
    assert all(s.end >= s.start for row in actual.segments for s in row)
    assert len({tuple(r.tolist()) for r in actual.sequences}) == 3
    assert actual.fallbacks == 0


def test_conditioning_on_previous_text_and_a_prompt():
    expected, actual = both(language="fr", condition_on_prev_tokens=True, prompt_ids=PROMPT)
    assert torch.equal(actual.sequences, expected["sequences"])
    assert_same_segments(expected["segments"], actual.segments)
    assert all(len(row) >= 2 for row in actual.segments)


def test_beam_search_windows():
    expected, actual = both(language="fr", num_beams=2)
    assert torch.equal(actual.sequences, expected["sequences"])
    assert_same_segments(expected["segments"], actual.segments)


def _middle(values: list[float]) -> float:
    """A threshold between the two middle values, so some windows pass and some do not."""
    values = sorted(values)
    mid = len(values) // 2
    return (values[mid - 1] + values[mid]) / 2


def _sampled_pass(segment: dict) -> bool:
    """Whether transformers kept a top_k=1 sampled pass for this segment's window."""
    scores = segment["result"]["scores"][0]
    return int(torch.isfinite(scores).sum()) == 1


def test_fallback_with_top_k_one_redoes_the_same_windows():
    _, plain = greedy()
    threshold = _middle([w.avg_logprob for row in plain.windows for w in row])
    expected, actual = both(language="fr", temperature=(0.0, 0.2), top_k=1, logprob_threshold=threshold)
    assert torch.equal(actual.sequences, expected["sequences"])
    assert_same_segments(expected["segments"], actual.segments)
    redone = [[w.passes > 1 for w in row] for row in actual.windows]
    assert any(any(row) for row in redone) and not all(all(row) for row in redone), redone
    for row, segments in enumerate(expected["segments"]):
        for theirs, ours in zip(segments, actual.segments[row]):
            assert _sampled_pass(theirs) == redone[row][ours.window]
            assert ours.temperature == (0.2 if redone[row][ours.window] else 0.0)


def test_compression_ratio_fallback_matches():
    _, plain = greedy()
    threshold = _middle([w.compression_ratio for row in plain.windows for w in row])
    expected, actual = both(language="fr", temperature=(0.0, 0.2), top_k=1, compression_ratio_threshold=threshold)
    assert torch.equal(actual.sequences, expected["sequences"])
    assert actual.fallbacks > 0


def test_sampled_fallback_triggers_and_greedy_windows_match():
    _, plain = greedy()
    threshold = _middle([w.avg_logprob for row in plain.windows for w in row[:1]])
    options = {"language": "fr", "temperature": (0.0, 0.4, 0.8), "logprob_threshold": threshold}
    torch.manual_seed(0)
    expected, actual = both(**options)
    assert actual.fallbacks > 0
    assert any(s.temperature > 0 for row in actual.segments for s in row)
    kept_greedy = [row for row in range(3) if actual.windows[row][0].passes == 1]
    assert kept_greedy and len(kept_greedy) < 3
    for row in kept_greedy:  # the first window of a row that did not fall back: greedy in both
        first = [s for s in actual.segments[row] if s.window == 0]
        assert_same_segments([expected["segments"][row][: len(first)]], (tuple(first),))


def test_silent_windows_are_skipped():
    _, plain = greedy()
    windows = [w for row in plain.windows for w in row]
    logprob = _middle([w.avg_logprob for w in windows])
    no_speech = min(w.no_speech_prob for w in windows) / 2
    expected, actual = both(language="fr", temperature=0.0, logprob_threshold=logprob, no_speech_threshold=no_speech)
    assert torch.equal(actual.sequences, expected["sequences"])
    assert_same_segments(expected["segments"], actual.segments)
    skipped = [w for row in actual.windows for w in row if w.skipped]
    assert skipped and len(skipped) < sum(len(row) for row in actual.windows)


def test_short_audio_seeks_like_transformers():
    """Short-form with timestamps: transformers decodes again from the last timestamp, as long-form does."""
    model, features = tiny_whisper(), short_features()
    expected = model.generate(features, language="fr", return_timestamps=True, max_new_tokens=NEW_TOKENS)
    actual = transcribe_long(model, features, language="fr", return_timestamps=True, max_new_tokens=NEW_TOKENS)
    assert torch.equal(actual.sequences, expected)
    assert any(len(row) > 1 for row in actual.windows)


# -- pieces ----------------------------------------------------------------------------------------


def test_segments_split_at_timestamp_pairs():
    t = lambda i: TIMESTAMP_BEGIN + i
    tokens = torch.tensor([t(0), 5, 6, t(50), t(50), 7, t(90), t(100), 8])
    segments, advance = split_segments(tokens, TIMESTAMP_BEGIN, offset=10.0, frames=3000, time_precision=0.02,
                                       time_precision_features=0.01, stride=2)
    assert [(round(s, 6), round(e, 6)) for s, e, _ in segments] == [(10.0, 11.0), (11.0, 11.8)]
    assert [len(piece) for _, _, piece in segments] == [4, 4]  # the last keeps both timestamps of its pair
    assert advance == 180  # back to the last pair's first timestamp (<|1.80|>): the tail is decoded again
    ended, advance = split_segments(torch.tensor([t(0), 5, t(40), t(40), 6, t(70)]), TIMESTAMP_BEGIN, 0.0, 2500,
                                    0.02, 0.01, 2)
    assert [(round(s, 6), round(e, 6)) for s, e, _ in ended] == [(0.0, 0.8), (0.8, 1.4)]
    assert advance == 2500  # a single final timestamp: the speech ended, seek past the window


def test_compression_ratio_of_repeated_tokens_is_high():
    repeated = torch.tensor([7, 8] * 40 + [EOT])
    varied = torch.randperm(90)
    assert compression_ratio(repeated, 1613) > 3 > compression_ratio(varied, 1613)


def test_batch_of_long_audio_needs_the_attention_mask():
    features, _ = long_inputs()
    with pytest.raises(OptionError, match="attention_mask"):
        transcribe_long(tiny_whisper(), features, max_new_tokens=4)


def test_long_audio_without_timestamps_is_refused():
    features, mask = long_inputs()
    with pytest.raises(OptionError, match="return_timestamps"):
        transcribe_long(tiny_whisper(), features, mask, return_timestamps=False, max_new_tokens=4)
