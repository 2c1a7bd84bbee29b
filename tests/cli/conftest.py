"""Fixtures of the command line's tests: tiny saved models (made once per session) and a runner.

`cli_run.invoke` runs ``mmgen`` in this process with them.
"""

from __future__ import annotations

import pytest
import soundfile
import tiny_saved as ts
from cli_models import save_speecht5, save_whisper
from tiny_speech import RATE
from tiny_speech import audio as tones
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def runner():
    return CliRunner()


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Tiny text, image and speech models saved as a download would be: {"gpt2", "bart", "nllb", "captioner",
    "whisper", "tts", "vocoder"} -> their folders."""
    root = tmp_path_factory.mktemp("cli-models")
    tts, vocoder = save_speecht5(root / "speecht5", root / "hifigan")
    return {"captioner": str(ts.save_captioner(root / "captioner")), "nllb": str(ts.save_nllb(root / "nllb")),
            "gpt2": str(ts.save_gpt2(root / "gpt2")), "bart": str(ts.save_seq2seq(root / "bart", "bart")),
            "whisper": save_whisper(root / "whisper"), "tts": tts, "vocoder": vocoder}


@pytest.fixture(scope="session")
def recordings(tmp_path_factory):
    """``long talk.wav`` (45 s), ``short.flac`` (8 s) and ``broken.wav`` (not audio)."""
    folder = tmp_path_factory.mktemp("recordings")
    soundfile.write(folder / "long talk.wav", tones(45, 1), RATE)
    soundfile.write(folder / "short.flac", tones(8, 4), RATE)
    (folder / "broken.wav").write_bytes(b"RIFF this is not audio")
    return folder


@pytest.fixture(scope="session")
def ray_instance():
    """The local Ray instance of tests/jobs' Ray tests (the same settings: its fake tasks import), shared."""
    from pathlib import Path

    ray = pytest.importorskip("ray", reason="the Ray engine needs the mmgen[ray] extra")
    pytest.importorskip("ray.data")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parents[1] / "jobs")}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    if started:
        ray.shutdown()
