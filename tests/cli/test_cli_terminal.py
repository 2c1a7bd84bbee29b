"""Terminal sessions, recorded through a pseudo-terminal (the ``pty`` module): what a person at a terminal sees.

``mmgen generate`` prints the text as it is generated (pieces arrive one after the other while
the command runs, and together they are the completion); ``mmgen transcribe`` prints whisper's
``[00:00.000 --> 00:05.000]  text`` lines window by window while it decodes a long recording.
Each session runs ``python -m mmgen`` in a fresh process whose stdout and stderr are the pty;
the recording is a list of (seconds since start, bytes read).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import numpy as np
import soundfile

from mmgen.registry import SAMPLES_DIR

LIVE_LINE = re.compile(rb"\[\d\d:\d\d\.\d{3} --> \d\d:\d\d\.\d{3}\]  \S[^\r\n]*")


def record_session(args: list[str], cwd, timeout: float = 240) -> tuple[list[tuple[float, bytes]], float, int]:
    """Run ``python -m mmgen ARGS`` on a pty; (the chunks it printed with their times, its end time, exit code)."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "mmgen", *args], stdin=subprocess.DEVNULL, stdout=terminal,
                               stderr=terminal, cwd=cwd, env=env, close_fds=True)
    os.close(terminal)
    chunks: list[tuple[float, bytes]] = []
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([controller], [], [], 0.05)
            if ready:
                try:
                    data = os.read(controller, 4096)
                except OSError:  # the other end closed: the process is done
                    break
                if not data:
                    break
                chunks.append((time.monotonic() - started, data))
            elif process.poll() is not None:
                break
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    return chunks, time.monotonic() - started, code


def text_of(chunks) -> str:
    return b"".join(data for _, data in chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_generate_streams_its_text_on_a_terminal(tmp_path):
    prompt = "count up : seven , eight ,"
    chunks, ended, code = record_session(["generate", "-m", "demo/lm", "-p", prompt, "--max-new-tokens", "12",
                                          "--threads", "1"], tmp_path)
    session = text_of(chunks)
    assert code == 0, session
    import mmgen

    expected = mmgen.load("demo/lm").generate([prompt], max_new_tokens=12)[0].text
    assert session.startswith(expected + "\n"), session  # the text on its own line; the summary after it
    # Streamed: the completion arrived in several pieces, the first well before the last.
    pieces = [(t, data) for t, data in chunks if data.strip() and not data.startswith(b"generate:")]
    text_pieces = [(t, d) for t, d in pieces if d.decode("utf-8", "replace").strip() in expected]
    assert len(text_pieces) >= 3, chunks
    assert text_pieces[-1][0] > text_pieces[0][0], chunks


def test_transcribe_prints_segments_live_on_a_terminal(tmp_path):
    command, rate = soundfile.read(SAMPLES_DIR / "command.wav", dtype="float32")
    gap = np.zeros(int(rate * 0.8), dtype=np.float32)
    long = np.concatenate([command, gap] * 5)  # ~14 s: three of demo/asr's 5 s windows, decoded one after another
    soundfile.write(tmp_path / "long.wav", long, rate)
    chunks, ended, code = record_session(["transcribe", "long.wav", "-m", "demo/asr", "-o", "out", "-f", "txt",
                                          "--threads", "1"], tmp_path)
    session = text_of(chunks)
    assert code == 0, session
    arrivals = [t for t, data in chunks for _ in LIVE_LINE.finditer(data)]
    lines = LIVE_LINE.findall("".join(session).encode())
    assert len(lines) >= 3, session
    assert arrivals[0] < arrivals[-1], chunks  # line by line as windows are decoded, not all at the end
    written = (tmp_path / "out" / "long.txt").read_text().splitlines()
    assert [line.split(b"]  ", 1)[1].decode().strip() for line in lines] == written
    assert "set a timer for five minutes" in session


def test_lines_typed_on_a_terminal_are_answered_one_by_one(tmp_path):
    """``mmgen translate -`` with a person typing: each line is translated once its Enter is pressed, before the
    next one is typed (not once a batch or 64 KiB has filled)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "mmgen", "translate", "-", "-m", "demo/translate", "--threads",
                                "1"], stdin=terminal, stdout=terminal, stderr=terminal, cwd=tmp_path, close_fds=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(terminal)
    seen = b""

    def read_until(expected: bytes, timeout: float = 120) -> bytes:
        nonlocal seen
        end = time.monotonic() + timeout
        while expected not in seen and time.monotonic() < end:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                seen += os.read(controller, 4096)
        return seen

    try:
        os.write(controller, b"she has four boats\n")
        assert b"elle a quatre bateaux" in read_until(b"elle a quatre bateaux"), seen
        os.write(controller, b"we want nine tables\n")
        assert b"nous voulons neuf tables" in read_until(b"nous voulons neuf tables"), seen
        os.write(controller, b"\x04")  # end of input
        assert b"2 items (0 failed)" in read_until(b"2 items"), seen
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)


def test_an_offline_command_prints_its_results_and_no_hub_kernel_notices(tmp_path):
    """With HF_HUB_OFFLINE=1 (the README's offline use), transformers' import-time probe of the hub's attention
    kernels made the `kernels` package print a "Skipping publisher trust check" line per kernel."""
    sources = tmp_path / "en.txt"
    sources.write_text("she has four hundred and six grey boats\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "mmgen", "translate", "--model", "demo/translate", str(sources),
                           "--threads", "1"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "elle a quatre cent six bateaux gris"
    assert "publisher trust" not in done.stderr and "kernels-community" not in done.stderr, done.stderr
