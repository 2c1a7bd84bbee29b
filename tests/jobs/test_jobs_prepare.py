"""A task's batch-level ``prepare`` runs one batch ahead in a background thread; its failure costs nothing."""

from __future__ import annotations

import threading

from mmgen.jobs.compute import BatchComputer, record_batches
from mmgen.jobs.prefetch import Loaded


class Doubling:
    """compute records each value and the thread that prepared it; prepare doubles, and fails on a batch holding 13."""

    fields = {"value": None, "prepared_in": None}
    continuous = False

    def __init__(self):
        self.prepared_batches = 0

    def prepare(self, values):
        if 13 in values:
            raise ValueError("13 cannot be prepared")
        self.prepared_batches += 1
        return [(v * 2, threading.current_thread().name) for v in values]

    def compute(self, values):
        return [{"value": v[0], "prepared_in": v[1]} if isinstance(v, tuple) else {"value": v, "prepared_in": None}
                for v in values]


def test_batches_are_prepared_off_the_main_thread_in_order_and_a_failed_prepare_computes_as_read():
    task = Doubling()
    items = [Loaded(str(i), i, length=1.0) for i in range(20)]
    items[5] = Loaded("5", error="unreadable")
    batches = list(record_batches(BatchComputer(task), items, batch_size=4, window=8))
    records = {r["id"]: r for batch in batches for r in batch}
    assert sorted(records, key=int) == [str(i) for i in range(20)]
    assert records["5"]["error"] == "unreadable"
    batch_of_13 = {"12", "13", "14", "15"}
    for i in range(20):
        record = records[str(i)]
        if i == 5:
            continue
        if str(i) in batch_of_13:
            assert (record["value"], record["prepared_in"]) == (i, None)
        else:
            assert record["value"] == 2 * i and record["prepared_in"].startswith("mmgen-prepare")
    assert task.prepared_batches == 4
