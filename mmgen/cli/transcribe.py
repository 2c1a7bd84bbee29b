"""``mmgen transcribe``: recordings -> transcripts and subtitles (txt, vtt, srt, tsv, json)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mmgen.cli.inputs import Item, expand_paths
from mmgen.cli.loading import load_generator
from mmgen.cli.options import Device, Dtype, Model
from mmgen.cli.report import fail, finish, print_failure
from mmgen.jobs import run_batches

FORMATS = ("txt", "vtt", "srt", "tsv", "json", "all")
TASKS = ("transcribe", "translate")
# Suffixes kept when walking folders and globs (files named one by one are read whatever their suffix).
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".aiff", ".aif", ".au", ".caf", ".w64")
EXAMPLES = (
    "mmgen transcribe demo/samples/command.wav -m demo/asr --format txt",
    "mmgen transcribe talk.flac -m /models/whisper-small -o subtitles/",
    "mmgen transcribe 'recordings/*.wav' -m /models/whisper-small --format srt --language en --word-timestamps",
    "mmgen transcribe interview.mp3 -m /models/whisper-small --task translate --format vtt",
)

Recordings = Annotated[list[str], typer.Argument(help="Audio files, folders (walked for audio files) or glob "
                                                 "patterns ('talks/*.flac').", show_default=False)]
OutputFolder = Annotated[Path, typer.Option("--output", "-o", help="The folder to write into: one file per "
                                            "recording and format, named after it (talk.srt).")]
Windows = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Windows per model call (segments per "
                                      "alignment pass with --word-timestamps).")]
SubtitleFormat = Annotated[str, typer.Option("--format", "-f", help="txt, vtt, srt, tsv, json, or all of them.")]


def transcribe(
    inputs: Recordings,
    model: Model,
    output: OutputFolder = Path("."),
    fmt: SubtitleFormat = "all",
    language: Annotated[Optional[str], typer.Option(help="The spoken language (en, english); unset: detected "
                                                    "(Whisper).")] = None,
    task: Annotated[str, typer.Option(help="transcribe, or translate into English (Whisper).")] = "transcribe",
    word_timestamps: Annotated[bool, typer.Option("--word-timestamps/--no-word-timestamps",
                                                  help="Time each word (Whisper); subtitles then follow the "
                                                  "words.")] = False,
    batch_size: Windows = 8,
    device: Device = None,
    dtype: Dtype = None,
    generation: Optional[dict] = None,
) -> None:
    """Transcribe recordings of any length: files, folders (walked for audio files) or globs.

    Writes OUTPUT/NAME.FORMAT for each recording, as openai-whisper's command line does:
    Whisper decodes long audio window by window on its timestamps; other speech-to-text models
    decode 20 s windows that overlap by 5 s. A recording that cannot be read is reported on
    stderr and the others are still written; the exit code is then 1.
    """
    from mmgen.inputs.files.audio import load_audio
    from mmgen.tasks.speech_recognition import transcribe as transcribe_audio
    from mmgen.tasks.speech_recognition.subtitles import write_transcript

    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if task not in TASKS:
        raise fail(f"--task {task!r} is not one of {', '.join(TASKS)}.")
    if output.exists() and not output.is_dir():
        raise fail(f"--output {str(output)!r} is a file: pass a folder (it is created when missing).")
    paths = expand_paths(inputs, AUDIO_EXTENSIONS)
    generator = load_generator(model, device, dtype)
    extractor = generator.components.feature_extractor
    if extractor is None:
        raise fail(f"{model!r} reads no audio (it has no feature extractor): pass a speech-to-text model.")
    rate = int(extractor.sampling_rate)
    items = [Item(str(p), p) for p in paths]

    def process(recordings: list) -> list:
        written = []
        for path, waveform in recordings:
            transcript = transcribe_audio(generator, waveform, sampling_rate=rate, language=language, task=task,
                                          word_timestamps=word_timestamps, batch_size=batch_size,
                                          **(generation or {}))
            written.append(write_transcript(transcript, path, output, fmt))
        return written

    report = run_batches(items, process, on_failure=print_failure, batch_size=1, label="transcribe",
                         prepare=lambda item: (item.value, load_audio(item.value, rate)))
    finish(report)
