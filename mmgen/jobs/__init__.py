"""Jobs: running a task over many inputs, where a bad input is recorded and the rest go on.

- `batches`: the in-memory batch runner the commands use (`run_batches`, `Item`, `Report`).
"""

from mmgen.jobs.batches import Failure, Item, Report, run_batches

__all__ = ["Failure", "Item", "Report", "run_batches"]
