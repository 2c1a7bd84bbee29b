"""Job runner throughput: `mmgen.jobs.run` vs a plain loop calling `model.generate`, measured in the same run.

    python benchmarks/bench_jobs.py [--images 256] [--clips 64] [--prompts 256] [--batch-size 8] [--repeats 2]
                                    [--threads 1] [--only caption|speech|generate]

Data, generated here: ``--images`` scenes of the demo captioner's domain rendered at mixed sizes
(48 to 1600 pixels a side, mixed aspect, PNG and JPEG), and ``--clips`` espeak-ng utterances of
mixed length (0.4 to 4.5 s, within demo/asr's 5 s window) written as 22.05 kHz WAV and 44.1 kHz
FLAC, so every clip is decoded and resampled; ``--prompts`` held-out counting lines of demo/lm cut
after 1 to 5 of their numbers (`bench_continuous.counting_prompts`), one per line of a text file:
continuations of about 3 to 27 tokens, each ending on its own EOS.

For each modality, the same inputs and batch size:

- plain loop: for each batch in input order, decode the files (Pillow / soundfile + torchaudio),
  run the processor, ``model.generate``, decode the tokens: what one writes by hand;
- job runner: ``run(CaptionJob(generator) / TranscribeJob(generator), folder, out.parquet)``:
  background decoding, length buckets, committed Parquet output;
- for speech, each output against the plain loop that makes it: the job's default (segments with
  Whisper's timestamps, seeking past each clip's last timestamp as transformers does) against
  ``model.generate(..., return_timestamps=True)``, and the job with ``return_timestamps=False`` (one
  window per clip, the text alone) against the plain ``model.generate``. Their texts differ where
  transformers decodes words from the padding past the end of a short clip ("previous song
  three" for "previous song"): the tokens are the same, and mmgen leaves out a segment that starts
  after the audio ends;
- job variants that show where the time goes: ``workers=0`` (no background reading) and, for
  speech, ``mmgen.tasks.transcribe`` in a plain loop (the job's per-recording compute alone);
  for text generation, ``GenerateJob`` computes through a running batch of ``--batch-size`` rows
  (continuous batching), and the variant ``fixed batches`` turns that off (the job's length
  buckets and ``mmgen.generate`` on batches, as the other tasks run).

Runs are interleaved after a warm-up; the best of ``--repeats`` is reported. torch runs on
``--threads`` threads in every variant (the job's reader threads are extra). Prints items/s and
the job / plain ratio (wall time), then where the CPU time goes: the plain loop's decoding and
preprocessing vs its generate, the job's main thread vs its reader threads, and the critical
path a machine with ``1 + --workers`` free cores would give (on a shared, loaded machine the
wall times cannot show the overlap; CPU times can).

On the quiet 2-core machine (load average below 1), after the speech job's features moved to the
prepare thread and Whisper's encoder ran once per window, ``--only speech --repeats 3`` in four
runs: the job with segments and timestamps 1.32x, 1.42x, 1.53x, 1.42x the timestamped plain loop;
the text alone 1.77x, 1.77x, 1.44x, 1.77x the plain loop. CPU seconds of one run: plain loop with
timestamps 1.21 (0.26 decoding + preprocessing), the job's main thread 0.61, readers 0.18, prepare
thread 0.10; text alone 0.98 against 0.35. The same day: captioning 1.61x, text generation 1.59x
(continuous batching; fixed batches 1.36x).

Then Whisper's encoder on each batch's first windows moved to the prepare thread as well
(`TranscribeJob.prepare`, in the batches the decoding takes, so the records stay the same),
reading builds torchaudio's resampling kernel once per pair of rates, and the timestamp rules take
fewer operations per step. ``--only speech --repeats 3`` with main's code and this code
alternately, two runs each, the machine quiet (load average 0.2 to 0.9): the job with segments and
timestamps 1.47x, 1.39x the timestamped plain loop before, 1.70x, 1.89x after; the text alone
1.74x, 1.65x before, 2.19x, 2.30x after. CPU seconds with timestamps: the job's main thread 0.47,
0.49 before, 0.34, 0.35 after; readers 0.17, 0.14 before, 0.09, 0.09 after; prepare thread 0.06,
0.07 before, 0.20, 0.23 after; the plain loop 0.82 to 0.91. The same, minutes earlier with the
machine shared with other jobs (load average 3 to 5): the job with segments and timestamps 0.74x,
1.32x the timestamped plain loop before, 1.15x, 2.04x after;
the text alone 1.29x, 1.42x before, 1.35x, 2.28x after. Three more runs after (load average 2.7
to 5.2): 1.18x, 1.57x, 0.94x with timestamps, 1.17x, 1.28x, 1.05x the text alone; on a machine
this loaded the wall times mostly show the other jobs. CPU seconds, steadier, with timestamps:
the job's main thread 0.68 and 0.56 before, 0.44 and 0.44 after; readers 0.18, 0.16 before, 0.11,
0.12 after; prepare thread 0.08, 0.07 before, 0.23, 0.32 after; the plain loop 0.94 to 1.11. The
main thread's share without a profiler (one run, load average 2): decoder forwards 0.19 s (123 of
them), the encoder on the second windows 0.04 (7), the processors 0.03, the rest 0.10.

Printed on a shared 2-CPU machine (4 other jobs running; issue 13's target: the job runner at
least 1.5x the plain loop). ``python benchmarks/bench_jobs.py`` on main (2697c16), before the
text generation row::

    torch 2.14.1+cu130, 1 torch thread(s), 2 CPUs (load average 14.0), batch 8, job readers 2

    captioning (demo/caption): 256 items, wall time (best of the repeats)
    variant                                       items/s  vs plain  same text as plain
    plain loop (model.generate)                      29.1     1.00x               100%
    job runner                                       29.6     1.02x               100%
    job runner, no background readers                32.8     1.13x               100%
      CPU seconds, plain loop: 2.98 (1.65 decoding + preprocessing, 1.33 model.generate and the rest)
      CPU seconds, job runner: main thread 1.59 (compute 1.57), 2 reader thread(s) 1.16 in all
      critical path on a dedicated 2-core machine: 1.59 s -> job / plain 1.87x; with 3 free cores: 1.59 s -> 1.87x (projections from CPU time, not measurements)

    clips: 0.4 to 4.1 s, 107 s in all

    transcription (demo/asr): 64 items, wall time (best of the repeats)
    variant                                       items/s  vs plain  same text as plain
    plain loop (model.generate)                      28.3     1.00x               100%
    job runner                                       17.5     0.62x                92%
    job runner, no background readers                11.4     0.40x                92%
    job runner, return_timestamps=False              20.7     0.73x                98%
    plain loop of mmgen.tasks.transcribe              5.3     0.19x                92%
      plain loop (model.generate): transcripts equal to the spoken text: 88%
      job runner: transcripts equal to the spoken text: 86%
      job runner, no background readers: transcripts equal to the spoken text: 86%
      job runner, return_timestamps=False: transcripts equal to the spoken text: 88%
      plain loop of mmgen.tasks.transcribe: transcripts equal to the spoken text: 86%
      CPU seconds, plain loop: 1.02 (0.24 decoding + preprocessing, 0.78 model.generate and the rest)
      CPU seconds, job runner: main thread 1.02 (compute 1.01), 2 reader thread(s) 0.22 in all
      critical path on a dedicated 2-core machine: 1.02 s -> job / plain 1.00x; with 3 free cores: 1.02 s -> 1.00x (projections from CPU time, not measurements)

``python benchmarks/bench_jobs.py --only generate --repeats 3``, with continuous batching in
`GenerateJob` (the fixed-batches variant is the job as it ran before it)::

    torch 2.14.1+cu130, 1 torch thread(s), 2 CPUs (load average 7.7), batch 8, job readers 2

    text generation (demo/lm, max_new_tokens=48): 256 items, wall time (best of the repeats)
    variant                                       items/s  vs plain  same text as plain
    plain loop (model.generate)                      32.6     1.00x               100%
    job runner (continuous batching)                 46.8     1.43x               100%
    job runner, fixed batches                        42.3     1.30x               100%

The fixed-batches job is ahead of the plain loop here mostly because its length buckets sort the
prompts by length, and a counting prompt that gives more numbers leaves fewer to continue, so
sorting happens to group similar output lengths; continuous batching does not depend on that.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf
import torch
import torchaudio
from cpu_clock import CpuClock, TimedTask
from job_inputs import make_clips, make_images

import mmgen
from mmgen.jobs import CaptionJob, GenerateJob, JobTask, TranscribeJob, run

# -- plain loops -----------------------------------------------------------------------------------

def plain_captions(generator, paths: list[Path], batch_size: int, io: CpuClock, total: CpuClock) -> list[str]:
    with total:
        return _plain_captions(generator, paths, batch_size, io)


def _plain_captions(generator, paths: list[Path], batch_size: int, io: CpuClock) -> list[str]:
    from PIL import Image

    processor, tokenizer, model = generator.components.image_processor, generator.tokenizer, generator.model
    texts = []
    for start in range(0, len(paths), batch_size):
        with io:
            images = [Image.open(p).convert("RGB") for p in paths[start:start + batch_size]]
            pixel_values = processor(images=images, return_tensors="pt").pixel_values
        with torch.inference_mode():
            tokens = model.generate(pixel_values=pixel_values)
        texts += [t.strip() for t in tokenizer.batch_decode(tokens, skip_special_tokens=True)]
    return texts


def plain_transcripts(generator, paths: list[Path], batch_size: int, io: CpuClock, total: CpuClock,
                      timestamps: bool = False) -> list[str]:
    with total:
        return _plain_transcripts(generator, paths, batch_size, io, timestamps)


def _plain_transcripts(generator, paths: list[Path], batch_size: int, io: CpuClock, timestamps: bool) -> list[str]:
    extractor, tokenizer, model = generator.components.feature_extractor, generator.tokenizer, generator.model
    rate = extractor.sampling_rate
    texts = []
    for start in range(0, len(paths), batch_size):
        with io:
            waves = []
            for path in paths[start:start + batch_size]:
                audio, source_rate = sf.read(path, dtype="float32")
                waves.append(torchaudio.functional.resample(torch.from_numpy(audio), source_rate, rate).numpy())
            features = extractor(waves, sampling_rate=rate, return_tensors="pt").input_features
        with torch.inference_mode():
            tokens = model.generate(input_features=features, return_timestamps=timestamps)
        texts += [t.strip() for t in tokenizer.batch_decode(tokens, skip_special_tokens=True)]
    return texts


def plain_generations(tokenizer, model, prompts: list[str], batch_size: int, new_tokens: int) -> list[str]:
    """Batches of ``batch_size`` prompts in input order, left-padded, through ``model.generate``."""
    texts = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True)
        with torch.inference_mode():
            tokens = model.generate(**batch, max_new_tokens=new_tokens, do_sample=False)
        texts += [t.strip() for t in tokenizer.batch_decode(tokens[:, batch["input_ids"].shape[1]:],
                                                            skip_special_tokens=True)]
    return texts


class FixedGenerateJob(GenerateJob):
    """`GenerateJob` without continuous batching: fixed length buckets through ``compute``, as before it."""

    continuous = False


# -- measuring -------------------------------------------------------------------------------------

def job_texts(output: Path, paths: list[Path] | list[str]) -> list[str]:
    """The records' texts in input order: ``paths``' names, or the ids themselves."""
    import pyarrow.parquet as pq

    records = {r["id"]: r for r in pq.read_table(output).to_pylist()}
    return [(records[p.name if isinstance(p, Path) else p]["text"] or "").strip() for p in paths]


def best_of(variants: dict[str, Callable[[], list[str]]], repeats: int) -> dict[str, tuple[float, list[str]]]:
    """Each variant's best time over ``repeats`` interleaved runs (after one warm-up each), and its texts."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    texts: dict[str, list[str]] = {}
    for name, fn in variants.items():
        texts[name] = fn()  # warm-up
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (min(times[name]), texts[name]) for name in variants}


def report(title: str, count: int, results: dict[str, tuple[float, list[str]]],
           reference: list[str] | None = None, baselines: dict[str, str] | None = None) -> None:
    """Items/s of each variant and its ratio to its plain loop (``baselines``: variant -> the plain variant making
    the same output; by default `PLAIN`)."""
    baselines = baselines or {}
    print(f"\n{title}: {count} items, wall time (best of the repeats)")
    print(f"{'variant':56} {'items/s':>8} {'vs plain':>9} {'same text as plain':>19}")
    for name, (seconds, texts) in results.items():
        base_seconds, base_texts = results[baselines.get(name, PLAIN)]
        same = sum(a == b for a, b in zip(texts, base_texts)) / count
        print(f"{name:56} {count / seconds:8.1f} {base_seconds / seconds:8.2f}x {same:18.0%}")
    if reference is not None:
        for name, (_, texts) in results.items():
            right = sum(t.lower().strip(" .") == r.lower() for t, r in zip(texts, reference)) / count
            print(f"  {name}: transcripts equal to the spoken text: {right:.0%}")


def cpu_breakdown(plain: Callable[[CpuClock, CpuClock], object], job: Callable[[TimedTask], object],
                  task: JobTask, workers: int, title: str = "") -> None:
    """Where the CPU time goes, and the wall time a machine with ``1 + workers`` free cores would give."""
    io, total = CpuClock(), CpuClock()
    plain(io, total)
    timed, main = TimedTask(task), CpuClock()
    with main:
        job(timed)
    off_main = timed.reads.seconds + timed.prepares.seconds
    on_two_cores = max(main.seconds, off_main)  # the readers and the prepare thread share the one core left
    on_more_cores = max(main.seconds, timed.reads.seconds / max(workers, 1), timed.prepares.seconds)
    if title:
        print(f"  {title}:")
    print(f"  CPU seconds, plain loop: {total.seconds:.2f} ({io.seconds:.2f} decoding + preprocessing, "
          f"{total.seconds - io.seconds:.2f} model.generate and the rest)")
    print(f"  CPU seconds, job runner: main thread {main.seconds:.2f} (compute {timed.computes.seconds:.2f}), "
          f"{workers} reader thread(s) {timed.reads.seconds:.2f} in all, prepare thread {timed.prepares.seconds:.2f}")
    print(f"  critical path on a dedicated 2-core machine: {on_two_cores:.2f} s -> job / plain "
          f"{total.seconds / on_two_cores:.2f}x; with {1 + workers} free cores: {on_more_cores:.2f} s -> "
          f"{total.seconds / on_more_cores:.2f}x (projections from CPU time, not measurements)")


PLAIN = "plain loop (model.generate)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=48, help="max_new_tokens, above every continuation")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["caption", "speech", "generate"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} torch thread(s), {os.cpu_count()} CPUs (load average "
          f"{os.getloadavg()[0]:.1f}), batch {args.batch_size}, job readers {args.workers}")
    work = Path(tempfile.mkdtemp(prefix="bench_jobs_"))
    unused = CpuClock()

    def job(task: JobTask, folder: Path, paths: list[Path], workers: int) -> list[str]:
        output = work / f"{task.name}.parquet"
        run(task, folder, output, batch_size=args.batch_size, workers=workers, overwrite=True, progress=False)
        return job_texts(output, paths)

    try:
        if args.only in (None, "caption"):
            folder = work / "images"
            folder.mkdir()
            paths = make_images(folder, args.images)
            generator = mmgen.load("demo/caption", device="cpu")
            results = best_of({
                PLAIN: lambda: plain_captions(generator, paths, args.batch_size, unused, CpuClock()),
                "job runner": lambda: job(CaptionJob(generator), folder, paths, args.workers),
                "job runner, no background readers": lambda: job(CaptionJob(generator), folder, paths, 0),
                "job runner, processor in the readers": lambda: job(CaptionJob(generator, encode_in_readers=True),
                                                                    folder, paths, args.workers),
            }, args.repeats)
            report("captioning (demo/caption)", len(paths), results)
            cpu_breakdown(lambda io, total: plain_captions(generator, paths, args.batch_size, io, total),
                          lambda task: job(task, folder, paths, args.workers), CaptionJob(generator), args.workers)
        if args.only in (None, "speech"):
            folder = work / "clips"
            folder.mkdir()
            paths, said = make_clips(folder, args.clips)
            durations = [sf.info(p).duration for p in paths]
            print(f"\nclips: {min(durations):.1f} to {max(durations):.1f} s, {sum(durations):.0f} s in all")
            generator = mmgen.load("demo/asr", device="cpu")

            def transcribe_loop() -> list[str]:
                from mmgen.tasks import transcribe

                from mmgen.inputs.files import load_audio

                return [transcribe(generator, load_audio(p, 16000), sampling_rate=16000).text.strip() for p in paths]

            timed = "plain loop (model.generate, return_timestamps=True)"
            text_job = "job runner, return_timestamps=False"
            results = best_of({
                PLAIN: lambda: plain_transcripts(generator, paths, args.batch_size, unused, CpuClock()),
                timed: lambda: plain_transcripts(generator, paths, args.batch_size, unused, CpuClock(), True),
                "job runner (timestamps, segments)": lambda: job(TranscribeJob(generator), folder, paths,
                                                                 args.workers),
                "job runner (timestamps), no background readers": lambda: job(TranscribeJob(generator), folder,
                                                                              paths, 0),
                text_job: lambda: job(TranscribeJob(generator, return_timestamps=False), folder, paths, args.workers),
                "plain loop of mmgen.tasks.transcribe": transcribe_loop,
            }, args.repeats)
            report("transcription (demo/asr)", len(paths), results, reference=said,
                   baselines={name: timed for name in results if name not in (PLAIN, text_job)})
            cpu_breakdown(lambda io, total: plain_transcripts(generator, paths, args.batch_size, io, total, True),
                          lambda task: job(task, folder, paths, args.workers), TranscribeJob(generator), args.workers,
                          "with timestamps")
            cpu_breakdown(lambda io, total: plain_transcripts(generator, paths, args.batch_size, io, total),
                          lambda task: job(task, folder, paths, args.workers),
                          TranscribeJob(generator, return_timestamps=False), args.workers, "text only")
        if args.only in (None, "generate"):
            from bench_continuous import counting_prompts

            prompts = counting_prompts(args.prompts, seed=0)
            source = work / "prompts.txt"
            source.write_text("".join(p + "\n" for p in prompts), encoding="utf-8")
            ids = [f"prompts.txt:{n}" for n in range(1, len(prompts) + 1)]
            generator = mmgen.load("demo/lm", device="cpu")

            def generate_job(task: GenerateJob) -> list[str]:
                output = work / "generate.parquet"
                run(task, source, output, batch_size=args.batch_size, workers=args.workers, overwrite=True,
                    progress=False)
                return job_texts(output, ids)

            options = {"max_new_tokens": args.new_tokens}
            results = best_of({
                PLAIN: lambda: plain_generations(generator.tokenizer, generator.model, prompts, args.batch_size,
                                                 args.new_tokens),
                "job runner (continuous batching)": lambda: generate_job(GenerateJob(generator, **options)),
                "job runner, fixed batches": lambda: generate_job(FixedGenerateJob(generator, **options)),
            }, args.repeats)
            report(f"text generation (demo/lm, max_new_tokens={args.new_tokens})", len(prompts), results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
