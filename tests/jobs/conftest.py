"""Fixtures of the job runner's tests: one local Ray instance for every Ray test (starting Ray takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def ray_instance():
    """A local Ray instance shared by the session's Ray tests; its workers import this folder's fake tasks.

    Four logical CPUs on any machine: the actors take a fraction of one each, and Ray Data's read
    tasks get the rest (an actor pool holding every CPU starves them).
    """
    ray = pytest.importorskip("ray", reason="the Ray engine needs the mmgen[ray] extra")
    pytest.importorskip("ray.data")
    started = not ray.is_initialized()  # tests/cli starts the same instance when its Ray tests come first
    if started:
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    if started:
        ray.shutdown()
