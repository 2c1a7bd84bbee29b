"""The sweep's result per architecture, and its JSON file.

A row: ``{"class_name", "model_type", "group", "seconds", "greedy": {"status", "cause", ...},
"beam": {...}}``. A stage that stopped the check early (build, inputs, a timeout or crash) gives
its status and cause to every strategy that did not run.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from architectures import Architecture

PASS = "pass"
FORMAT_VERSION = 1


def row_from_records(arch: Architecture, records: list[dict[str, Any]], strategies: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {"class_name": arch.class_name, "model_type": arch.model_type, "group": arch.group}
    stopper = next((r for r in records if r["stage"] in ("build", "inputs", "harness") and r["status"] != "ok"), None)
    for strategy in strategies:
        record = next((r for r in records if r["stage"] == strategy), None)
        if record is None:
            record = stopper or {"status": "crash", "cause": "no record"}
        row[strategy] = {k: record.get(k) for k in ("status", "cause", "seconds", "new_tokens") if k in record}
    row["seconds"] = round(sum(r.get("seconds") or 0.0 for r in records if r["stage"] in strategies)
                           + next((r.get("seconds") or 0.0 for r in records if r["stage"] == "inputs"), 0.0), 2)
    return row


def passed(row: dict[str, Any], strategy: str) -> bool:
    return row.get(strategy, {}).get("status") == PASS


def save(path: pathlib.Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    document = {"format": FORMAT_VERSION, **meta, "architectures": sorted(rows, key=lambda r: r["class_name"])}
    path.write_text(json.dumps(document, indent=1) + "\n")


def load_document(path: pathlib.Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, the run's metadata: commit, versions, seconds) of a result file."""
    document = json.loads(path.read_text())
    return document["architectures"], {k: v for k, v in document.items() if k != "architectures"}


def load(path: pathlib.Path) -> dict[str, dict[str, Any]]:
    """Rows by class name."""
    document = json.loads(path.read_text())
    return {row["class_name"]: row for row in document["architectures"]}
