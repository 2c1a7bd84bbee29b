"""Peak memory of reading 1, 20 and 60 minutes of audio: whole (`load_audio`) against 30 s windows
(`iter_audio_windows`). Each reading runs in a fresh subprocess; its peak resident memory is
``ru_maxrss``, and the table also gives it above the process's resident memory after its imports.

    python tests/robustness/measure_audio_memory.py [--rate 44100] [--channels 2] [--minutes 1 20 60]
    python tests/robustness/measure_audio_memory.py --code /path/to/older/checkout --modes whole

The recordings are WAV PCM-16 written block by block (a 440 Hz tone plus noise); a 60-minute
44.1 kHz stereo file takes 635 MB of disk in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = r"""
import json, resource, sys
path, mode, code = sys.argv[1], sys.argv[2], sys.argv[3]
if code:  # measure another checkout's mmgen: put it before the installed (editable) one
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, code)
import numpy as np
import torch
torch.set_num_threads(1)
from mmgen.inputs.files.audio import load_audio
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "whole":
    samples = load_audio(path, 16000)
    count, total = len(samples), float(samples.sum())
else:
    from mmgen.inputs.files.audio import iter_audio_windows
    count, total = 0, 0.0
    for _, window in iter_audio_windows(path, 16000, 30.0):
        count += len(window)
        total += float(window.sum())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kb": base, "peak_kb": peak, "samples": count}))
"""


def write_recording(path: Path, minutes: int, rate: int, channels: int) -> None:
    rng = np.random.default_rng(0)
    block = rate * 10
    t = np.arange(block) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16") as out:
        for _ in range(minutes * 6):
            frames = tone[:, None] + 0.05 * rng.standard_normal((block, channels))
            out.write(frames.astype(np.float32))


def measure(path: Path, mode: str, code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), mode, code], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=44_100)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 20, 60])
    parser.add_argument("--code", default="", help="a checkout whose mmgen to measure (default: the installed one)")
    parser.add_argument("--modes", nargs="+", default=["whole", "windows"], choices=["whole", "windows"])
    args = parser.parse_args()
    print(f"{args.rate} Hz, {args.channels} channels, PCM-16 WAV -> 16 kHz mono")
    print(f"{'minutes':>7} {'mode':>14} {'peak MB':>8} {'above imports MB':>17} {'samples out':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for minutes in args.minutes:
            path = Path(folder) / f"{minutes}min.wav"
            write_recording(path, minutes, args.rate, args.channels)
            for mode in args.modes:
                found = measure(path, mode, args.code)
                print(f"{minutes:>7} {mode + (' (30 s)' if mode == 'windows' else ''):>14} "
                      f"{found['peak_kb'] / 1024:>8.0f} {(found['peak_kb'] - found['base_kb']) / 1024:>17.0f} "
                      f"{found['samples']:>12}", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
