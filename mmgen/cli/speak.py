"""``mmgen speak``: text -> speech, written as WAV at the model's sampling rate."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from mmgen.cli.inputs import Item
from mmgen.cli.loading import load_generator
from mmgen.cli.options import Device, Dtype, Model
from mmgen.cli.report import fail, finish, print_failure
from mmgen.jobs import run_batches

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
EXAMPLES = (
    "mmgen speak 'Set a timer for five minutes.' -m demo/tts -o timer.wav",
    "mmgen speak 'Hello there. How are you?' -m /models/speecht5_tts -o hello.wav",
    "mmgen speak chapter1.txt chapter2.txt -m /models/speecht5_tts --speaker voice.npy --vocoder /models/hifigan "
    "-o audio/",
    "echo 'Read from stdin.' | mmgen speak - -m /models/speecht5_tts -o stdin.wav",
)

Texts = Annotated[list[str], typer.Argument(help="Texts to say, text files (an argument naming a file is read "
                                            "whole), or - for stdin. Each becomes one audio file.",
                                            show_default=False)]
Sentences = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Sentences per model call.")]
OutputPath = Annotated[Optional[Path], typer.Option("--output", "-o", help="A .wav (.flac, .ogg) file for one "
                                                    "text, or a folder for several. Default: speech.wav, or the "
                                                    "current folder for several texts.")]


def _items(texts: list[str]) -> list[Item]:
    """One item per argument; names: the file's stem, ``stdin``, or ``speech`` / ``speech_<n>`` for texts."""
    literal = [t for t in texts if t != "-" and not os.path.isfile(t)]
    items, n = [], 0
    for text in texts:
        if text == "-":
            items.append(Item("stdin", ("-", None)))
        elif os.path.isfile(text):
            items.append(Item(Path(text).stem, ("file", text)))
        else:
            n += 1
            items.append(Item("speech" if len(literal) == 1 else f"speech_{n}", ("text", text)))
    return items


def _read(item: Item) -> str:
    kind, value = item.value
    if kind == "-":
        return sys.stdin.read()
    if kind == "file":
        with open(value, encoding="utf-8") as handle:
            return handle.read()
    return value


def _text(item: Item) -> tuple[str, str]:
    """(name, text); an empty text is this input's failure, not the job's."""
    text = _read(item)
    if not text.strip():
        raise ValueError("the text is empty: there is nothing to say")
    return item.name, text


def _targets(items: list[Item], output: Path | None) -> list[Path]:
    """Where each text's audio goes (rules in ``--output``'s help)."""
    if output is not None and output.suffix.lower() in AUDIO_SUFFIXES and not output.is_dir():
        if len(items) != 1:
            raise fail(f"--output {str(output)!r} is one file and there are {len(items)} texts: pass a folder.")
        return [output]
    if output is None and len(items) == 1:
        return [Path("speech.wav") if items[0].name.startswith("speech") else Path(f"{items[0].name}.wav")]
    folder = output if output is not None else Path(".")
    if folder.exists() and not folder.is_dir():
        raise fail(f"--output {str(folder)!r} is a file without an audio suffix: pass a .wav file or a folder.")
    names = [item.name for item in items]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise fail(f"several inputs would be written to {duplicates[0]}.wav: give them different names.")
    return [folder / f"{name}.wav" for name in names]


def speak(
    texts: Texts,
    model: Model,
    output: OutputPath = None,
    speaker: Annotated[Optional[Path], typer.Option(help="Speaker embedding: a .npy or .pt file (SpeechT5: 512 "
                                                    "values, an x-vector). Default: mmgen's fixed vector.")] = None,
    vocoder: Annotated[Optional[str], typer.Option(help="A SpeechT5HifiGan directory. Default: Griffin-Lim.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of SpeechT5's prenet dropout (the same audio on every "
                                                "run).")] = None,
    pause: Annotated[float, typer.Option(min=0.0, help="Seconds of silence between sentences.")] = 0.25,
    batch_size: Sentences = 8,
    device: Device = None,
    dtype: Dtype = None,
) -> None:
    """Say texts: each argument (a text, a text file, or - for stdin) becomes one audio file.

    Long texts are cut into sentences, synthesized as a batch (--batch-size sentences per call)
    and joined with --pause seconds of silence. Files are written at the model's sampling rate.
    A text that fails is reported on stderr and the others are still written; the exit code is
    then 1.
    """
    from mmgen.core.options import OptionError
    from mmgen.tasks.text_to_speech import as_vocoder, speaker_embedding
    from mmgen.tasks.text_to_speech import speak as speak_text

    items = _items(texts)
    targets = _targets(items, output)
    generator = load_generator(model, device, dtype)
    dim = getattr(generator.model.config, "speaker_embedding_dim", None)
    try:
        embedding = speaker_embedding(speaker, dim) if speaker is not None and dim is not None else None
        voice = as_vocoder(vocoder)
    except (OptionError, OSError) as exc:
        raise fail(str(exc)) from exc
    if speaker is not None and dim is None:
        raise fail(f"{model!r} takes no speaker embedding: leave --speaker out.")
    options = {"seed": seed} if seed is not None else {}
    where = {item.name: target for item, target in zip(items, targets)}

    def process(batch: list) -> list:
        written = []
        for name, text in batch:
            speech = speak_text(generator, text, speaker_embeddings=embedding, vocoder=voice, batch_size=batch_size,
                                pause_s=pause, **options)
            where[name].parent.mkdir(parents=True, exist_ok=True)
            written.append(speech.write(where[name]))
        return written

    report = run_batches(items, process, on_failure=print_failure, batch_size=1, label="speak", prepare=_text)
    finish(report)
