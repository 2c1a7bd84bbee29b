"""The input side: raw inputs -> the tensors a model's ``forward`` reads, in three layers.

- `mmgen.inputs.files`: file decoding. Paths, bytes, arrays and ``datasets`` dicts become
  waveforms (`load_audio`: any rate, any channel count, resampled) and PIL images
  (`load_image`: EXIF orientation, any mode, RGB).
- `mmgen.inputs.adapters`: processor adapters. A model's processor parts (`Components`) and
  one adapter per input modality (text, image, audio) that runs them over a batch of raw items.
- `mmgen.inputs.prompts`: text -> ids, the one path every caller uses: strings and chat
  conversations tokenized, padded (left for decoder-only models), attention masks built.

Every layer raises `InputError` naming the input, the reason and the fix.
"""

from mmgen.inputs.errors import InputError, describe_input

__all__ = ["InputError", "describe_input"]
