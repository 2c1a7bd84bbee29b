"""Every case of the bad-input corpus gets a right result or an InputError naming the file, the reason and
the fix: never a library's exception, never a hang (each case runs in a child bounded in time and memory)."""

from __future__ import annotations

import pytest
from corpus import CASES, try_case


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_is_handled(case, tmp_path):
    outcome = try_case(case, tmp_path)
    assert outcome.handled, f"{case.name}: {outcome.what}"


def test_the_corpus_covers_every_kind_of_input():
    kinds = {case.kind for case in CASES}
    assert kinds == {"audio", "image", "text", "stdin"}
    assert len(CASES) >= 75
    assert {case.expect for case in CASES} == {"ok", "warning", "error", "ok or error"}
