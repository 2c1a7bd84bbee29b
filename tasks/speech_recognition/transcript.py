"""What speech recognition returns: a `Transcript` of timed `Segment`s (with `Word`s when asked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mmgen.tasks.speech_recognition.word_timestamps import Word


@dataclass(frozen=True)
class Segment:
    """A timed piece of a transcript.

    start, end: seconds from the start of the audio. text: as decoded, stripped (without the
    space Whisper's tokenizer puts first; subtitle files and the command line show the same).
    words: with ``word_timestamps=True``, else None (each word keeps its leading space, as
    openai-whisper's do, so joined they give the text). tokens: the text's ids.
    seek: the mel frame (10 ms) its window started at. temperature, avg_logprob,
    compression_ratio, no_speech_prob: the checks of the window's kept pass (Whisper long-form;
    None when not computed).
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None = None
    tokens: tuple[int, ...] = ()
    seek: int = 0
    temperature: float = 0.0
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None


@dataclass(frozen=True)
class Transcript:
    """The transcript of one recording.

    text: the segments' texts joined with a space (`join_texts`; no leading space). language: the code given or
    detected (``"en"``), None when the model cannot say. segments: in order of time. duration: of the audio, in
    seconds.
    """

    text: str
    language: str | None
    segments: tuple[Segment, ...]
    duration: float


def join_texts(texts: Sequence[str]) -> str:
    """Segment texts end to end; a space goes between two that would otherwise touch (segment texts are
    stripped; texts that bring their own space keep it)."""
    joined = ""
    for text in texts:
        if joined and text and not joined[-1].isspace() and not text[0].isspace():
            joined += " "
        joined += text
    return joined


__all__ = ["Segment", "Transcript", "Word", "join_texts"]
