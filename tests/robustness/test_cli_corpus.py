"""Every command-line case of the corpus exits as it should with a clear message and right outputs, and the
decoders' corpus put through the commands as jobs ends with one record per input: an error naming each bad
file, a result for each good one (`cli_corpus.py`). Each runs in a child bounded in time and memory."""

from __future__ import annotations

import pytest
from cli_corpus import ALL_CASES, CLI_CASES, JOB_CASES, try_cli_case


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.name for case in ALL_CASES])
def test_cli_case_is_handled(case, tmp_path):
    handled, what, _ = try_cli_case(case, tmp_path)
    assert handled, f"{case.name}: {what}"


def test_the_cli_corpus_covers_the_issue_table():
    names = {case.name.split("/")[0] for case in CLI_CASES}
    assert names >= {"text", "stdin", "model", "options", "output", "audio", "image", "speak"}
    assert len(CLI_CASES) >= 35 and sum(len(job.cases) for job in JOB_CASES) >= 70
