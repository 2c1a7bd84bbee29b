"""SpeechT5 text-to-speech (``SpeechT5ForTextToSpeech``): spectrogram frames through the shared loop.

The model step runs the model's public submodules the way transformers' ``_generate_speech``
does: the text encoder once, then per step the decoder prenet on the previous mel frame (with
the speaker embedding), the wrapped decoder with a transformers cache, and ``feat_out`` /
``prob_out``. The continuous output adapter, hooks and stopping rule are in
`mmgen.outputs.spectrogram`; the postnet runs per row on its collected frames, then a vocoder
when one is asked for (``vocoder=``: a ``SpeechT5HifiGan``, ``"griffin-lim"``; without one the
result is the spectrogram, as ``generate_speech`` returns it).

Differences from transformers, on purpose:
- rows stop on their own and leave the batch (their cache rows, encoder states and masks are
  dropped), so a row's spectrogram is the one it gets alone; ``minlen``/``maxlen`` come from
  each row's own text length (transformers uses the padded width);
- the prenet runs on the newest frame only, not on the whole sequence again each step. Its
  dropout is on at inference (Tacotron 2, section 2.2) and shared by the rows of a batch; the
  mask of step n is the last row of an (n, units) Bernoulli draw, the draw transformers makes,
  so with the same seed the frames match ``generate_speech``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache, EncoderDecoderCache, ProcessorMixin, SpeechT5ForTextToSpeech

from mmgen.core.collect import Collected
from mmgen.core.frames import AudioChunk, SpectrogramStep
from mmgen.core.options import OptionError, suggest
from mmgen.core.results import Generation
from mmgen.families.family import Family
from mmgen.families.prepared import Call
from mmgen.inputs.prompts import encode_call_text
from mmgen.outputs.audio_stream import DEFAULT_CHUNK_FRAMES, AudioStreamer, stream_audio
from mmgen.outputs.spectrogram import (
    Hook,
    LengthRatioStop,
    SpectrogramBuffer,
    SpectrogramOutput,
    check_stopping,
    decode_spectrogram,
    postnet_rows,
)
from mmgen.outputs.vocoders import Vocoder, as_vocoder

OPTIONS: frozenset[str] = frozenset({
    "vocoder", "threshold", "minlenratio", "maxlenratio", "hooks", "chunk_frames", "seed",
    "output_cross_attentions", "return_output_lengths",
})
INPUTS = frozenset({"input_ids", "attention_mask", "speaker_embeddings", "text"})


@dataclass(frozen=True)
class SpeechOptions:
    """Options of one synthesis call (names and defaults as in ``generate_speech``).

    vocoder: a ``SpeechT5HifiGan`` or `Vocoder`; ``"griffin-lim"`` for Griffin-Lim with the
      model's mel settings; None (default) or False for none (``Generation.audio`` is then None,
      as ``generate_speech`` returns only the spectrogram without one). hooks: per-step hooks, in order (see
      `mmgen.outputs.spectrogram`). chunk_frames: mel frames per streamed audio chunk.
    seed: draws the prenet's dropout masks from a generator seeded with it; None uses torch's
      global generator, as transformers does (``torch.manual_seed`` then gives its frames).
    """

    threshold: float = 0.5
    minlenratio: float = 0.0
    maxlenratio: float = 20.0
    vocoder: Any = field(default=None, compare=False)
    hooks: tuple[Hook, ...] = field(default=(), compare=False)
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    seed: int | None = None


def _options(user: dict[str, Any]) -> SpeechOptions:
    if user.pop("output_cross_attentions", False):
        raise OptionError("output_cross_attentions=True is not supported by mmgen's SpeechT5 synthesis: read what "
                          "you need from each frame with hooks=[...] instead.")
    user.pop("return_output_lengths", None)  # a Generation always holds each row at its own length
    hooks = user.pop("hooks", ()) or ()
    hooks = (hooks,) if callable(hooks) else tuple(hooks)
    if not all(callable(h) for h in hooks):
        raise OptionError("hooks must be callables frame -> frame | None.")
    options = SpeechOptions(hooks=hooks, **{k: v for k, v in user.items() if v is not None})
    check_stopping(options.threshold, options.minlenratio, options.maxlenratio)
    if not isinstance(options.chunk_frames, int) or options.chunk_frames < 1:
        raise OptionError(f"chunk_frames={options.chunk_frames!r} must be an integer >= 1.")
    return options


def _inputs(model: torch.nn.Module, tokenizer: Any, call: Call) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, speaker_embeddings) on the model's device, one row each."""
    given = dict(call.model_inputs)
    if call.text:
        encoded = encode_call_text(tokenizer, call.text, left=False)
        given.setdefault("input_ids", encoded["input_ids"])
        given.setdefault("attention_mask", encoded["attention_mask"])
    input_ids = given.get("input_ids")
    if input_ids is None:
        raise OptionError("SpeechT5 synthesis needs input_ids=... (or text=... with tokenizer=...).")
    speaker = given.get("speaker_embeddings")
    if speaker is None:
        raise OptionError("SpeechT5 synthesis needs speaker_embeddings=... (rows or 1, speaker_embedding_dim), e.g. an "
                          "x-vector from the Matthijs/cmu-arctic-xvectors dataset.")
    device = model.device
    input_ids = input_ids.to(device)
    mask = given.get("attention_mask")
    mask = (input_ids != model.config.pad_token_id).long() if mask is None else mask.to(device)
    rows = input_ids.shape[0]
    if speaker.dim() == 1:
        speaker = speaker[None]
    if speaker.shape[0] not in (1, rows):
        raise OptionError(f"speaker_embeddings has {speaker.shape[0]} rows for {rows} texts: pass one per text, or one.")
    return input_ids, mask, speaker.to(device).expand(rows, -1)


def _check_names(call: Call) -> None:
    unknown = sorted(set(call.options) | (set(call.model_inputs) - INPUTS))
    if unknown:
        name = unknown[0]
        raise OptionError(f"Unknown option {name!r} for SpeechT5 synthesis.{suggest(name, OPTIONS | INPUTS)}")


class SpeechT5Step:
    """The model step of SpeechT5 synthesis; ``prefill``/``step`` return ``(frames, stop_probs)``.

    input_ids, attention_mask: (rows, text) right-padded. speaker_embeddings: (rows, dim).
    ``step(mel)``: (rows in the batch, num_mel_bins) each row's previous frame. ``keep(rows)``
    drops finished rows from the cache, the encoder states, masks and speaker embeddings.
    Outputs: frames (rows, reduction_factor, num_mel_bins), stop probabilities (rows, reduction_factor).
    """

    compactable = True

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 speaker_embeddings: torch.Tensor, generator: torch.Generator | None = None):
        self.model = model
        self.config = model.config
        self.input_ids = input_ids
        self.encoder_mask = attention_mask
        self.speaker = F.normalize(speaker_embeddings)
        self.generator = generator
        self.position = 0
        self.cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        self.encoder_states: torch.Tensor | None = None

    def prefill(self) -> SpectrogramOutput:
        encoder = self.model.speecht5.encoder
        self.encoder_states = encoder(input_values=self.input_ids, attention_mask=self.encoder_mask,
                                      return_dict=True).last_hidden_state
        return self.step(self.encoder_states.new_zeros(self.input_ids.shape[0], self.config.num_mel_bins))

    def step(self, mel: torch.Tensor) -> SpectrogramOutput:
        decoder = self.model.speecht5.decoder.wrapped_decoder
        outputs = decoder(hidden_states=self._prenet(mel), attention_mask=None, encoder_hidden_states=self.encoder_states,
                          encoder_attention_mask=self.encoder_mask, cache=self.cache, use_cache=True, return_dict=True)
        self.cache = outputs.cache
        self.position += 1
        last = outputs.last_hidden_state.squeeze(1)
        head = self.model.speech_decoder_postnet
        frames = head.feat_out(last).view(last.shape[0], self.config.reduction_factor, self.config.num_mel_bins)
        return frames, torch.sigmoid(head.prob_out(last))

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` of the current batch (increasing indices)."""
        self.cache.reorder_cache(rows)
        self.encoder_states = self.encoder_states.index_select(0, rows)
        self.encoder_mask = self.encoder_mask.index_select(0, rows)
        self.speaker = self.speaker.index_select(0, rows)

    def _prenet(self, mel: torch.Tensor) -> torch.Tensor:
        """(live, mel) the previous frame -> (live, 1, hidden): ``decoder.prenet`` at position ``self.position``."""
        prenet = self.model.speecht5.decoder.prenet
        p = self.config.speech_decoder_prenet_dropout
        hidden = mel
        for layer in prenet.layers:
            hidden = F.relu(layer(hidden))
            # transformers draws an (n, units) mask each step for all n positions; row n - 1 is this frame's.
            draw = torch.bernoulli(hidden.new_empty(self.position + 1, hidden.shape[-1]), p, generator=self.generator)
            hidden = torch.where(draw[-1] == 1, hidden, 0) * 1 / (1 - p)
        hidden = prenet.final_layer(hidden)
        positions = prenet.encode_positions
        hidden = positions.dropout(hidden + positions.alpha * positions.pe[0, self.position])
        hidden = torch.cat([hidden, self.speaker], dim=-1)
        return F.relu(prenet.speaker_embeds_layer(hidden))[:, None]


def postnet_context(model: torch.nn.Module) -> int:
    """Frames on each side the postnet reaches: its conv layers, each (kernel - 1) / 2."""
    config = model.config
    return config.speech_decoder_postnet_layers * (config.speech_decoder_postnet_kernel - 1) // 2


@dataclass
class SpeechRun:
    """One synthesis call (a `mmgen.core.collect.Run`): step, frame buffer, stopping rule, postnet, vocoder.

    ``result``: ``spectrogram`` per row, (frames, num_mel_bins) after the postnet (``generate_speech``'s
    spectrogram for that row alone); ``audio`` per row, the vocoder's waveform (None without a
    vocoder); ``sequences`` are the input ids (``prompt_length`` columns, nothing generated);
    ``lengths`` each row's decoder steps.
    """

    step: SpeechT5Step
    buffer: SpectrogramBuffer
    stopping: LengthRatioStop
    options: SpeechOptions
    vocoder: Vocoder | None
    postnet: Any
    context: int

    def events(self) -> Iterator[SpectrogramStep]:
        return decode_spectrogram(self.step, self.buffer, self.stopping, self.options.hooks)

    def stream(self) -> Iterator[SpectrogramStep | AudioChunk]:
        """Each `SpectrogramStep`, then the `AudioChunk`s it makes final (none without a vocoder).

        A row's chunks joined in order equal its ``generate(...)`` audio (see `mmgen.outputs.audio_stream`).
        """
        if self.vocoder is None:
            return self.events()
        streamer = AudioStreamer(self.buffer, self.postnet, self.context, self.vocoder, self.options.chunk_frames)
        return stream_audio(self.events(), streamer)

    def result(self, collected: Collected) -> Generation:
        spectrograms = postnet_rows(self.buffer, self.postnet)
        audio = tuple(self.vocoder(mel) for mel in spectrograms) if self.vocoder is not None else None
        input_ids = self.step.input_ids
        return Generation(sequences=input_ids, logprobs=input_ids.new_zeros(input_ids.shape[0], 0, dtype=torch.float32),
                          finish_reasons=collected.finish_reasons, lengths=collected.lengths,
                          prompt_length=input_ids.shape[1], timings=collected.timings, spectrogram=spectrograms,
                          audio=audio, sampling_rate=self.vocoder.sampling_rate if self.vocoder is not None else None)


def _feature_extractor(tokenizer: Any) -> Any:
    """The processor's feature extractor (its mel settings), when the call's tokenizer is a processor."""
    return getattr(tokenizer, "feature_extractor", None) if isinstance(tokenizer, ProcessorMixin) else None


class SpeechT5(Family):
    """SpeechT5 text-to-speech: spectrogram frames, stop probabilities, then an optional vocoder."""

    name = "speecht5"
    options = OPTIONS

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, SpeechT5ForTextToSpeech)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> SpeechRun:
        """Check the call and build its roles; raises `OptionError` before any compute."""
        _check_names(call)
        options = _options(dict(call.family_options))
        input_ids, mask, speaker = _inputs(model, tokenizer, call)
        config = model.config
        stopping = LengthRatioStop(mask.sum(-1), config.reduction_factor, options.threshold, options.minlenratio,
                                   options.maxlenratio)
        positions = model.speecht5.decoder.prenet.encode_positions.pe.shape[1]
        if stopping.max_steps > positions:
            raise OptionError(f"maxlenratio={options.maxlenratio} allows {stopping.max_steps} steps, more than the "
                              f"model's {positions} decoder positions: pass a smaller maxlenratio.")
        generator = None
        if options.seed is not None:
            generator = torch.Generator(device=input_ids.device).manual_seed(options.seed)
        step = SpeechT5Step(model, input_ids, mask, speaker, generator)
        buffer = SpectrogramBuffer(input_ids.shape[0], stopping.max_steps, config.reduction_factor,
                                   config.num_mel_bins, input_ids.device, model.dtype)
        vocoder = as_vocoder(options.vocoder, config.num_mel_bins, _feature_extractor(tokenizer))
        return SpeechRun(step, buffer, stopping, options, vocoder, model.speech_decoder_postnet.postnet,
                         postnet_context(model))


__all__ = ["OPTIONS", "SpeechOptions", "SpeechRun", "SpeechT5", "SpeechT5Step", "postnet_context"]
