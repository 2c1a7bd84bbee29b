"""The architecture coverage sweep as a test: no architecture that passes in the committed baseline
(`baseline.json`) may stop passing, in greedy or in beam search.

Slow (minutes: every generative architecture transformers registers is built and generated
with), so the sweep carries the ``coverage`` marker: ``python -m pytest -m coverage tests/coverage -s``
prints the table. ``MMGEN_COVERAGE`` picks a subset (comma-separated class names, model types or
group names); ``MMGEN_COVERAGE_JOBS`` sets how many architectures run at once (default: 2, the
CI machine's cores). An architecture whose optional dependency is missing here (timm,
torchvision for some processors) is skipped, not a regression. Refresh the baseline with
``python tests/coverage/sweep.py --write-baseline`` after a change that makes more pass.
"""

from __future__ import annotations

import os

import architectures
import pytest
import report
import results
import sweep
from architecture_check import MISSING_DEPENDENCY, STRATEGIES


def selected_architectures() -> list[architectures.Architecture]:
    names = [n.strip() for n in os.environ.get("MMGEN_COVERAGE", "").split(",") if n.strip()]
    return architectures.by_name(names) if names else list(architectures.all_architectures())


def regressions(rows: list[dict], baseline: dict[str, dict]) -> tuple[list[str], list[str], list[str]]:
    """(regressed, skipped for a missing dependency, newly passing) as "Class strategy: status (cause)" lines."""
    regressed, skipped, improved = [], [], []
    for row in rows:
        before = baseline.get(row["class_name"])
        for strategy in STRATEGIES:
            now = row[strategy]
            line = f"{row['class_name']} {strategy}: {now['status']} ({now.get('cause', '')})"
            was_passing = before is not None and results.passed(before, strategy)
            if was_passing and now["status"] == MISSING_DEPENDENCY:
                skipped.append(line)
            elif was_passing and not results.passed(row, strategy):
                regressed.append(line)
            elif not was_passing and results.passed(row, strategy):
                improved.append(f"{row['class_name']} {strategy}")
    return regressed, skipped, improved


def test_regressions_are_found_against_the_baseline():
    """The comparison itself, on hand-made rows: a lost pass regresses, a missing dependency skips."""
    def row(name, greedy, beam="pass"):
        return {"class_name": name, "greedy": {"status": greedy, "cause": "x"}, "beam": {"status": beam, "cause": ""}}
    baseline = {r["class_name"]: r for r in (row("A", "pass"), row("B", "pass"), row("C", "fail"))}
    now = [row("A", "error"), row("B", MISSING_DEPENDENCY), row("C", "pass")]
    regressed, skipped, improved = regressions(now, baseline)
    assert regressed == ["A greedy: error (x)"]
    assert skipped == ["B greedy: missing dependency (x)"]
    assert improved == ["C greedy"]


@pytest.mark.coverage
@pytest.mark.timeout(3600)
def test_no_passing_architecture_regresses(tmp_path):
    chosen = selected_architectures()
    jobs = int(os.environ.get("MMGEN_COVERAGE_JOBS", "2"))
    rows, seconds = sweep.run_sweep(chosen, jobs=jobs, progress=False)
    results.save(tmp_path / "coverage.json", rows, {"seconds": round(seconds, 1), "jobs": jobs})
    print(report.table(rows), report.summary(rows), sep="\n\n")
    print(f"\n{len(rows)} architectures in {seconds / 60:.1f} min with {jobs} job(s)")

    regressed, skipped, improved = regressions(rows, results.load(sweep.BASELINE))
    if skipped:
        print("\nSkipped, an optional dependency is missing here:\n  " + "\n  ".join(skipped))
    if improved:
        print("\nNewly passing (refresh the baseline):\n  " + "\n  ".join(improved))
    assert len(rows) == len(chosen), "an architecture gave no result row"
    assert not regressed, "passing in the baseline, not any more:\n" + "\n".join(regressed)
