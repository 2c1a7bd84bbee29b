"""Text to speech: text of any length -> one waveform (`Speech`) at the model's sampling rate.

    generator = mmgen.load("microsoft/speecht5_tts")
    speech = speak(generator, "Hello there. How are you?", speaker_embeddings="speaker.npy", vocoder=hifigan)
    speech.write("hello.wav")            # WAV at speech.sampling_rate

The text is cut into sentences (`split_sentences`), the sentences are synthesized as a batch
(``batch_size`` at a time; each row stops on its own) and joined in order with ``pause_s``
seconds of silence between them.

Speaker embeddings (SpeechT5): a file (``.npy``, or ``.pt`` / ``.pth`` holding one tensor), an
array or a tensor of ``speaker_embedding_dim`` values (512 for the released checkpoints: an
x-vector, e.g. from the Matthijs/cmu-arctic-xvectors dataset). Without one, `default_speaker`:
the fixed vector ``sin(0.37 * i + 0.5)`` for ``i = 0 .. dim - 1``, L2-normalized. It is
deterministic and the same everywhere, not a recorded voice: pass an x-vector for a natural one.

Vocoder: None uses Griffin-Lim (no second model); a ``SpeechT5HifiGan``, a directory holding
one, or a `mmgen.outputs.vocoders.Vocoder` turns the mel frames into audio instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmgen.api import generate
from mmgen.core.options import OptionError
from mmgen.generator import as_generator
from mmgen.outputs.audio_files import write_audio
from mmgen.outputs.vocoders import GRIFFIN_LIM

DEFAULT_PAUSE_S = 0.25
DEFAULT_BATCH_SIZE = 8
DEFAULT_MAXLENRATIO = 20.0  # SpeechT5's: at most 20 mel frames per text token
MAX_SENTENCE_CHARS = 300


@dataclass(frozen=True)
class Speech:
    """Synthesized speech.

    audio: (samples,) float32 waveform on the CPU, nominally in [-1, 1] (`write` clips what is
    outside, as 16-bit PCM needs). sampling_rate: Hz.
    sentences: the pieces of text synthesized, in order. spectrograms: per sentence, its
    (frames, num_mel_bins) log-mel spectrogram (None for models without one).
    """

    audio: torch.Tensor
    sampling_rate: int
    sentences: tuple[str, ...]
    spectrograms: tuple[torch.Tensor, ...] | None = None

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.audio.shape[-1] / self.sampling_rate

    @property
    def spectrogram(self) -> torch.Tensor | None:
        """(frames, num_mel_bins): the sentences' spectrograms end to end (no frames for the pauses)."""
        return torch.cat(list(self.spectrograms)) if self.spectrograms else None

    def write(self, path: str | os.PathLike, subtype: str | None = None) -> Path:
        """Write the audio at its sampling rate; the format follows the suffix (``.wav``, ``.flac``)."""
        return write_audio(path, self.audio, self.sampling_rate, subtype)


# -- text ------------------------------------------------------------------------------------------

# A sentence ends at . ! ? or … (repeated or not), with any closing quotes or brackets, before
# whitespace or the end of the text. Abbreviations ("Dr. Smith") are cut too: a known limit.
_SENTENCE = re.compile(r"\S.*?(?:[.!?…]+[\"'”’)\]]*(?=\s|$)|$)")


def _cut_long(sentence: str, max_chars: int) -> list[str]:
    """Cut a sentence longer than ``max_chars`` at its last , ; : before the limit, else its last space."""
    pieces = []
    while len(sentence) > max_chars:
        head = sentence[:max_chars + 1]
        cut = max(head.rfind(mark) for mark in ",;:")
        if cut > 0:
            cut += 1  # keep the mark with the first piece
        else:
            cut = head.rfind(" ")
            cut = cut if cut > 0 else max_chars
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    return pieces + ([sentence] if sentence else [])


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Sentences of ``text``, in order.

    Whitespace (newlines included) is collapsed to single spaces, then the text is cut after
    each . ! ? or … (with closing quotes or brackets) that precedes a space or the end; a
    blank line also ends a sentence. A sentence longer than ``max_chars`` is cut again at its
    last , ; or : before the limit, else at its last space.
    """
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        flat = " ".join(paragraph.split())
        for match in _SENTENCE.finditer(flat):
            sentences += _cut_long(match.group().strip(), max_chars)
    return [s for s in sentences if s]


# -- speaker and vocoder ---------------------------------------------------------------------------


def default_speaker(dim: int) -> torch.Tensor:
    """(dim,) the documented default speaker embedding: ``sin(0.37 * i + 0.5)``, L2-normalized."""
    vector = torch.sin(0.37 * torch.arange(dim, dtype=torch.float64) + 0.5)
    return (vector / vector.norm()).float()


def speaker_embedding(value: Any, dim: int) -> torch.Tensor:
    """(dim,) float32 from None (`default_speaker`), a ``.npy`` / ``.pt`` / ``.pth`` file, an array or a tensor."""
    if value is None:
        return default_speaker(dim)
    name = "speaker_embeddings"
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        name = str(path)
        if not path.is_file():
            raise OptionError(f"speaker embeddings {name!r}: no such file. Fix: pass a .npy or .pt file of {dim} "
                              "values.")
        if path.suffix.lower() == ".npy":
            value = np.load(path)
        elif path.suffix.lower() in (".pt", ".pth"):
            value = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise OptionError(f"speaker embeddings {name!r}: unknown file type. Fix: save the vector with "
                              "numpy.save (.npy) or torch.save (.pt).")
    try:
        tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value).float().cpu()
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{name}: cannot read a vector from a {type(value).__name__}.") from exc
    if tensor.dim() == 2 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.shape != (dim,):
        raise OptionError(f"{name} has shape {tuple(tensor.shape)}; this model takes ({dim},) (speaker_embedding_dim).")
    return tensor


def as_vocoder(vocoder: Any) -> Any:
    """The vocoder speech is made with: None is Griffin-Lim (no second model); a directory holding a
    ``SpeechT5HifiGan`` is loaded; anything else goes to the model's family as is."""
    if vocoder is False:
        raise OptionError("speak() returns audio: pass vocoder=None (Griffin-Lim) or a SpeechT5HifiGan, not False.")
    if vocoder is None or (isinstance(vocoder, str) and vocoder.lower() == GRIFFIN_LIM):
        return GRIFFIN_LIM
    if isinstance(vocoder, (str, os.PathLike)):
        from transformers import SpeechT5HifiGan

        return SpeechT5HifiGan.from_pretrained(os.fspath(vocoder)).eval()
    return vocoder


def max_sentence_chars(model: torch.nn.Module, maxlenratio: float) -> int:
    """The longest sentence the model can speak whole: its text positions, and decoder positions
    over ``maxlenratio`` frames per token (SpeechT5 tokenizes characters, plus one end token)."""
    config = model.config
    limit = MAX_SENTENCE_CHARS
    if getattr(config, "max_text_positions", None):
        limit = min(limit, config.max_text_positions - 2)
    positions, reduction = getattr(config, "max_speech_positions", None), getattr(config, "reduction_factor", 1)
    if positions:
        limit = min(limit, int(positions * reduction / maxlenratio) - 2)
    return max(limit, 1)


# -- the task --------------------------------------------------------------------------------------


def speak(model_or_generator: Any, text: str, *, speaker_embeddings: Any = None, vocoder: Any = None,
          batch_size: int = DEFAULT_BATCH_SIZE, pause_s: float = DEFAULT_PAUSE_S, processor: Any = None,
          **options: Any) -> Speech:
    """Synthesize ``text`` (any length) as one waveform.

    model_or_generator: a `mmgen.Generator` (``mmgen.load(...)``) of a text-to-speech model
      (SpeechT5), a model directory or name, or a model with ``processor=``.
    speaker_embeddings: None (`default_speaker`), a path, an array or a tensor (module docstring).
    vocoder: None (Griffin-Lim), a ``SpeechT5HifiGan`` or a directory holding one.
    batch_size: sentences per synthesis call. pause_s: seconds of silence between sentences.
    options: synthesis options (``threshold``, ``minlenratio``, ``maxlenratio``, ``seed``:
      SpeechT5's prenet dropout stays on at inference, so set a seed for the same audio twice).
    """
    if not isinstance(text, str):
        raise OptionError(f"text must be a string, got {type(text).__name__}.")
    if batch_size < 1 or pause_s < 0:
        raise OptionError(f"batch_size={batch_size} must be >= 1 and pause_s={pause_s} >= 0.")
    generator = as_generator(model_or_generator, processor)
    model = generator.model
    options = {**generator.defaults, **options}
    dim = getattr(model.config, "speaker_embedding_dim", None)
    if dim is None and speaker_embeddings is not None:
        raise OptionError(f"{type(model).__name__} takes no speaker embeddings: leave speaker_embeddings unset.")
    sentences = split_sentences(text, max_sentence_chars(model, options.get("maxlenratio") or DEFAULT_MAXLENRATIO))
    if not sentences:
        raise OptionError("The text is empty: there is nothing to say.")
    call = dict(options, vocoder=as_vocoder(vocoder))
    if dim is not None:
        call["speaker_embeddings"] = speaker_embedding(speaker_embeddings, dim)[None]
    waveforms: list[torch.Tensor] = []
    spectrograms: list[torch.Tensor] = []
    rate = None
    for first in range(0, len(sentences), batch_size):
        generation = generate(model, tokenizer=generator.processor, text=sentences[first:first + batch_size], **call)
        if generation.audio is None:
            raise OptionError(f"{type(model).__name__} made no audio: speak() needs a text-to-speech model.")
        rate = generation.sampling_rate
        waveforms += [a.detach().float().cpu().reshape(-1) for a in generation.audio]
        if generation.spectrogram is not None:
            spectrograms += [s.detach().float().cpu() for s in generation.spectrogram]
    silence = torch.zeros(round(pause_s * rate))
    joined = [piece for k, wave in enumerate(waveforms) for piece in ((silence, wave) if k else (wave,))]
    return Speech(audio=torch.cat(joined), sampling_rate=int(rate), sentences=tuple(sentences),
                  spectrograms=tuple(spectrograms) or None)


__all__ = ["DEFAULT_PAUSE_S", "Speech", "as_vocoder", "default_speaker", "speak", "speaker_embedding",
           "split_sentences"]
