"""File decoding: raw audio and image inputs -> waveforms and PIL images (see each module)."""

from mmgen.inputs.files.audio import load_audio
from mmgen.inputs.files.images import load_image

__all__ = ["load_audio", "load_image"]
