"""The training loop every demo training script shares: AdamW, warm-up then cosine, clipped gradients."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable

import torch


def warmup_cosine(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps to ``peak``, then cosine decay to 5% of it at ``steps``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def fit(model: torch.nn.Module, loss_at: Callable[[int], torch.Tensor], *, steps: int, lr: float, warmup: int,
        log_every: int, parameters: Iterable[torch.nn.Parameter] | None = None, label: str = "") -> None:
    """``steps`` AdamW steps (weight decay 0.01, gradient norm clipped at 1) on ``loss_at(step)``.

    loss_at: step -> the loss of that step's batch (it draws the batch), with the model in train mode.
    parameters: what the optimizer updates (default the model's; a training-only head adds its own).
    The loss is printed every ``log_every`` steps and at the last, with wall-clock and CPU time; the
    model is left in eval mode.
    """
    parameters = list(model.parameters() if parameters is None else parameters)
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    model.train()
    started, cpu = time.perf_counter(), time.process_time()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, steps, lr, warmup)
        loss = loss_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        if step % log_every == 0 or step == steps - 1:
            print(f"{label}step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - started:6.0f}s "
                  f"({time.process_time() - cpu:.0f} CPU s)", flush=True)
    model.eval()


def cpu_time() -> float:
    """Seconds of CPU time of this process and its finished children (espeak-ng), user and system."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


__all__ = ["cpu_time", "fit", "warmup_cosine"]
