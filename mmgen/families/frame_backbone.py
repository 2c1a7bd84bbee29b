"""The backbone step of a speech family whose step unit is a frame: a text prompt once, then one frame per row.

CSM, Higgs Audio and the latent speech models (Pocket TTS, Phonon) each run a Llama-like
backbone through the model's public ``forward`` with the inputs their ``generate`` feeds: the
attention mask grows by a column per frame (preallocated here, so the step never concatenates),
and the positions come from the prompt's mask (`text_positions`), then go on one per frame.
What each family feeds (text ids, audio frames, latents) and reads back stays in its own step.
"""

from __future__ import annotations

import torch

from mmgen.core.model_step import ModelStep
from mmgen.core.prompt_positions import text_positions


class FrameBackboneStep(ModelStep):
    """The mask and positions of a backbone over a left-padded prompt, then one frame per row per step.

    input_ids, attention_mask: (rows, prompt). mask: (rows, prompt + max_frames), the prompt's mask
    then ones; its first ``length`` columns are the mask so far (`mask_so_far`). positions: the
    prompt's (rows, prompt) at the prefill, then (rows, 1) the next frame's. A subclass's
    ``prefill`` calls `prompt_fed` after feeding the prompt, its ``step`` `next_frame` before
    feeding a frame.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 max_frames: int):
        super().__init__(model)
        self.input_ids = input_ids
        self.rows, self.length = input_ids.shape
        self.mask = attention_mask.new_ones(self.rows, self.length + max_frames)
        self.mask[:, : self.length] = attention_mask
        self.positions = text_positions(input_ids, attention_mask)

    def mask_so_far(self) -> torch.Tensor:
        """(rows, length) the mask over the prompt and the frames fed so far."""
        return self.mask[:, : self.length]

    def prompt_fed(self) -> None:
        """After the prefill: the positions go on from the prompt's last one."""
        self.positions = self.positions[:, -1:]

    def next_frame(self) -> None:
        """Before a step: one mask column and one position more."""
        self.length += 1
        self.positions = self.positions + 1


__all__ = ["FrameBackboneStep"]
