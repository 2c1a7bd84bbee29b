"""Which command a model is for, told from its config before any work.

A model reads one kind of input and makes one kind of output; `kind_of` names it from the
``AutoModelFor...`` class `mmgen.generator.auto_class_for` picks (a config is enough: no weights
are read). `check_model_fits` stops a command given a model of another kind with the command to
use instead: a speech model given to ``translate`` says ``mmgen transcribe``, not "no such file"
once per input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmgen.cli.report import fail


@dataclass(frozen=True)
class Kind:
    """A kind of model: what it is called and the commands that run it."""

    name: str
    commands: tuple[str, ...]


SPEECH_TO_TEXT = Kind("a speech-to-text model", ("transcribe",))
IMAGE_TO_TEXT = Kind("an image-to-text model", ("caption",))
VISION_LANGUAGE = Kind("a vision-language model", ("caption", "generate", "translate", "summarize"))
TEXT_TO_SPEECH = Kind("a text-to-speech model", ("speak",))
TEXT_TO_TEXT = Kind("a text model", ("translate", "summarize", "generate"))

# What each command reads and makes, for the message.
NEEDS = {
    "transcribe": "a speech-to-text model (Whisper, Speech2Text)",
    "caption": "an image-to-text model (BLIP, GIT, ViT-GPT2, a vision-language model)",
    "speak": "a text-to-speech model (SpeechT5)",
    "translate": "a text-to-text model (Marian, NLLB, M2M100, T5, or a chat model)",
    "summarize": "a text-to-text model (BART, T5, Pegasus, or a chat model)",
    "generate": "a text model (a causal LM such as GPT-2 or Llama, or a sequence-to-sequence model)",
}


def kind_of(config: Any) -> Kind | None:
    """The `Kind` of a transformers config (None when mmgen cannot generate with it)."""
    import transformers as T

    from mmgen.generator import auto_class_for
    from mmgen.loading import LoadError

    try:
        auto = auto_class_for(config)
    except LoadError:
        return None
    if auto is T.AutoModelForSpeechSeq2Seq:
        return SPEECH_TO_TEXT
    if auto is T.AutoModelForImageTextToText:
        return IMAGE_TO_TEXT if config.model_type == "vision-encoder-decoder" else VISION_LANGUAGE
    if auto in (T.AutoModelForTextToSpectrogram, T.AutoModelForTextToWaveform):
        return TEXT_TO_SPEECH
    return TEXT_TO_TEXT


def check_model_fits(model_name: str, config: Any, command: str) -> None:
    """Stop ``command`` (exit 2) when ``model_name``'s config is of a kind it cannot run, naming the command to use."""
    kind = kind_of(config)
    if kind is None or command in kind.commands:
        return
    instead = " or ".join(f"mmgen {c}" for c in kind.commands)
    architecture = (getattr(config, "architectures", None) or [config.model_type])[0]
    raise fail(f"{model_name!r} is {kind.name} ({architecture}), and mmgen {command} needs {NEEDS[command]}. "
               f"Use {instead} for this model (mmgen {kind.commands[0]} --model {model_name} ...), or pass "
               f"{NEEDS[command].split(' (')[0]} to mmgen {command}.")


__all__ = ["Kind", "NEEDS", "check_model_fits", "kind_of"]
