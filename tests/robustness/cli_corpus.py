"""The bad-input corpus through the command line: every case a user can type, judged like the decoders' cases.

Two kinds of cases, each run by `try_cli_case` in a forked child bounded in time and memory (the
child runs ``mmgen ARGS`` in-process with typer's runner, in a folder the case made):

- `CLI_CASES`: one command line each (`corpus.py`'s issue table: encodings, a missing path among
  many, an empty file, the wrong model, absurd option sizes, unknown devices and models, a
  pickle checkpoint, a broken generation config, output places that cannot be written, names
  that would collide or climb out, ``speak -o out.mp3``, a second run over finished files). The
  case says the exit code (0 done; 1 an input failed and the others were done; 2 the command
  could not start), words stderr must hold (the input as typed, the reason, the fix), and what
  the outputs must be;
- `JOB_CASES`: the decoders' corpus (`corpus.CASES`) put through a command as one job: every
  audio file through ``mmgen transcribe``, every image through ``mmgen caption``, the small text
  files through ``mmgen translate``. Each bad file must end as its error record naming it, each
  good one with its result, nothing lost: one record per input, exit 1.

Never a traceback, never a hang. The children are forked from a fresh server process that has
imported mmgen (``forkserver``): a child forked from a process whose torch already ran (pytest's)
can find torch's thread pool broken, and a fresh interpreter per case would spend seconds on imports.
Run as a script to print the counts:

    python tests/robustness/cli_corpus.py
"""

from __future__ import annotations

import codecs
import json
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bad_files import encoded, tone, wav_bytes
from corpus import CASES, Case

TIME_LIMIT_S = 120.0  # a command loads a demo model in its child
MEMORY_LIMIT_BYTES = 4 << 30


@dataclass(frozen=True)
class CliCase:
    """One command line and what it must do (module docstring). make: writes the case's files into a folder and
    returns the arguments after ``mmgen``; check: None when the outputs are right, else what is wrong."""

    name: str
    make: Callable[[Path], list[str]]
    code: int
    says: tuple[str, ...] = ()
    check: Callable[[Path, Ran], str | None] | None = None
    stdin: bytes | None = None


@dataclass(frozen=True)
class Ran:
    """What a case's command did: its arguments (made in the child), exit code, output and time."""

    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    problem: str | None = None  # a hang, a crash, a traceback


# -- file makers for the command line ---------------------------------------------------------------

def text_file(folder: Path, name: str, data: bytes) -> str:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return name


def wav_file(folder: Path, name: str, seconds: float = 1.0, seed: int = 0) -> str:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = tone(16_000, seconds, hz=float(rng.uniform(200, 800)))
    suffix = Path(name).suffix.lower()
    (folder / name).write_bytes(encoded(samples, 16_000, "FLAC" if suffix == ".flac" else "WAV"))
    return name


def records(path: Path) -> dict[Any, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def files_are(*names: str) -> Callable[[Path, Ran], str | None]:
    def check(folder: Path, _: Ran) -> str | None:
        found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        missing = [n for n in names if n not in found]
        return f"missing {missing} among {found}" if missing else None

    return check


def an_mp3(folder: Path, _: Ran) -> str | None:
    import soundfile

    path = folder / "out.mp3"
    return None if path.is_file() and soundfile.info(path).format == "MP3" else "out.mp3 is not an MP3 file"


def pickle_checkpoint(folder: Path) -> str:
    import torch
    import transformers as T

    config = T.GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2)
    torch.save(T.GPT2LMHeadModel(config).state_dict(), _model_folder(folder, config) / "pytorch_model.bin")
    return "pickled"


def bad_generation_config(folder: Path) -> str:
    import transformers as T

    config = T.GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2)
    model = T.GPT2LMHeadModel(config)
    model.save_pretrained(_model_folder(folder, config))
    (folder / "pickled" / "generation_config.json").write_text("{ not json")
    return "pickled"


def _model_folder(folder: Path, config: Any) -> Path:
    path = folder / "pickled"
    path.mkdir(exist_ok=True)
    config.save_pretrained(path)
    return path


LATIN = "Ça coûte cinq francs.\n".encode("latin-1")
GOOD = b"she has four hundred and six grey boats\nwe want nine tables\n"


def _cli_cases() -> list[CliCase]:
    t = "translate"
    m = ["-m", "demo/translate"]
    return [
        CliCase("text/latin-1", lambda f: [t, text_file(f, "latin.txt", LATIN), *m], 1,
                ("latin.txt", "not valid UTF-8", "--encoding")),
        CliCase("text/latin-1-with-encoding", lambda f: [t, text_file(f, "latin.txt", LATIN), "--encoding", "latin-1",
                                                         *m], 0),
        CliCase("text/utf-8-bom", lambda f: [t, text_file(f, "bom.txt", codecs.BOM_UTF8 + GOOD), *m, "-f", "jsonl"], 0,
                check=lambda f, ran: None if '"source": "she has' in ran.stdout else f"BOM kept: {ran.stdout[:80]}"),
        CliCase("text/utf-16-bom", lambda f: [t, text_file(f, "wide.txt", GOOD.decode().encode("utf-16")), *m], 0),
        CliCase("text/unknown-encoding", lambda f: [t, text_file(f, "a.txt", GOOD), "--encoding", "klingon-8", *m], 1,
                ("klingon-8", "codec name")),
        CliCase("stdin/invalid-utf-8", lambda f: [t, "-", *m], 1, ("<stdin>", "line 2", "--encoding"),
                stdin=b"good line\nbad \xe9 line\n"),
        CliCase("text/one-bad-file-in-a-folder-of-ten", lambda f: [t, _folder_of_ten(f), *m, "-o", "out.jsonl"], 1,
                ("docs/f5.txt", "--encoding"),
                check=lambda f, _: None if sum(r["error"] is None for r in records(f / "out.jsonl").values()) == 18
                else "the good files were not all done"),
        CliCase("text/missing-path-among-many", lambda f: [t, text_file(f, "a.txt", GOOD), "gone.txt", *m, "-o",
                                                           "fr.txt"], 1,
                ("gone.txt", "no such file", "1 input failed: gone.txt"),
                check=lambda f, _: None if len((f / "fr.txt").read_text().splitlines()) == 2 else "lines lost"),
        CliCase("text/empty-file", lambda f: [t, text_file(f, "empty.txt", b""), *m], 1, ("empty.txt", "empty")),
        CliCase("text/item-not-a-string", lambda f: [t, text_file(f, "m.jsonl", b'{"id": 1, "text": ["a", "b"]}\n'
                                                                               b'{"id": 2, "text": "one boat"}\n'),
                                                    *m, "-f", "jsonl"], 1, ("must be a text",)),
        CliCase("text/csv-without-id", lambda f: [t, text_file(f, "table.csv", b"a,b\n1,2\n"), *m], 2,
                ("table.csv", "no 'id' column")),
        CliCase("text/duplicate-ids", lambda f: [t, text_file(f, "m.csv", b"id,text\n1,a\n1,b\n"), *m], 2,
                ("Duplicate input ids",)),
        CliCase("model/speech-model-to-translate", lambda f: [t, text_file(f, "a.txt", GOOD), "-m", "demo/asr"], 2,
                ("demo/asr", "speech-to-text", "mmgen transcribe")),
        CliCase("model/speech-model-to-generate", lambda f: ["generate", "-p", "hi", "-m", "demo/asr"], 2,
                ("demo/asr", "mmgen transcribe")),
        CliCase("model/text-model-to-transcribe", lambda f: ["transcribe", wav_file(f, "a.wav"), "-m",
                                                             "demo/translate"], 2,
                ("demo/translate", "mmgen translate")),
        CliCase("model/unknown-target-language", lambda f: [t, text_file(f, "a.txt", GOOD), *m, "-t", "xx_YY"], 2,
                ("xx_YY", "one fixed language pair")),
        CliCase("model/demo-nope", lambda f: [t, text_file(f, "a.txt", GOOD), "-m", "demo/nope"], 2, ("demo/nope",)),
        CliCase("model/device-banana", lambda f: [t, text_file(f, "a.txt", GOOD), *m, "--device", "banana"], 2,
                ("banana", "--device cpu")),
        CliCase("model/device-cuda-without-gpu", lambda f: [t, text_file(f, "a.txt", GOOD), *m, "--device", "cuda"],
                2, ("cuda",)),
        CliCase("model/pickle-checkpoint", lambda f: ["generate", "-p", "hi", "-m", pickle_checkpoint(f)], 2,
                ("--allow-pickle",)),
        CliCase("model/generation-config-not-json", lambda f: ["generate", "-p", "hi", "-m", bad_generation_config(f)],
                2, ("generation_config.json", "not valid JSON")),
        CliCase("options/max-new-tokens-1e9", lambda f: ["generate", "-p", "count up :", "-m", "demo/lm",
                                                         "--max-new-tokens", str(10**9)], 2, ("max_new_tokens",)),
        CliCase("options/num-beams-100000", lambda f: [t, text_file(f, "a.txt", GOOD), *m, "--num-beams", "100000"], 2,
                ("num_beams",)),
        CliCase("options/seed-2-to-the-70", lambda f: ["generate", "-p", "count up :", "-m", "demo/lm", "--seed",
                                                       str(2**70), "--do-sample"], 2, ("seed",)),
        CliCase("options/one-megabyte-prompt", lambda f: ["generate", text_file(f, "long.txt", b"word " * 200_000),
                                                          "-m", "demo/lm", "--max-new-tokens", "4"], 1,
                ("long.txt:1", "200001 tokens long", "at most 128")),
        CliCase("output/under-a-file", lambda f: [t, text_file(f, "a.txt", GOOD), *m, "-o",
                                                  text_file(f, "plain", b"") + "/fr.txt"], 2, ("is a file",)),
        CliCase("output/folder-that-cannot-be-made", lambda f: [t, text_file(f, "a.txt", GOOD), *m, "-o",
                                                                "/proc/mmgen/fr.txt"], 2, ("cannot be made",)),
        CliCase("output/unknown-extension", lambda f: [t, text_file(f, "a.txt", GOOD), *m, "-o", "fr.xlsx"], 2,
                ("--format",)),
        CliCase("output/same-names-in-two-folders", lambda f: ["transcribe", wav_file(f, "a/talk.wav"),
                                                               wav_file(f, "b/talk.wav", seed=1),
                                                               wav_file(f, "a/talk.flac", seed=2), "-m", "demo/asr",
                                                               "-o", "subs", "-f", "txt", "--no-live"], 0,
                check=files_are("subs/talk.wav.txt", "subs/talk.wav-2.txt", "subs/talk.flac.txt")),
        CliCase("output/names-never-climb-out", lambda f: ["speak", text_file(f, "lines.csv", b"id,text\n../../up,"
                                                                                            b"stop.\n"),
                                                           "-m", "demo/tts", "-o", "audio/"], 0,
                check=lambda f, _: None if (f / "audio" / "up.wav").exists() and not (f.parent / "up.wav").exists()
                else "the file left the output folder"),
        CliCase("output/speak-mp3", lambda f: ["speak", "Set a timer.", "-m", "demo/tts", "-o", "out.mp3"], 0,
                check=an_mp3),
        CliCase("output/rerun-over-finished-files", lambda f: _finished(f), 0, ("1 already done",)),
        CliCase("audio/header-says-1-hz", lambda f: ["transcribe", text_file(f, "slow.wav", wav_bytes(
            (tone(16_000) * 32767).astype(np.int16)[:32_000], 1)), "-m", "demo/asr", "-o", "subs", "--no-live"], 1,
                ("slow.wav", "header")),
        CliCase("audio/wav-cut-short", lambda f: ["transcribe", text_file(f, "cut.wav", wav_bytes(
            (tone(16_000) * 32767).astype(np.int16), 16_000)[: 44 + 16_000]), "-m", "demo/asr", "-o", "subs",
                                                  "--no-live"], 0, ("warning:", "cut.wav")),
        CliCase("image/paths-on-stdin-one-missing", lambda f: ["caption", "-", "-m", "demo/caption"], 1,
                ("gone.png", "no such file"), stdin=b"gone.png\n"),
        CliCase("speak/empty-text", lambda f: ["speak", text_file(f, "blank.txt", b"  \n"), "hello.", "-m",
                                               "demo/tts", "-o", "audio/"], 1, ("blank.txt", "empty"),
                check=files_are("audio/speech.wav")),
    ]


def _folder_of_ten(folder: Path) -> str:
    for n in range(10):
        text_file(folder, f"docs/f{n}.txt", LATIN if n == 5 else GOOD)
    return "docs"


def _finished(folder: Path) -> list[str]:
    """A subtitle already written by an earlier run: the second run skips it."""
    wav_file(folder, "talk.wav")
    text_file(folder, "subs/talk.txt", b"written before\n")
    return ["transcribe", "talk.wav", "-m", "demo/asr", "-o", "subs", "-f", "txt", "--no-live"]


CLI_CASES: list[CliCase] = _cli_cases()


# -- the decoders' corpus through a command -----------------------------------------------------------

# Text cases too big for a 2-core test run through a model (they are read in seconds; translating 100,000
# lines is not; a 1 MB line is `options/one-megabyte-prompt`); a .csv given to a command is a manifest
# (`text/csv-without-id`); cases whose reading depends on an option the job case does not pass are left out.
SLOW_TEXT = ("text/100000-lines", "text/invalid-utf-8-line-100000", "text/one-megabyte-line", "text/csv-extension")
NO_INPUTS = ("text/only-a-bom",)  # a file without lines gives no input, so no record


@dataclass(frozen=True)
class JobCase:
    """The files of one kind of `corpus.CASES`, through one command as one job (module docstring)."""

    name: str
    kind: str
    command: list[str]
    cases: list[Case] = field(default_factory=list)


def _job_cases() -> list[JobCase]:
    def of(kind: str) -> list[Case]:
        return [c for c in CASES if c.kind == kind and not c.options and c.name not in SLOW_TEXT]

    return [JobCase("jobs/every-audio-file-through-transcribe", "audio",
                    ["transcribe", "-m", "demo/asr", "--no-live", "-o", "records.jsonl"], of("audio")),
            JobCase("jobs/every-image-through-caption", "image", ["caption", "-m", "demo/caption", "-o",
                                                                  "records.jsonl"], of("image")),
            JobCase("jobs/every-text-file-through-translate", "text",
                    ["translate", "-m", "demo/translate", "-o", "records.jsonl", "--max-new-tokens", "8"], of("text"))]


JOB_CASES: list[JobCase] = _job_cases()


def job_case_as_cli(job: JobCase) -> CliCase:
    """A `JobCase` as a command line over the files its cases make, and the check of its records."""

    def make(folder: Path) -> list[str]:
        made = []
        for case in job.cases:
            sub = folder / case.name.split("/", 1)[1]
            sub.mkdir(parents=True)
            made.append(case.make(sub).relative_to(folder).as_posix())
        return [job.command[0], *made, *job.command[1:]]

    def check(folder: Path, ran: Ran) -> str | None:
        found = records(folder / "records.jsonl")
        for case, name in zip(job.cases, ran.args[1:]):
            mine = [r for i, r in found.items() if str(i) == name or str(i).startswith(name + ":")]
            if case.name in NO_INPUTS:
                if mine:
                    return f"{case.name}: records for a file without lines: {mine[:1]}"
                continue
            if not mine:
                return f"{case.name}: no record for {name}: lost"
            if case.expect == "error" and not any(r["error"] is not None and name.split("/")[-1] in r["error"]
                                                  for r in mine):
                return f"{case.name}: no error record naming {name} ({mine[:1]})"
            if case.expect in ("ok", "warning") and (not mine or any(r["error"] is not None for r in mine)):
                return f"{case.name}: no result for {name} ({mine[:1]})"
        return None

    return CliCase(job.name, make, 1, ("failed:",), check)


# -- running a case ------------------------------------------------------------------------------------

def _child(name: str, folder: Path, connection: Any, memory_limit: int) -> None:
    mapped = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_limit, resource.RLIM_INFINITY))
    os.chdir(folder)
    try:
        import torch
        from typer.testing import CliRunner

        from mmgen.cli.app import app

        torch.set_num_threads(1)
        case = next(c for c in ALL_CASES if c.name == name)
        args = case.make(folder)
        result = CliRunner().invoke(app, args, input=case.stdin)
        problem = None
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problem = f"raised {type(result.exception).__name__}: {result.exception}"
        connection.send((args, result.exit_code, result.stdout[-20_000:], result.stderr[-20_000:], problem))
    except MemoryError:
        connection.send(([], -1, "", "", f"MemoryError: more than {memory_limit >> 30} GB"))
    except BaseException as exc:  # noqa: BLE001 - the harness reports whatever escaped
        connection.send(([], -1, "", "", f"the harness failed: {type(exc).__name__}: {exc}"))


_CONTEXT: Any = None


def _context() -> Any:
    """The forkserver, its modules imported once (module docstring)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["cli_corpus", "mmgen.cli.app", "mmgen.generator", "mmgen.jobs",
                                         "mmgen.tasks"])
    return _CONTEXT


def run_case(case: CliCase, folder: Path, time_limit: float = TIME_LIMIT_S,
             memory_limit: int = MEMORY_LIMIT_BYTES) -> Ran:
    """``mmgen ARGS`` of ``case`` in a child in ``folder``, bounded in time and memory."""
    context = _context()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(case.name, folder, send, memory_limit))
    started = time.perf_counter()
    child.start()
    send.close()
    done = receive.poll(time_limit)
    seconds = time.perf_counter() - started
    if not done:
        child.kill()
        child.join()
        return Ran([], -1, "", "", seconds, f"no answer within {time_limit:.0f} s (a hang)")
    try:
        args, code, stdout, stderr, problem = receive.recv()
    except EOFError:
        child.join()
        return Ran([], -1, "", "", seconds, f"the command crashed the process (exit code {child.exitcode})")
    child.join()
    return Ran(args, code, stdout, stderr, seconds, problem)


def judge(case: CliCase, ran: Ran, folder: Path) -> tuple[bool, str]:
    """(handled, what happened): the exit code, the words, no traceback, the outputs."""
    if ran.problem:
        return False, ran.problem
    if "Traceback" in ran.stderr or "Traceback" in ran.stdout:
        return False, "a traceback: " + ran.stderr[-300:]
    if ran.code != case.code:
        return False, f"exit {ran.code}, expected {case.code}: {ran.stderr[-300:]}"
    said = " ".join(ran.stderr.split()).lower()
    missing = [w for w in case.says if w.lower() not in said]
    if missing:
        return False, f"stderr without {missing}: {ran.stderr[-300:]}"
    wrong = case.check(folder, ran) if case.check is not None else None
    if wrong:
        return False, f"wrong output: {wrong}"
    last = ran.stderr.strip().splitlines()[-1] if ran.stderr.strip() else ""
    return True, f"exit {ran.code}: {last[:140]}"


def try_cli_case(case: CliCase, folder: Path) -> tuple[bool, str, float]:
    ran = run_case(case, folder)
    handled, what = judge(case, ran, folder)
    return handled, what, ran.seconds


ALL_CASES: list[CliCase] = CLI_CASES + [job_case_as_cli(job) for job in JOB_CASES]


def main() -> None:
    import logging
    import tempfile

    import torch

    torch.set_num_threads(1)
    logging.getLogger("mmgen").propagate = False
    handled = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index, case in enumerate(ALL_CASES):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            ok, what, seconds = try_cli_case(case, folder)
            handled += ok
            print(f"{'ok  ' if ok else 'FAIL'} {case.name:45s} {seconds:6.2f}s  {what}", flush=True)
    files = sum(len(job.cases) for job in JOB_CASES)
    print(f"{handled} of {len(ALL_CASES)} command-line cases handled ({len(CLI_CASES)} commands, {files} corpus "
          f"files through {len(JOB_CASES)} jobs)", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
