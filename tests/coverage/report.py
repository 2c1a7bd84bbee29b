"""The coverage table, the summary by group and the failures by cause, as text."""

from __future__ import annotations

import collections
import re
from typing import Any

from architectures import GROUPS
from results import passed

STRATEGIES = ("greedy", "beam")


def table(rows: list[dict[str, Any]]) -> str:
    """One line per architecture: group, class, model type, greedy and beam status, the first cause."""
    lines = [f"{'group':24} {'architecture':48} {'model type':26} {'greedy':18} {'beam':18} cause"]
    for row in sorted(rows, key=lambda r: (GROUPS.index(r["group"]), r["class_name"])):
        causes = [row[s]["cause"] for s in STRATEGIES if row.get(s, {}).get("cause")]
        lines.append(f"{row['group']:24} {row['class_name']:48} {row['model_type']:26} "
                     f"{row['greedy']['status']:18} {row['beam']['status']:18} {(causes or [''])[0][:110]}")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> str:
    """Passing architectures per group and strategy, with percentages, and a total line."""
    lines = [f"{'group':24} {'classes':>7}  {'greedy pass':>16}  {'beam pass':>16}"]
    for group in (*GROUPS, "all"):
        members = [r for r in rows if group in (r["group"], "all")]
        if not members:
            continue
        counts = [sum(passed(r, s) for r in members) for s in STRATEGIES]
        cells = [f"{c:>4}/{len(members):<4} {100 * c / len(members):5.1f}%" for c in counts]
        lines.append(f"{group:24} {len(members):>7}  {cells[0]:>16}  {cells[1]:>16}")
    statuses = collections.Counter((s, r[s]["status"]) for r in rows for s in STRATEGIES)
    for strategy in STRATEGIES:
        parts = ", ".join(f"{status} {n}" for (s, status), n in sorted(statuses.items()) if s == strategy)
        lines.append(f"{strategy}: {parts}")
    return "\n".join(lines)


_MODEL_CLASS = re.compile(r"\b[A-Z]\w*(?:For[A-Z]\w*|Model|_V3)\b")


def cause_key(cause: str) -> str:
    """A cause with model class names, numbers and shapes blurred, so the same failure groups across models
    ("Qwen2_5_VLForConditionalGeneration places tokens with M-RoPE" -> "<model> places tokens with M-RoPE")."""
    key = _MODEL_CLASS.sub("<model>", cause)
    key = re.sub(r"\d+", "N", key)
    return key[:140]


def failures_by_cause(rows: list[dict[str, Any]]) -> str:
    """Non-passing (architecture, strategy) pairs grouped by status and blurred cause, largest first."""
    groups: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for row in rows:
        for strategy in STRATEGIES:
            result = row[strategy]
            if result["status"] != "pass":
                groups[(result["status"], cause_key(result.get("cause") or ""))].append(
                    f"{row['class_name']}[{strategy[0]}]")
    lines = []
    for (status, cause), members in sorted(groups.items(), key=lambda item: -len(item[1])):
        lines.append(f"{len(members):4}  {status}: {cause}\n      {' '.join(sorted(members))}")
    return "\n".join(lines)
