"""``mmgen.tasks.speech_recognition`` and ``word_timestamps``: long audio -> timed segments and words.

Pure transforms (DTW, median filter, window merging, word splitting) on hand-made inputs and
against naive versions; then the task end to end on tiny random-weight models: a Whisper with
Whisper's token layout and a byte-level tokenizer (100 text tokens: letters, " "+letters,
punctuation, " "+words), and a Speech2Text; audio is gated tones and noise, 8 s and 45 s.
Random weights say nothing sensible, so the checks are the task's promises: types, times
ordered and inside the audio, long audio decoded to its end, words monotonic inside their
segment, the text equal to what the tokens decode to.
"""

from __future__ import annotations

import functools
import types

import numpy as np
import pytest
import torch
import transformers as T
from mmgen.tasks.speech_recognition import Segment, Transcript, join_texts, transcribe, transcribe_many
from mmgen.tasks.speech_recognition import windowed as sr
from mmgen.tasks.speech_recognition import word_timestamps as wt
from mmgen.tasks.speech_recognition.longform import transcribe_long
from tiny_speech import (
    EOT,
    LANG_TO_ID,
    LANGUAGES,
    NO_TIMESTAMPS,
    RATE,
    SOT,
    START_OF_LM,
    START_OF_PREV,
    TIMESTAMP_BEGIN,
    TRANSCRIBE,
    TRANSLATE,
    audio,
    speech2text,
    whisper,
    whisper_model,
    whisper_tokenizer,
)

from mmgen.api import generate as mmgen_generate
from mmgen.core.options import OptionError
from mmgen.generator import Generator
from mmgen.inputs.errors import InputError


def assert_timed(transcript: Transcript) -> None:
    """Segments ordered, inside the audio, text joined; words monotonic inside their segment."""
    assert transcript.segments, "no segment"
    assert transcript.text == join_texts([s.text for s in transcript.segments])
    previous = 0.0
    for segment in transcript.segments:
        assert isinstance(segment, Segment) and segment.text.strip()
        assert previous <= segment.start <= segment.end <= transcript.duration
        previous = segment.start
        if segment.words is not None:
            assert "".join(w.word for w in segment.words).strip() == segment.text  # words keep their spaces
            last = segment.start
            for word in segment.words:
                assert last <= word.start <= word.end <= segment.end, (word, segment)
                assert 0.0 <= word.probability <= 1.0
                last = word.end


@functools.cache
def long_whisper(word_timestamps: bool = True) -> Transcript:
    return transcribe(whisper(), audio(45, 1), sampling_rate=RATE, language="fr", word_timestamps=word_timestamps)


# -- pure transforms -------------------------------------------------------------------------------


def naive_dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """openai/whisper ``dtw_cpu`` + ``backtrace``, cell by cell."""
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf)
    trace = -np.ones((n + 1, m + 1))
    cost[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = x[i - 1, j - 1] + c
            trace[i, j] = t
    trace[0, :], trace[:, 0] = 2, 1
    i, j, path = n, m, []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        i, j = (i - 1, j - 1) if trace[i, j] == 0 else (i - 1, j) if trace[i, j] == 1 else (i, j - 1)
    return np.array(path[::-1]).T


@pytest.mark.parametrize("shape,integers", [((5, 40), False), ((12, 9), False), ((7, 30), True), ((1, 6), True)])
def test_dtw_equals_the_cell_by_cell_reference(shape, integers):
    rng = np.random.RandomState(sum(shape))
    x = rng.randint(0, 3, shape).astype(float) if integers else rng.randn(*shape)  # integers: many ties
    rows, columns = wt.dtw(x)
    expected = naive_dtw(x)
    assert np.array_equal(rows, expected[0]) and np.array_equal(columns, expected[1])
    assert rows[0] == columns[0] == 0 and rows[-1] == shape[0] - 1 and columns[-1] == shape[1] - 1
    assert (np.diff(rows) >= 0).all() and (np.diff(columns) >= 0).all()


def test_dtw_follows_a_diagonal_of_low_cost():
    cost = np.ones((4, 8))
    for i in range(4):
        cost[i, 2 * i:2 * i + 2] = -5
    starts = wt.token_start_times(-torch.tensor(cost))  # the task negates attention; undo it here
    assert starts.tolist() == [0.0, 2 / 50, 4 / 50, 6 / 50]


def test_median_filter_equals_numpy_on_reflected_windows():
    x = torch.randn(2, 3, 20, generator=torch.Generator().manual_seed(0))
    out = wt.median_filter(x, 7)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (3, 3)), mode="reflect")
    expected = np.median(np.lib.stride_tricks.sliding_window_view(padded, 7, axis=-1), axis=-1)
    assert out.shape == x.shape and np.allclose(out.numpy(), expected)
    assert torch.equal(wt.median_filter(x[..., :3], 7), x[..., :3])  # too short to pad: unchanged
    with pytest.raises(ValueError, match="odd"):
        wt.median_filter(x, 4)


def test_words_split_on_spaces_and_punctuation_merges():
    tokenizer = whisper_tokenizer()
    ids = tokenizer.convert_tokens_to_ids(["Ġhello", "Ġw", "o", "r", "l", "d", ".", "Ġthe", "Ġcat", "!"])
    words, groups = wt.split_words(tokenizer, ids)
    assert words == [" hello", " world", ".", " the", " cat", "!"]
    assert [len(g) for g in groups] == [1, 5, 1, 1, 1, 1]
    starts = np.arange(len(ids) + 1) / 10  # token k starts at k / 10 s; the last entry is the end-of-text row
    timed = wt.word_timings(tokenizer, ids, np.full(len(ids), 0.5), starts, offset=2.0, end=2.95)
    assert [w.word for w in timed] == [" hello", " world.", " the", " cat!"]
    assert [(w.start, w.end) for w in timed] == [(2.0, 2.1), (2.1, 2.6), (2.7, 2.8), (2.8, 2.9)]
    unspaced = wt.split_words(tokenizer, ids[:3], language="ja")[0]
    assert unspaced == [" hello", " w", "o"]


class DiagonalWhisper(torch.nn.Module):
    """A stand-in for the alignment pass: token j of the text (and then the end of text) attends to
    encoder positions [5j, 5j + 5); the prompt attends everywhere. One layer, one head."""

    def __init__(self, prompt_length: int):
        super().__init__()
        self.prompt_length = prompt_length
        self.config = types.SimpleNamespace(decoder_layers=1, decoder_attention_heads=1, median_filter_width=1,
                                            _attn_implementation="eager")
        self.generation_config = types.SimpleNamespace(eos_token_id=EOT)
        self.vocab = 120

    def get_encoder(self):
        encoder = torch.nn.Module()  # Whisper's two convolutions: 2 mel frames per position
        encoder.conv1, encoder.conv2 = torch.nn.Conv1d(1, 1, 3, stride=1), torch.nn.Conv1d(1, 1, 3, stride=2)
        encoder.forward = lambda features, return_dict: None
        return encoder

    def forward(self, encoder_outputs, decoder_input_ids, **kwargs):
        rows, length = decoder_input_ids.shape
        attention = torch.full((rows, 1, length, 1500), 1e-3)
        for j in range(length - self.prompt_length + 1):
            attention[:, 0, self.prompt_length - 1 + j, 5 * j:5 * j + 5] = 1.0
        attention[:, 0, :self.prompt_length - 1] = 1.0
        return types.SimpleNamespace(logits=torch.zeros(rows, length, self.vocab), cross_attentions=(attention,))

    @property
    def device(self):
        return torch.device("cpu")

    @property
    def dtype(self):
        return torch.float32


def test_align_reads_word_times_from_the_attention():
    tokenizer = whisper_tokenizer()
    text = tuple(tokenizer.convert_tokens_to_ids(["Ġhello", "Ġw", "o", "r", "l", "d", "!"]))
    prompt = torch.tensor([SOT, LANG_TO_ID["<|en|>"], TRANSCRIBE, NO_TIMESTAMPS])
    requests = [wt.AlignmentRequest(torch.zeros(80, 3000), text, 160, 10.0, 11.6),
                wt.AlignmentRequest(torch.zeros(80, 3000), text[:1], 160, 20.0, 20.05),  # clipped to its end
                wt.AlignmentRequest(torch.zeros(80, 3000), (), 160, 30.0, 31.6)]  # no text, no words
    words = wt.align(DiagonalWhisper(len(prompt)), tokenizer, prompt, requests, batch_size=2)
    assert [(w.word, w.start, w.end) for w in words[0]] == [(" hello", 10.0, 10.1), (" world!", 10.1, 10.6)]
    assert all(w.probability == pytest.approx(1 / 120) for w in words[0])
    assert [(w.word, w.start, w.end) for w in words[1]] == [(" hello", 20.0, 20.05)]
    assert words[2] == []


def test_alignment_heads_default_to_the_last_layer():
    model = whisper_model()
    assert wt.alignment_heads(model) == [(1, 0), (1, 1)]
    model.generation_config.alignment_heads = [[0, 1], [1, 0]]
    try:
        assert wt.alignment_heads(model) == [(0, 1), (1, 0)]
    finally:
        del model.generation_config.alignment_heads


def test_eager_attention_is_restored():
    model = whisper_model()
    before = model.config._attn_implementation
    with wt.eager_attention(model):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == before


def test_windows_cover_the_audio_and_overlaps_merge():
    assert sr.window_starts(50 * RATE, 20 * RATE, 5 * RATE) == [0, 15 * RATE, 30 * RATE]
    assert sr.window_starts(10, 20, 5) == [0]
    with pytest.raises(OptionError, match="longer"):
        sr.window_starts(100, 5, 5)
    assert sr.overlap_length([1, 2, 3, 4, 5], [4, 5, 6, 7]) == 2
    assert sr.overlap_length([1, 2, 3], [7, 8, 9]) == 0
    assert sr.overlap_length([1, 2, 9, 4, 5], [2, 8, 4, 5, 6]) == 4  # 3 of 4 match: the longer run wins
    assert sr.merge_windows([[1, 2, 3, 4], [3, 4, 5, 6], [9]]) == [[1, 2, 3, 4], [5, 6], [9]]
    assert join_texts([" Hello", " world.", "next window", "", " and more"]) == " Hello world. next window and more"


# -- Whisper ---------------------------------------------------------------------------------------


def test_many_recordings_decode_as_they_do_one_by_one():
    """transcribe_many decodes the recordings that fit one window together (each its own language and
    seeking) and a longer one alone: every transcript is the one transcribe gives for it."""
    clips = [audio(8, 4), audio(3, 1), audio(45, 1), audio(6, 2)]
    together = transcribe_many(whisper(), clips, sampling_rate=RATE, batch_size=3, word_timestamps=True)
    for clip, transcript in zip(clips, together):
        alone = transcribe(whisper(), clip, sampling_rate=RATE, word_timestamps=True)
        assert (transcript.text, transcript.language, transcript.duration) == (alone.text, alone.language,
                                                                               alone.duration)
        for ours, theirs in zip(transcript.segments, alone.segments, strict=True):
            assert (ours.start, ours.end, ours.tokens, ours.seek) == (theirs.start, theirs.end, theirs.tokens,
                                                                      theirs.seek)
            assert [(w.word, w.start, w.end) for w in ours.words] == [(w.word, w.start, w.end) for w in theirs.words]
            # The figures of a batched pass equal a pass alone's up to float rounding (other matrix shapes).
            assert ours.avg_logprob == pytest.approx(theirs.avg_logprob, abs=1e-4)
            assert ours.no_speech_prob == pytest.approx(theirs.no_speech_prob, abs=1e-5)
    assert len({t.language for t in together}) >= 1 and together[2].duration == 45.0


def test_whisper_short_audio_detects_the_language():
    transcript = transcribe(whisper(), audio(8, 4), sampling_rate=RATE)
    assert isinstance(transcript, Transcript)
    assert transcript.language in LANGUAGES and transcript.duration == 8.0
    assert_timed(transcript)
    assert all(s.words is None for s in transcript.segments)


def test_whisper_long_audio_is_decoded_to_its_end():
    transcript = long_whisper()
    assert transcript.language == "fr" and transcript.duration == 45.0
    assert_timed(transcript)
    assert len(transcript.segments) >= 3
    assert transcript.segments[0].start < 30.0 < transcript.segments[-1].end  # more than one 30 s window
    assert transcript.segments[-1].end > transcript.duration - 5.0
    assert len({s.seek for s in transcript.segments}) >= 3  # windows


def test_whisper_segments_are_the_long_form_segments_decoded():
    transcript = long_whisper()
    generator = whisper()
    features = generator.components.feature_extractor(audio(45, 1), sampling_rate=RATE, return_tensors="pt",
                                                      truncation=False, padding="longest").input_features
    expected = transcribe_long(generator.model, features, language="fr").segments[0]
    kept = [s for s in expected if s.start < 45.0 and any(t < EOT for t in s.tokens.tolist())]
    assert [s.start for s in transcript.segments] == [s.start for s in kept]
    for segment, piece in zip(transcript.segments, kept):
        text_ids = [t for t in piece.tokens.tolist() if t < EOT]
        assert list(segment.tokens) == text_ids
        assert segment.text == generator.tokenizer.decode(text_ids).strip()  # without Whisper's leading space
        assert not segment.text.startswith(" ")
        assert segment.end == min(piece.end, 45.0)
    # The checks of each segment's window are there even when no threshold asked for them (scripts filter on them).
    for segment in transcript.segments:
        assert segment.avg_logprob is not None and segment.avg_logprob <= 0.0
        assert segment.no_speech_prob is not None and 0.0 <= segment.no_speech_prob <= 1.0


def test_word_timestamps_are_monotonic_and_inside_their_segment():
    transcript = long_whisper()
    assert all(s.words for s in transcript.segments)
    assert_timed(transcript)


# Without the timestamp rules the random model says mostly timestamps; a real one never does.
NO_TIMESTAMP_TOKENS = [1, 2, TRANSLATE, TRANSCRIBE, START_OF_LM, START_OF_PREV,
                       *range(TIMESTAMP_BEGIN, TIMESTAMP_BEGIN + 1501)]


def test_language_task_and_timestamps_off():
    transcript = transcribe(whisper(), audio(8, 4), sampling_rate=RATE, language="french", task="translate",
                            return_timestamps=False, suppress_tokens=NO_TIMESTAMP_TOKENS)
    assert transcript.language == "fr"
    assert len(transcript.segments) == 1 and transcript.segments[0].start == 0.0
    assert transcript.segments[0].end == 8.0


def test_whisper_without_timestamps_on_long_audio_decodes_windows():
    transcript = transcribe(whisper(), audio(45, 1), sampling_rate=RATE, language="es", return_timestamps=False,
                            max_new_tokens=8, suppress_tokens=NO_TIMESTAMP_TOKENS)
    assert transcript.language == "es"
    assert_timed(transcript)
    assert [(s.start, s.end) for s in transcript.segments] == [(0.0, 17.5), (17.5, 32.5), (32.5, 45.0)]


def test_whisper_trained_without_timestamp_tokens_decodes_windows_by_default():
    """A vocabulary that ends at <|notimestamps|> (as demo/asr's could): no long-form on timestamps; asking for
    them names the fix."""
    base = whisper_model()
    config = base.config.to_dict() | {"vocab_size": TIMESTAMP_BEGIN}
    torch.manual_seed(0)
    model = T.WhisperForConditionalGeneration(T.WhisperConfig(**config)).eval()
    model.generation_config = base.generation_config
    generator = Generator(model, whisper().processor)
    transcript = transcribe(generator, audio(45, 1), sampling_rate=RATE, language="es", max_new_tokens=8)
    spans = [(s.start, s.end) for s in transcript.segments]
    assert spans and set(spans) <= {(0.0, 17.5), (17.5, 32.5), (32.5, 45.0)}  # windows (empty ones left out)
    with pytest.raises(OptionError, match="return_timestamps=False"):
        transcribe(generator, audio(8, 1), sampling_rate=RATE, return_timestamps=True)


def test_a_file_path_and_a_model_with_its_processor(tmp_path):
    import soundfile

    soundfile.write(tmp_path / "clip.wav", audio(8, 4), RATE)
    generator = whisper()
    from_file = transcribe(generator.model, str(tmp_path / "clip.wav"), processor=generator.processor,
                           language="en")
    from_array = transcribe(generator, audio(8, 4), sampling_rate=RATE, language="en")
    assert [s.tokens for s in from_file.segments] == [s.tokens for s in from_array.segments]


# -- Speech2Text (windowed) ------------------------------------------------------------------------


def test_speech2text_windows_cover_long_audio():
    transcript = transcribe(speech2text(), audio(50, 2), sampling_rate=RATE)
    assert transcript.language is None
    assert_timed(transcript)
    assert [(s.start, s.end) for s in transcript.segments] == [(0.0, 17.5), (17.5, 32.5), (32.5, 50.0)]
    assert [s.seek for s in transcript.segments] == [0, 1500, 3000]


def test_speech2text_batch_size_does_not_change_the_transcript():
    one = transcribe(speech2text(), audio(50, 2), sampling_rate=RATE, batch_size=1)
    three = transcribe(speech2text(), audio(50, 2), sampling_rate=RATE, batch_size=3)
    assert one.text == three.text and len(one.segments) == len(three.segments)
    for a, b in zip(one.segments, three.segments):
        assert (a.start, a.end, a.text, a.tokens) == (b.start, b.end, b.text, b.tokens)
        assert a.avg_logprob == pytest.approx(b.avg_logprob, abs=1e-4)  # other matrix shapes, other roundings


# -- errors ----------------------------------------------------------------------------------------


def test_options_that_need_whisper_name_it():
    for option in (dict(word_timestamps=True), dict(language="en"), dict(task="translate")):
        with pytest.raises(OptionError, match="needs a Whisper model"):
            transcribe(speech2text(), audio(3, 2), sampling_rate=RATE, **option)
    with pytest.raises(OptionError, match="task="):
        transcribe(whisper(), audio(3, 2), sampling_rate=RATE, task="summarize")


def test_unreadable_audio_names_the_file(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(InputError, match="broken.wav"):
        transcribe(whisper(), str(bad))


# -- live segments, candidates, initial prompt ---------------------------------------------------


def test_segments_are_reported_as_they_are_decoded_and_equal_the_transcript():
    seen = []
    clips = [audio(45, 1), audio(8, 4), audio(6, 2)]
    transcripts = transcribe_many(whisper(), clips, sampling_rate=RATE, batch_size=2, language="fr",
                                  on_segment=lambda index, segment: seen.append((index, segment)))
    for index, transcript in enumerate(transcripts):
        assert [s for i, s in seen if i == index] == list(transcript.segments)
    assert {i for i, _ in seen} == {0, 1, 2}
    one = []
    transcribe(speech2text(), audio(50, 2), sampling_rate=RATE, on_segment=one.append)
    assert one == list(transcribe(speech2text(), audio(50, 2), sampling_rate=RATE).segments)


def test_best_of_keeps_the_most_likely_of_its_candidates():
    generator = whisper()
    features = generator.components.feature_extractor(audio(8, 4), sampling_rate=RATE, return_tensors="pt"
                                                      ).input_features
    alone = transcribe_long(generator.model, features, language="fr", temperature=0.7, seed=3)
    best = transcribe_long(generator.model, features, language="fr", temperature=0.7, seed=3, best_of=4)
    # Candidate 0 has the single pass' seed: the best of four is at least as likely.
    assert best.windows[0][0].avg_logprob >= alone.windows[0][0].avg_logprob
    greedy = transcribe_long(generator.model, features, language="fr", temperature=0.0, best_of=4)
    assert torch.equal(greedy.sequences, transcribe_long(generator.model, features, language="fr").sequences)
    with pytest.raises(OptionError, match="best_of=0"):
        transcribe_long(generator.model, features, language="fr", temperature=0.5, best_of=0)


def test_an_initial_prompt_conditions_the_first_window():
    generator = whisper()
    prompted = transcribe(generator, audio(8, 4), sampling_rate=RATE, language="fr", initial_prompt="hello world")
    ids = generator.tokenizer.get_prompt_ids("hello world", return_tensors="pt")
    expected = transcribe(generator, audio(8, 4), sampling_rate=RATE, language="fr", prompt_ids=ids)
    assert prompted == expected
    with pytest.raises(OptionError, match="initial_prompt needs a Whisper model"):
        transcribe(speech2text(), audio(3, 2), sampling_rate=RATE, initial_prompt="hi")


def test_windowed_segments_carry_their_windows_checks():
    """Scripts filter segments on avg_logprob and no_speech_prob: windowed decoding reports them too (Whisper
    without timestamps also its no-speech probability), never None for a decoded window."""
    transcript = transcribe(speech2text(), audio(50, 2), sampling_rate=RATE)
    assert transcript.segments
    for segment in transcript.segments:
        assert segment.avg_logprob is not None and segment.avg_logprob <= 0.0
        assert segment.compression_ratio is not None and segment.compression_ratio > 0
        assert segment.no_speech_prob is None  # Speech2Text has no no-speech token
    generator = whisper()
    arguments, _ = generator.arguments([audio(8, 4)], sampling_rate=RATE, language="fr", return_timestamps=False)
    generation = mmgen_generate(generator.model, **arguments)
    average, ratio, no_speech = sr.window_checks(generation, 0, generator.model.config.vocab_size)
    assert average == pytest.approx(float(generation.avg_logprobs[0])) and ratio > 0
    assert no_speech == pytest.approx(float(generation.no_speech_probs[0])) and 0 <= no_speech <= 1
