"""A command's inputs: opened as the job will read them, and their order (where each input's output line goes).

`open_command_inputs` opens the arguments with `mmgen.jobs.inputs.open_inputs`, ids as the user
typed them (``demo/samples/sentences_en.txt:3``, ``photos/2024/a.jpg``, ``<stdin>:2``). The
command hands the opened sources to `mmgen.jobs.run` (which takes them as they are) and keeps
them for `InputOrder`: aligned text and stdout need each record's place among the inputs, while
the job computes them sorted by length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mmgen.cli.report import fail
from mmgen.jobs.errors import JobError
from mmgen.jobs.inputs import InputSet, open_inputs
from mmgen.jobs.records import RecordId
from mmgen.jobs.stdin_inputs import STDIN_NAME, StdinLines

_STDIN_LINE = re.compile(rf"^{re.escape(STDIN_NAME)}:(\d+)$")


def open_command_inputs(inputs: Sequence[Any], task: Any, column: str | None = None,
                        encoding: str | None = None) -> list[InputSet]:
    """The job's sources for the command's arguments; a mistake found before any work (a manifest without its
    column, duplicate ids, stdin that does not decode) stops the command (exit 2)."""
    from mmgen.inputs.errors import InputError

    try:
        return open_inputs(list(inputs), task, column, encoding=encoding, ids="typed")
    except (JobError, InputError) as exc:
        raise fail(str(exc)) from exc


Place = tuple[int, int]  # (source, position in the source)


class InputOrder:
    """Each input's place among all inputs, by id: the ids of countable sources read ahead (their counts known),
    stdin's lines by number (its count known once it ends)."""

    def __init__(self, sources: Sequence[InputSet]):
        self._places: dict[RecordId, Place] = {}
        self.counts: list[int | None] = []
        self._stdin_source: int | None = None
        for k, source in enumerate(sources):
            if isinstance(source, StdinLines):
                self._stdin_source = k
                self.counts.append(None)  # stdin streams: its lines are numbered, not listed
                continue
            n = 0
            for record_id in source.ids():
                if record_id not in self._places:
                    self._places[record_id] = (k, n)
                    n += 1
            self.counts.append(n)

    def place(self, record_id: RecordId) -> Place:
        """The input's place; an id no source named (it cannot happen for a job's records) goes last."""
        found = self._places.get(record_id)
        if found is not None:
            return found
        line = _STDIN_LINE.match(str(record_id)) if self._stdin_source is not None else None
        if line:
            return (self._stdin_source, int(line.group(1)) - 1)
        return (len(self.counts), 0)

    def following(self, place: Place) -> Place:
        """The place after ``place`` (the next source's first when a source with a known count ends)."""
        k, i = place
        k_next, i_next = k, i + 1
        while k_next < len(self.counts) and self.counts[k_next] is not None and i_next >= self.counts[k_next]:
            k_next, i_next = k_next + 1, 0
        return (k_next, i_next)

    def first(self) -> Place:
        return self.following((0, -1))


class InOrder:
    """Records handed over in any order, passed on to ``emit`` in input order as soon as the ones before are in.

    Memory: the records computed ahead of the next one due (one bucketing window of the job).
    """

    def __init__(self, order: InputOrder, emit: Any):
        self.order = order
        self.emit = emit
        self.next = order.first()
        self.waiting: dict[Place, dict[str, Any]] = {}

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        for record in records:
            self.waiting[self.order.place(record["id"])] = record
        while self.next in self.waiting:
            self.emit(self.waiting.pop(self.next))
            self.next = self.order.following(self.next)

    def flush(self) -> None:
        """Pass on every record still waiting, in order (the job is done: nothing will fill a gap)."""
        for place in sorted(self.waiting):
            self.emit(self.waiting.pop(place))


__all__ = ["InOrder", "InputOrder", "Place", "open_command_inputs"]
