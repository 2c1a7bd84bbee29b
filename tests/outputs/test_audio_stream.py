"""Streaming audio equals one-shot audio: chunks computed with postnet and vocoder context join exactly."""

import torch

from mmgen.api import generate, stream
from mmgen.core.frames import AudioChunk, SpectrogramStep
from mmgen.outputs.audio_stream import join_chunks
from mmgen.outputs.vocoders import HifiGanVocoder

STOPS = dict(threshold=1.3, minlenratio=0.0, maxlenratio=6.0)
# Stated tolerance of a stream vs the one-shot waveform with HiFi-GAN (observed: 0.0 on CPU).
STREAM_ATOL = 1e-5


def events(tts, texts, vocoder, chunk_frames):
    ids, mask, speakers = texts
    torch.manual_seed(0)
    return list(stream(tts, input_ids=ids, attention_mask=mask, speaker_embeddings=speakers, vocoder=vocoder,
                       chunk_frames=chunk_frames, **STOPS))


def test_stream_joins_to_the_one_shot_waveform_and_arrives_early(tts, hifigan, texts):
    ids, mask, speakers = texts
    torch.manual_seed(0)
    one_shot = generate(tts, input_ids=ids, attention_mask=mask, speaker_embeddings=speakers, vocoder=hifigan, **STOPS)
    stream_events = events(tts, texts, hifigan, chunk_frames=8)
    chunks = [e for e in stream_events if isinstance(e, AudioChunk)]
    frames = [e for e in stream_events if isinstance(e, SpectrogramStep)]
    joined = join_chunks(chunks, 3)
    for row in range(3):
        assert joined[row].shape == one_shot.audio[row].shape
        assert (joined[row] - one_shot.audio[row]).abs().max() <= STREAM_ATOL
        row_chunks = [c for c in chunks if c.row == row]
        assert [c.final for c in row_chunks] == [False] * (len(row_chunks) - 1) + [True]
        starts = [c.start for c in row_chunks]
        assert starts == [sum(c.audio.numel() for c in row_chunks[:i]) for i in range(len(row_chunks))]
    assert len([c for c in chunks if c.row != 1]) > 2  # rows 0 and 2 outlive the context: several chunks each
    # Audio comes out while frames are still being produced.
    first_chunk = next(i for i, e in enumerate(stream_events) if isinstance(e, AudioChunk))
    assert first_chunk < stream_events.index(frames[-1])
    assert chunks[0].sampling_rate == 16000


def test_too_little_context_breaks_the_joins(tts, hifigan, texts):
    """The check above is sensitive: with 1 frame of vocoder context instead of the receptive field, joins differ."""
    short = HifiGanVocoder(hifigan)
    short.context_frames = 1
    ids, mask, speakers = texts
    torch.manual_seed(0)
    one_shot = generate(tts, input_ids=ids[:1, :12], speaker_embeddings=speakers[:1], vocoder=hifigan, **STOPS)
    joined = join_chunks([e for e in events(tts, (ids[:1, :12], mask[:1, :12], speakers[:1]), short, 8)
                          if isinstance(e, AudioChunk)], 1)
    assert (joined[0] - one_shot.audio[0]).abs().max() > 100 * STREAM_ATOL


def test_spectrogram_only_stream_yields_frames(tts, texts):
    ids, mask, speakers = texts
    steps = list(stream(tts, input_ids=ids, attention_mask=mask, speaker_embeddings=speakers, vocoder=False, **STOPS))
    assert all(isinstance(e, SpectrogramStep) for e in steps)
    assert steps[-1].finished.all() and not steps[0].finished.any()


def test_no_vocoder_gives_the_spectrogram_only_as_generate_speech(tts, texts):
    ids, mask, speakers = texts
    result = generate(tts, input_ids=ids, attention_mask=mask, speaker_embeddings=speakers, **STOPS)
    assert result.audio is None and result.sampling_rate is None
    assert [s.shape[0] for s in result.spectrogram] == (result.lengths * tts.config.reduction_factor).tolist()
    assert not any(isinstance(e, AudioChunk) for e in events(tts, texts, None, chunk_frames=16))


def test_griffin_lim_when_asked_and_its_stream_matches_in_magnitude(tts, texts):
    """Griffin-Lim couples the whole signal, so its stream is compared by magnitude spectrogram (stated: < 10%)."""
    ids, mask, speakers = texts
    one_shot = generate(tts, input_ids=ids, attention_mask=mask, speaker_embeddings=speakers, vocoder="griffin-lim",
                        **STOPS)
    assert one_shot.sampling_rate == 16000
    chunks = events(tts, texts, "griffin-lim", chunk_frames=16)
    joined = join_chunks([e for e in chunks if isinstance(e, AudioChunk)], 3)
    window = torch.hann_window(1024)

    def magnitude(audio):
        return torch.stft(audio, 1024, 256, window=window, return_complex=True).abs()

    for row in range(3):
        assert one_shot.audio[row].shape == (one_shot.spectrogram[row].shape[0] * 256,) == joined[row].shape
        expected = magnitude(one_shot.audio[row])
        assert (magnitude(joined[row]) - expected).norm() / expected.norm() < 0.1
