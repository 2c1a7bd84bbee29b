"""File decoding: raw audio, image and text inputs -> waveforms, PIL images and lines (see each module).

- `audio`: `load_audio` (any source, any rate), and for files `audio_info` (the header, nothing
  decoded), `read_audio_range` / `iter_audio_windows` (a time range decoded alone);
  `audio_file` holds the file side, `resample` the resampler.
- `images`: `load_image` (any mode, EXIF orientation, RGB).
- `text`: `read_text_lines` / `iter_text_lines` / `read_text` (UTF-8, UTF-16/32 by BOM, or a
  named encoding) and `iter_stdin_lines`.

The names are imported on first use (`mmgen.lazy`): the text reader does not pay for the audio
and image decoders (torch, soundfile, PIL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmgen.lazy import lazy_exports

_EXPORTS = {
    "AudioInfo": "mmgen.inputs.files.audio",
    "audio_info": "mmgen.inputs.files.audio",
    "iter_audio_windows": "mmgen.inputs.files.audio",
    "load_audio": "mmgen.inputs.files.audio",
    "read_audio_range": "mmgen.inputs.files.audio",
    "load_image": "mmgen.inputs.files.images",
    "iter_stdin_lines": "mmgen.inputs.files.text",
    "iter_text_lines": "mmgen.inputs.files.text",
    "read_text": "mmgen.inputs.files.text",
    "read_text_lines": "mmgen.inputs.files.text",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["AudioInfo", "audio_info", "iter_audio_windows", "iter_stdin_lines", "iter_text_lines", "load_audio",
           "load_image", "read_audio_range", "read_text", "read_text_lines"]

if TYPE_CHECKING:
    from mmgen.inputs.files.audio import AudioInfo, audio_info, iter_audio_windows, load_audio, read_audio_range
    from mmgen.inputs.files.images import load_image
    from mmgen.inputs.files.text import iter_stdin_lines, iter_text_lines, read_text, read_text_lines
