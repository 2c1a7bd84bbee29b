"""Audio input adapter: recordings -> ``input_features`` / ``input_values`` (and their mask).

An item is anything `mmgen.inputs.load_audio` reads: a path, the bytes of a file, a numpy array
or torch tensor of samples (their rate given once as the ``sampling_rate=`` option), or a
``datasets`` Audio dict. Each is decoded, down-mixed and resampled to the feature extractor's
rate, then the batch goes through the feature extractor in one call, as a manual
``feature_extractor(waveforms, sampling_rate=..., return_tensors="pt")`` would. Extractors that
do not pad by default (Speech2Text's) are asked to pad to the longest clip; those that pad
already (Whisper's 30 s windows) keep their own padding.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from mmgen.inputs.errors import InputError, describe_input
from mmgen.inputs.files.audio import load_audio

__all__ = ["AudioAdapter"]


def _pads_by_default(feature_extractor: Any) -> bool:
    parameter = inspect.signature(feature_extractor.__call__).parameters.get("padding")
    return parameter is not None and parameter.default not in (False, None, "do_not_pad")


class AudioAdapter:
    """Recordings -> feature extractor outputs."""

    modality = "audio"
    # sampling_rate: the rate (Hz) of array / tensor inputs; files and dicts carry their own.
    OPTIONS: frozenset[str] = frozenset({"sampling_rate"})

    def __init__(self, feature_extractor: Any):
        if feature_extractor is None:
            raise ValueError("An audio model needs its feature extractor: none was found next to the model.")
        self.feature_extractor = feature_extractor
        self.rate = int(feature_extractor.sampling_rate)
        self.padding = {} if _pads_by_default(feature_extractor) else {"padding": "longest"}

    def __call__(self, items: list[Any], sampling_rate: int | None = None) -> dict[str, torch.Tensor]:
        if sampling_rate is None:
            for i, item in enumerate(items):
                if isinstance(item, (np.ndarray, torch.Tensor)):
                    raise InputError(describe_input(item, f"input #{i}"),
                                     "an array of samples does not say its sampling rate",
                                     "pass the rate with the call, e.g. generate(arrays, sampling_rate=16000)")
        waveforms = [load_audio(item, self.rate, source_rate=sampling_rate, name=f"input #{i}")
                     for i, item in enumerate(items)]
        encoded = self.feature_extractor(waveforms, sampling_rate=self.rate, return_tensors="pt", **self.padding)
        return {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}
