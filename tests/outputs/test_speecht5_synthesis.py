"""SpeechT5 synthesis through mmgen's loop vs transformers' ``generate_speech`` (the reference), on tiny random models."""

import dataclasses

import pytest
import tiny_audio
import torch

from mmgen.api import generate
from mmgen.core.frames import FinishReason, SpectrogramStep
from mmgen.core.options import OptionError

# Row 0 (12 tokens) reaches the threshold at step 30; row 1 (7 tokens) stops at maxlen = int(7 * 6 / 2) = 21;
# row 2 (20 tokens) reaches the threshold at step 29.
STOPS = dict(threshold=1.3, minlenratio=0.0, maxlenratio=6.0)
EXPECTED = (FinishReason.EOS, FinishReason.LENGTH, FinishReason.EOS)
TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture
def model(tts):
    return tts


@pytest.fixture
def vocoder(hifigan):
    return hifigan


@pytest.fixture
def batch(texts):
    return texts


def alone(batch, row):
    ids, mask, speakers = batch
    n = int(mask[row].sum())
    return ids[row:row + 1, :n], speakers[row:row + 1]


def reference(model, ids, speakers, **options):
    torch.manual_seed(0)
    return model.generate_speech(ids, speakers, **options)


def ours(model, ids, speakers, **options):
    torch.manual_seed(0)
    return generate(model, input_ids=ids, speaker_embeddings=speakers, **options)


@pytest.mark.parametrize("row", [0, 1])
def test_spectrogram_equals_generate_speech_at_batch_1(model, batch, row):
    ids, speakers = alone(batch, row)
    expected = reference(model, ids, speakers, **STOPS)
    result = ours(model, ids, speakers, vocoder=False, **STOPS)
    assert result.finish_reasons == (EXPECTED[row],)  # row 0: threshold stop, row 1: maxlen stop
    assert expected.shape[0] >= 40  # a non-trivial number of frames
    assert result.spectrogram[0].shape == expected.shape
    torch.testing.assert_close(result.spectrogram[0], expected, **TOL)
    assert result.audio is None


def test_minlenratio_holds_rows_back_as_in_transformers(model, batch):
    ids, speakers = alone(batch, 0)
    options = dict(threshold=0.5, minlenratio=2.0, maxlenratio=6.0)  # 0.5 alone would stop at the first step
    expected = reference(model, ids, speakers, **options)
    result = ours(model, ids, speakers, vocoder=False, **options)
    assert expected.shape[0] == 2 * int(12 * 2.0 / 2)
    torch.testing.assert_close(result.spectrogram[0], expected, **TOL)


def test_waveform_equals_generate_speech_with_hifigan(model, vocoder, batch):
    ids, speakers = alone(batch, 0)
    expected = reference(model, ids, speakers, vocoder=vocoder, **STOPS)
    result = ours(model, ids, speakers, vocoder=vocoder, **STOPS)
    assert result.sampling_rate == 16000
    assert result.audio[0].shape == expected.shape == (result.spectrogram[0].shape[0] * 256,)
    assert expected.abs().max() > 0.05
    torch.testing.assert_close(result.audio[0], expected, **TOL)


def test_batched_rows_equal_rows_alone(model, vocoder, batch):
    ids, mask, speakers = batch
    together = ours(model, ids, speakers, attention_mask=mask, vocoder=vocoder, **STOPS)
    assert together.finish_reasons == EXPECTED
    lengths = [s.shape[0] for s in together.spectrogram]
    assert len(set(lengths)) == 3  # rows stopped at different steps
    for row in range(3):
        single = ours(model, *alone(batch, row), vocoder=vocoder, **STOPS)
        torch.testing.assert_close(together.spectrogram[row], single.spectrogram[0], **TOL)
        torch.testing.assert_close(together.audio[row], single.audio[0], **TOL)


def test_hooks_run_in_order_and_a_replaced_frame_is_what_follows_sees(model, batch):
    ids, speakers = alone(batch, 1)
    calls, logged, after = [], [], []

    def log(frame: SpectrogramStep):  # returns None: the frame is kept
        calls.append("log")
        logged.append((frame.index, frame.frames.clone(), float(frame.stop_probability[0])))

    def halve(frame: SpectrogramStep):  # returns a frame: it replaces the model's
        calls.append("halve")
        return dataclasses.replace(frame, frames=frame.frames * 0.5)

    def record(frame: SpectrogramStep):
        calls.append("record")
        after.append(frame.frames.clone())

    fed = []  # what the decoder prenet consumed at each step
    handle = model.speecht5.decoder.prenet.layers[0].register_forward_pre_hook(lambda m, args: fed.append(args[0].clone()))
    try:
        plain = ours(model, ids, speakers, vocoder=False, **STOPS)
        fed.clear()
        hooked = ours(model, ids, speakers, vocoder=False, hooks=[log, halve, record], **STOPS)
    finally:
        handle.remove()
    steps = len(logged)
    assert calls == ["log", "halve", "record"] * steps
    assert [index for index, _, _ in logged] == list(range(steps))
    for (_, before, _), seen in zip(logged, after):
        torch.testing.assert_close(seen, before * 0.5)
    # The model's next input is the replaced frame's last mel frame.
    for step in range(1, steps):
        torch.testing.assert_close(fed[step], after[step - 1][:, -1])
    # The collected spectrogram is made of the replaced frames (before the postnet).
    assert hooked.spectrogram[0].shape[0] == 2 * steps
    assert not torch.allclose(hooked.spectrogram[0], plain.spectrogram[0][: 2 * steps])


def test_errors_name_the_option_and_the_fix(model, batch):
    ids, speakers = alone(batch, 0)
    with pytest.raises(OptionError, match="speaker_embeddings"):
        generate(model, input_ids=ids)
    with pytest.raises(OptionError, match="threshold"):
        generate(model, input_ids=ids, speaker_embeddings=speakers, treshold=0.4)
    with pytest.raises(OptionError, match="maxlenratio"):
        generate(model, input_ids=ids, speaker_embeddings=speakers, maxlenratio=0)


def test_a_model_with_40_mel_bins_returns_its_spectrogram_as_generate_speech(texts):
    """Without a vocoder the reference returns the spectrogram; mmgen does the same (it used to run a
    default Griffin-Lim built for 80 mel bins and fail), and builds Griffin-Lim for 40 bins when asked."""
    model = tiny_audio.speecht5(num_mel_bins=40)
    ids, _, speakers = texts
    expected = reference(model, ids[:1, :12], speakers[:1], **STOPS)
    result = ours(model, ids[:1, :12], speakers[:1], **STOPS)
    assert result.audio is None
    torch.testing.assert_close(result.spectrogram[0], expected, **TOL)
    spoken = ours(model, ids[:1, :12], speakers[:1], vocoder="griffin-lim", **STOPS)
    assert spoken.audio[0].shape == (expected.shape[0] * 256,) and spoken.sampling_rate == 16000
