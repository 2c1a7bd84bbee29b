"""Text outputs: one line per input aligned with the inputs (sacrebleu-ready), and text streamed as generated."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mmgen.cli.inputs import InOrder, InputOrder
from mmgen.cli.writers.base import TemporaryJournal, Writer, read_records, sidecar
from mmgen.jobs.atomic import write_atomically
from mmgen.jobs.inputs import InputSet
from mmgen.jobs.records import Record, RecordId


def one_line(text: str | None) -> str:
    """A result on one line (its own line breaks become spaces), so line n answers input n; None (a failed
    input) is an empty line."""
    return "" if text is None else " ".join(text.splitlines())


def whole_file_failures(sources: Sequence[InputSet]) -> set[RecordId]:
    """The ids a text file's failure has when none of its lines could be read (missing, empty, a folder): such a
    file gives no line, so a line-by-line output has none for it (the failure is named on stderr)."""
    from mmgen.jobs.file_inputs import FileInputs

    return {record_id for source in sources if isinstance(source, FileInputs) and source.text
            and not source.whole_files for record_id, _, problem in source.files if problem is not None}


class TextLines(Writer):
    """Line n of the output answers input n: to stdout as lines come (each once the ones before it are printed),
    or to a file written at the end. line_of: a record -> its text (None for a failed input: an empty line). A
    file none of whose lines could be read gives no line (`whole_file_failures`)."""

    def __init__(self, target: Path | None, line_of: Callable[[Record], str | None]):
        self.target, self.line_of = target, line_of
        if target is None:
            self._temporary: TemporaryJournal | None = TemporaryJournal()
            self.journal = self._temporary.path
        else:
            self._temporary = None
            self.journal = sidecar(target)
        self._order: InputOrder | None = None
        self._in_order: InOrder | None = None
        self._no_line: set[RecordId] = set()

    def prepare(self, sources: Sequence[InputSet]) -> None:
        self._order = InputOrder(sources)
        self._no_line = whole_file_failures(sources)
        if self.target is None:
            self._in_order = InOrder(self._order, self._print)

    def _print(self, record: Record) -> None:
        if record["id"] in self._no_line:
            return
        sys.stdout.write(one_line(self.line_of(record)) + "\n")
        sys.stdout.flush()

    def take(self, records: Sequence[Record]) -> None:
        if self._in_order is not None:
            self._in_order.add(records)

    def finish(self, output: Path) -> None:
        if self._in_order is not None:
            self._in_order.flush()
            return
        lines = sorted(((self._order.place(r["id"]), one_line(self.line_of(r))) for r in read_records(output)
                        if r["id"] not in self._no_line), key=lambda pair: pair[0])
        data = "".join(line + "\n" for _, line in lines).encode("utf-8")
        write_atomically(self.target, lambda handle: handle.write(data))

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.remove()


class StreamedText(Writer):
    """Generated text on stdout as it comes (`on_text`), a line break after each input's text.

    The job must compute one input at a time, in order (batch size 1, no reordering window) for the
    pieces of one text to stay together: the command sets it so.
    """

    progress = False  # a progress bar would redraw over the text

    def __init__(self) -> None:
        self._temporary = TemporaryJournal()
        self.journal = self._temporary.path
        self._open: RecordId | None = None

    def on_text(self, record_id: RecordId, text: str) -> None:
        self._open = record_id
        sys.stdout.write(text)
        sys.stdout.flush()

    def take(self, records: Sequence[Record]) -> None:
        for record in records:
            streamed = self._open == record["id"]
            if record["error"] is None and not streamed:  # generated whole (beam search, Ray): printed now
                sys.stdout.write(record["text"])
            if record["error"] is None or streamed:  # a failed input's text stops where it failed
                sys.stdout.write("\n")
                sys.stdout.flush()
            self._open = None

    def close(self) -> None:
        self._temporary.remove()


__all__ = ["StreamedText", "TextLines", "one_line"]
