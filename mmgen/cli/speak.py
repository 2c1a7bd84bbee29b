"""``mmgen speak``: text -> speech, an audio file per text at the model's sampling rate."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from mmgen.cli.inputs import open_command_inputs
from mmgen.cli.loading import job_model
from mmgen.cli.options import Encoding, JobChoices, LoadSettings, Model
from mmgen.cli.outputs import check_place, names_folder
from mmgen.cli.report import fail
from mmgen.cli.running import run_command
from mmgen.cli.writers.audio import AudioFiles

AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3")
SHORT_HELP = "Say texts: an audio file per text."
EXAMPLES = (
    "mmgen speak 'Set a timer for five minutes.' -m demo/tts -o timer.wav",
    "mmgen speak 'Hello there. How are you?' -m /models/speecht5_tts -o hello.mp3",
    "mmgen speak chapter1.txt chapter2.txt -m /models/speecht5_tts --speaker voice.npy --vocoder /models/hifigan "
    "-o audio/",
    "echo 'Read from stdin.' | mmgen speak - -m /models/speecht5_tts -o stdin.wav",
    "mmgen speak lines.csv -m demo/tts -o audio/ -f flac --resume   # a manifest: id,text",
)
# An argument that names a file: it exists, or it looks like a path (no spaces, a text file's suffix).
_PATH_LIKE = re.compile(r"^\S+\.(txt|md|jsonl|csv|parquet)$", re.IGNORECASE)

Texts = Annotated[list[str], typer.Argument(metavar="TEXTS", help="Texts to say, text files (each read whole), "
                                            "manifests (.jsonl, .csv, .parquet with id and text columns: one file "
                                            "per row), or - for stdin. Each becomes one audio file.",
                                            show_default=False)]
OutputPath = Annotated[Optional[str], typer.Option("--output", "-o", metavar="PATH", help="An audio file for one "
                                                   "text (.wav, .flac, .ogg, .mp3), or a folder: one file per text, "
                                                   "named after its input (notes.txt -> notes.wav; a text given "
                                                   "here: speech.wav, speech_1.wav, ...). Default: the current "
                                                   "folder.")]
Format = Annotated[Literal["wav", "flac", "ogg", "mp3"], typer.Option(
    "--format", "-f", help="The audio format of the files in a folder (an --output file says its own).")]


def text_sources(texts: list[str]) -> list[Any]:
    """The job's inputs: files and manifests by path, ``-`` as stdin, other arguments as texts (ids ``speech``, or
    ``speech_1``, ``speech_2``, ... for several)."""
    from mmgen.jobs import Input, ListInputs
    from mmgen.registry import resolve_input_path

    literal = [t for t in texts if t != "-" and not os.path.isfile(resolve_input_path(t)) and not _PATH_LIKE.match(t)]
    sources: list[Any] = []
    n = 0
    for text in texts:
        if text in literal:
            n += 1
            sources.append(ListInputs([Input("speech" if len(literal) == 1 else f"speech_{n}", text)], "text"))
        else:
            sources.append(text)
    return sources


def speak(
    texts: Texts,
    model: Model,
    output: OutputPath = None,
    fmt: Format = "wav",
    speaker: Annotated[Optional[Path], typer.Option(metavar="FILE", help="Speaker embedding: a .npy or .pt file "
                                                    "(SpeechT5: 512 values, an x-vector). Default: mmgen's fixed "
                                                    "vector.")] = None,
    vocoder: Annotated[Optional[str], typer.Option(metavar="DIR", help="A SpeechT5HifiGan directory. Default: "
                                                   "Griffin-Lim.")] = None,
    seed: Annotated[Optional[int], typer.Option(metavar="N", help="Seed of SpeechT5's prenet dropout (the same "
                                                "audio on every run).")] = None,
    pause: Annotated[float, typer.Option(min=0.0, metavar="SECONDS", help="Silence between sentences.")] = 0.25,
    encoding: Encoding = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, metavar="N", help="Sentences per model "
                                            "call.")] = 8,
    loading: Optional[LoadSettings] = None,
    job: Optional[JobChoices] = None,
) -> None:
    """Say texts: each argument (a text, a text file, or - for stdin) becomes one audio file.

    Long texts are cut into sentences, synthesized --batch-size at a time and joined with --pause
    seconds of silence; files are written at the model's sampling rate as each text is done. A
    text that fails is named on stderr and the others are still written; the exit code is then 1.
    """
    from mmgen.core.options import OptionError
    from mmgen.jobs import JobError, SpeakJob
    from mmgen.jobs.speak_job import check_audio_format
    from mmgen.tasks.text_to_speech import as_vocoder, speaker_embedding

    job = job or JobChoices()
    single = None
    if output is not None and not names_folder(output) and Path(output).suffix:
        single = Path(output)
        try:
            check_audio_format(single.suffix)
        except ValueError as exc:
            raise fail(f"--output {output!r}: {exc}.") from exc
        check_place(single)
        writer = AudioFiles(single.parent, single.suffix, single=single)
    else:
        folder = Path(output if output is not None else ".")
        try:
            check_audio_format(f".{fmt}")
        except ValueError as exc:
            raise fail(f"--format {fmt}: {exc}.") from exc
        check_place(folder, folder=True)
        writer = AudioFiles(folder, f".{fmt}")
    generator, model_options = job_model(model, "speak", loading, job.engine)
    embedding: Any = speaker
    if generator is not None:
        dim = getattr(generator.model.config, "speaker_embedding_dim", None)
        if speaker is not None and dim is None:
            raise fail(f"{model!r} takes no speaker embedding: leave --speaker out.")
        try:
            embedding = speaker_embedding(speaker, dim) if speaker is not None else None
            vocoder = as_vocoder(vocoder)  # loaded once here, so a bad folder stops the command before any work
        except (OptionError, OSError, ValueError) as exc:
            raise fail(str(exc)) from exc
    options = {"seed": seed} if seed is not None else {}
    try:
        task = SpeakJob(**model_options, folder=writer.folder, suffix=writer.suffix, speaker=embedding,
                        vocoder=vocoder, pause_s=pause, sentences_per_call=batch_size, **options)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    sources = open_command_inputs(text_sources(texts), task, job.column, encoding)
    try:
        writer.prepare(sources)  # names every file before any work
    except JobError as exc:
        raise fail(str(exc)) from exc
    task.targets = dict(writer.targets)
    run_command("speak", task, sources, writer, job, batch_size=1)
