"""How many intra-op threads torch should decode with: from the model's size and the machine's free cores.

    threads = choose_threads(model)           # an int; OMP_NUM_THREADS, or an explicit count, wins
    configure_threads(model)                   # sets torch's intra-op threads to that, and returns it
    with use_threads(1): ...                   # a count for a block, the previous one restored after

``mmgen.load(..., threads="auto")`` (the default; ``--threads`` on the command line, and each job's
model load) runs `configure_threads` once the model is loaded, with the load average read before
loading began (`check_threads` checks the option first).

The rule (`thread_count`, a pure function of three numbers):

- A model under `SMALL_MODEL` parameters decodes on one thread, whatever the machine: its
  products are too small to share, so a second thread only adds an OpenMP hand-over per operator
  (hundreds per step).
- A larger one takes the free cores: ``floor(cores - load + HEADROOM)``, at least 1, at most
  ``cores``. ``cores`` is what this process may run on (``os.sched_getaffinity``); ``load`` is
  the one-minute load average (``os.getloadavg``: processes running or waiting for a core). A
  second thread pays only while its core is idle: when another process holds that core even part
  of the time, every operator's threads wait at OpenMP's barrier for the descheduled one.

Measured with ``benchmarks/bench_threads.py`` on a 2-core AMD EPYC (AVX-512) shared with other
work: greedy decoding at batch 1, 2-thread wall time over 1-thread wall time (above 1: two
threads are slower), median of interleaved pairs sorted by the cores other processes kept busy
during the pair (pairs in brackets; ``--busy 1`` added a spinning process for some of them):

    model (parameters)            idle (< 0.25)   under a core    a core or more
    demo models (0.7-1.1M)        0.97-1.08 (39)  1.00-9.2 (32)   15-28 (19)
    GPT-2 tiny (3.4M)             1.00 (4)        1.78 (8)        14.95 (6)
    GPT-2 6 x 384 (30M)           1.00 (7)        2.70 (3)        6.86 (14)
    Marian, opus-mt's shape (74M) 0.99 (2)        4.17 (6)        4.98 (10)
    Marian int8                   0.84 (8)        10.33 (2)       10.69 (8)
    GPT-2 small (124M)            0.98 (6)        4.06 (5)        5.09 (13)
    GPT-2 small int8              0.77 (7)        8.07 (9)        8.76 (8)

So on two cores a second thread gains nothing up to 30M parameters even on an idle machine,
1-2% for float32 models of 74-124M (their steps are bound by memory) and 16-23% for int8 ones
(`mmgen.quantize`: the activations' quantization and the int8 products share well), while other
load makes it slower: up to 10x with under a core taken, 5-28x with a core or more. Hence `SMALL_MODEL` = 50M (between the 30M that never gains
and the 74M that does) and a `HEADROOM` of a quarter core. The load average lags: those idle
pairs ran while it read 2-3.5, so on this machine the rule keeps one thread, at a cost of up to
23% in an idle moment, against up to 28x for two threads in a busy one. The thresholds come
from two cores; on a larger machine the rule takes the free cores, which is torch's own default
(every physical core, free or not) less the ones other work holds.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator

import torch
from torch import nn

from mmgen.runtime.int8_linear import Int8Linear
from mmgen.runtime.linear_layers import held_weights
from mmgen.runtime.packed_linear import PackedLinear

logger = logging.getLogger("mmgen")

SMALL_MODEL = 50_000_000  # parameters: below, one thread (see the table above)
HEADROOM = 0.25  # a core counts as free while other processes take less than a quarter of it on average
THREADS_VARIABLE = "OMP_NUM_THREADS"  # the user's own choice, which torch itself reads at start
AUTO = "auto"  # the threads option's default: `choose_threads` decides


def thread_count(parameters: int, cores: int, load: float) -> int:
    """The rule: intra-op threads for a model of ``parameters`` on ``cores`` cores with ``load`` others running.

    parameters: the model's weights (int8 and prepacked ones included); cores: cores this process may use (>= 1);
    load: the load average (processes running or runnable), >= 0.
    """
    if parameters < SMALL_MODEL or cores <= 1:
        return 1
    free = math.floor(cores - load + HEADROOM)
    return max(1, min(cores, free))


def model_parameters(model: nn.Module) -> int:
    """The model's weights: its parameters and its int8 and prepacked layers' weights (which are not parameters)."""
    return sum(p.numel() for p in model.parameters()) + held_weights(model, (Int8Linear, PackedLinear))


def machine_cores() -> int:
    """Cores this process may run on (its CPU affinity; the whole machine where that is not known)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def machine_load() -> float:
    """The one-minute load average; 0.0 where the system has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def check_threads(threads: int | str | None) -> int | str | None:
    """The threads option checked before any work, and returned: ``"auto"`` (`choose_threads` decides), a count of
    at least 1 (it wins over everything), or None (torch's setting left as it is)."""
    if threads is None or threads == AUTO:
        return threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r}: pass a count of at least 1, 'auto' (mmgen's choice for the model's "
                         "size and the machine's load) or None (torch's own setting).")
    return threads


def choose_threads(model: nn.Module, threads: int | None = None, *, load: float | None = None) -> int:
    """Intra-op threads for decoding ``model`` here and now.

    ``threads`` when given (the user's ``--threads``); else ``OMP_NUM_THREADS`` when set (the
    user's choice for the process, which torch read at start); else `thread_count` of the model's
    parameters, this process's cores and the load average: ``load`` when given, else the current
    one. Read the load before heavy work starts (loading the model included): a process that has
    been computing counts in the average itself.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}.")
        return threads
    chosen = os.environ.get(THREADS_VARIABLE, "").strip()
    if chosen.isdigit() and int(chosen) >= 1:
        return int(chosen)
    return thread_count(model_parameters(model), machine_cores(), machine_load() if load is None else load)


def configure_threads(model: nn.Module, threads: int | None = None, *, load: float | None = None) -> int:
    """Set torch's intra-op threads to `choose_threads` ``(model, threads, load=load)`` and return the count.

    A model with weights off the CPU (CUDA) leaves torch's setting as it is (and returns it):
    the rule is about CPU decoding. The setting is the process's (``torch.set_num_threads``).
    """
    if any(p.device.type != "cpu" for p in model.parameters()):
        return torch.get_num_threads()
    load = machine_load() if load is None else load
    count = choose_threads(model, threads, load=load)
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    logger.debug("intra-op threads: %d (%.1fM parameters, %d cores, load %.2f)", count,
                 model_parameters(model) / 1e6, machine_cores(), load)
    return count


@contextlib.contextmanager
def use_threads(count: int) -> Iterator[int]:
    """torch's intra-op threads set to ``count`` inside the block, the previous count restored after."""
    if count < 1:
        raise ValueError(f"threads must be at least 1, not {count}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)
