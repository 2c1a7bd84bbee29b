"""``mmgen transcribe``: recordings -> subtitles per recording (txt, vtt, srt, tsv, json), or the job's records.

As openai-whisper's command line: segments printed as they are decoded, one file per recording
and format in the output folder, its options under their names (``--initial-prompt``,
``--temperature 0,0.2,...``, ``--best-of``, ``--beam-size``, ``--max-line-width``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from mmgen.cli.inputs import open_command_inputs
from mmgen.cli.loading import job_model
from mmgen.cli.options import BatchSize, JobChoices, LoadSettings, Model, parse_floats
from mmgen.cli.outputs import check_place
from mmgen.cli.report import fail
from mmgen.cli.running import run_command
from mmgen.cli.writers.base import Writer
from mmgen.cli.writers.live import LiveSegments, WithLiveLines
from mmgen.cli.writers.subtitles import SubtitleFolder
from mmgen.cli.writers.tables import RECORD_FORMATS, RecordsFile

FORMATS = ("txt", "vtt", "srt", "tsv", "json", "all")
TASKS = ("transcribe", "translate")
WHISPER_PANEL = "Whisper options (openai-whisper's, by the same names)"
SUBTITLE_PANEL = "Subtitle layout (with --word-timestamps)"
GENERATION_EXCLUDED = ("temperature",)  # a fallback list here (--temperature 0,0.2,...)
SHORT_HELP = "Transcribe recordings into subtitles."
EXAMPLES = (
    "mmgen transcribe demo/samples/command.wav -m demo/asr --format txt",
    "mmgen transcribe talk.flac -m /models/whisper-small -o subtitles/",
    "mmgen transcribe 'recordings/*.wav' -m /models/whisper-small --format srt --language en --word-timestamps "
    "--max-line-width 42",
    "mmgen transcribe manifest.csv -m /models/whisper-small -o transcripts.jsonl --engine ray --resume",
    "mmgen transcribe interview.mp3 -m /models/whisper-small --task translate --temperature 0,0.2,0.4 --best-of 5",
)

Recordings = Annotated[list[str], typer.Argument(metavar="INPUTS", help="Audio files, folders (walked for audio "
                                                 "files), globs ('talks/*.flac'), manifests (.jsonl, .csv, .parquet "
                                                 "with id and path columns), or - for paths on stdin.",
                                                 show_default=False)]
OutputPlace = Annotated[str, typer.Option("--output", "-o", metavar="PATH", help="A folder: one file per recording "
                                          "and format, named after it (talk.srt; recordings of the same name keep "
                                          "theirs apart: talk.wav.srt, talk.flac.srt); a recording whose files "
                                          "exist is skipped (--overwrite redoes it). Or a .jsonl / .parquet file of "
                                          "records, written as they complete (--resume goes on).")]
Format = Annotated[Literal["txt", "vtt", "srt", "tsv", "json", "all"], typer.Option(
    "--format", "-f", help="The subtitle format in the output folder, or all of them.")]


def _whisper(*names: str, **kwargs: Any) -> Any:
    return typer.Option(*names, rich_help_panel=WHISPER_PANEL, **kwargs)


def _layout(*names: str, **kwargs: Any) -> Any:
    return typer.Option(*names, rich_help_panel=SUBTITLE_PANEL, **kwargs)


def writer_for(output: str, fmt: str, overwrite: bool, cue_options: dict[str, Any]) -> Writer:
    """A .jsonl / .parquet file: the job's records; anything else: a folder of subtitle files."""
    path = Path(output)
    if path.suffix.lower().lstrip(".") in RECORD_FORMATS and not path.is_dir():
        check_place(path)
        return RecordsFile(path)
    check_place(path, folder=True)
    return SubtitleFolder(path, fmt, overwrite=overwrite, cue_options=cue_options)


def transcribe(
    inputs: Recordings,
    model: Model,
    output: OutputPlace = ".",
    fmt: Format = "all",
    live: Annotated[bool, typer.Option("--live/--no-live", help="Print each segment as it is decoded, "
                                       "[00:00.000 --> 00:01.800]  text, on stdout (and no progress bar).")] = True,
    language: Annotated[Optional[str], _whisper(metavar="LANG", help="The spoken language (en, english); unset: "
                                                "detected.")] = None,
    task: Annotated[Literal["transcribe", "translate"], _whisper(help="transcribe, or translate into English.")]
    = "transcribe",
    word_timestamps: Annotated[bool, _whisper("--word-timestamps", help="Time each word; subtitles then follow "
                                              "the words.")] = False,
    initial_prompt: Annotated[Optional[str], _whisper(metavar="TEXT", help="Text the first window is conditioned "
                                                      "on (names, spellings, punctuation style).")] = None,
    condition_on_previous_text: Annotated[Optional[bool], _whisper(
        "--condition-on-previous-text/--no-condition-on-previous-text",
        help="Give each window the text before it. Default: the model's setting.")] = None,
    temperature: Annotated[Optional[str], _whisper(metavar="T[,T]", help="Temperatures tried in turn when a "
                                                   "window fails the checks below (0: greedy), e.g. "
                                                   "0,0.2,0.4,0.6,0.8,1.0.")] = None,
    best_of: Annotated[Optional[int], _whisper(min=1, metavar="N", help="Candidates sampled at a temperature above "
                                               "0; the most likely is kept.")] = None,
    compression_ratio_threshold: Annotated[Optional[float], _whisper(metavar="X", help="Decode again, hotter, when "
                                                                     "the text's gzip ratio is above this "
                                                                     "(2.4).")] = None,
    logprob_threshold: Annotated[Optional[float], _whisper(metavar="X", help="Decode again, hotter, when the mean "
                                                           "log-probability is below this (-1.0).")] = None,
    no_speech_threshold: Annotated[Optional[float], _whisper(metavar="P", help="Silence: the no-speech probability "
                                                             "is above this and the log-probability below "
                                                             "--logprob-threshold (0.6).")] = None,
    max_line_width: Annotated[Optional[int], _layout(min=1, metavar="N", help="Characters per subtitle line "
                                                     "before a break.")] = None,
    max_line_count: Annotated[Optional[int], _layout(min=1, metavar="N", help="Lines per subtitle.")] = None,
    highlight_words: Annotated[bool, _layout("--highlight-words", help="Underline each word as it is spoken "
                                             "(srt, vtt).")] = False,
    batch_size: BatchSize = 8,
    generation: Optional[dict] = None,
    loading: Optional[LoadSettings] = None,
    job: Optional[JobChoices] = None,
) -> None:
    """Transcribe recordings of any length: files, folders (walked for audio files), globs or manifests.

    Writes OUTPUT/NAME.FORMAT for each recording, as openai-whisper's command line does, and prints
    each segment as it is decoded. Whisper decodes long audio window by window on its timestamps,
    with temperature fallback; other speech-to-text models decode 20 s windows that overlap by 5 s.
    A .jsonl or .parquet output holds a record per recording instead: id, text, language,
    duration, segments, error. A recording that cannot be read is named on stderr and the others
    are still written; the exit code is then 1. The batch size counts recordings (and windows) per call.
    """
    from mmgen.jobs import TranscribeJob

    job = job or JobChoices()
    cue_options = {k: v for k, v in (("max_line_width", max_line_width), ("max_line_count", max_line_count),
                                     ("highlight_words", highlight_words or None)) if v is not None}
    if cue_options and not word_timestamps:
        raise fail(f"--{next(iter(cue_options)).replace('_', '-')} lays subtitles out word by word: add "
                   "--word-timestamps.")
    writer = writer_for(output, fmt, job.overwrite, cue_options)
    options: dict[str, Any] = dict(generation or {})
    whisper = {"language": language, "initial_prompt": initial_prompt, "best_of": best_of,
               "condition_on_prev_tokens": condition_on_previous_text, "temperature": parse_floats(temperature,
                                                                                                  "--temperature"),
               "compression_ratio_threshold": compression_ratio_threshold, "logprob_threshold": logprob_threshold,
               "no_speech_threshold": no_speech_threshold}
    options.update({k: v for k, v in whisper.items() if v is not None})
    if task != "transcribe":
        options["task"] = task
    if word_timestamps:
        options["word_timestamps"] = True
    _, model_options = job_model(model, "transcribe", loading, job.engine)
    printer = LiveSegments(several=True) if live else None
    on_segment = printer.on_segment if printer is not None and job.engine == "local" else None
    transcriber = TranscribeJob(**model_options, on_segment=on_segment, batch_size=batch_size, **options)
    if printer is not None:
        writer.progress = False
        if job.engine != "local":
            writer = WithLiveLines(writer, printer)
    sources = open_command_inputs(inputs, transcriber, job.column)
    if printer is not None:  # a recording's lines are headed by its name when there are several
        printer.several = sum(1 for source in sources for _ in source.ids()) > 1
    run_command("transcribe", transcriber, sources, writer, job, batch_size=batch_size)
