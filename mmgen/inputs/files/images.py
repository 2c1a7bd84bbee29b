"""Any raw image input -> an upright 8-bit RGB ``PIL.Image.Image``.

Accepted sources (see :func:`load_image`): a path or the ``bytes`` of any file Pillow reads; a
PIL image; a ``datasets`` Image dict ``{"path", "bytes"}``; a numpy array or torch tensor.

Arrays and tensors: ``(H, W)`` grey, or 3-D with a channel axis of 1 (grey), 2 (grey + alpha),
3 (RGB) or 4 (RGBA). **The channel axis is whichever end axis has 1-4 entries**, so numpy's /
PIL's ``(H, W, C)`` and torch's / torchvision's ``(C, H, W)`` both work; when both ends could be
channels (a 3x3x3 image), numpy follows ``(H, W, C)`` and torch ``(C, H, W)``. Values: uint8
as is, uint16 over 0-65535, other integers in 0-255, bool as black/white, floats in [0, 1].

Every Pillow mode becomes RGB by its meaning, not by clipping bytes: transparency (RGBA, LA,
PA, premultiplied RGBa/La, a palette or tRNS transparent colour) is composited over white, so
transparent areas do not turn black; 16/32-bit integer (I;16*, I) and float (F) images are
scaled to 8 bits (rules in :func:`_scale_to_8_bit`); CMYK, YCbCr, LAB, HSV and 1 use Pillow's
converters. EXIF orientation is applied, so a phone photo comes out upright. ICC profiles are
not applied (pixels are taken as sRGB).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mmgen.inputs.errors import InputError, describe_input
from mmgen.inputs.files.paths import readable_path

__all__ = ["ImageSource", "load_image"]

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray, torch.Tensor, Mapping]

_WHITE = (255, 255, 255, 255)
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_CHANNEL_COUNTS = (1, 2, 3, 4)  # grey, grey + alpha, RGB, RGBA


def load_image(source: ImageSource, *, name: str | None = None) -> Image.Image:
    """Load ``source`` as an upright RGB image.

    Args:
        source: a path, encoded bytes, a PIL image, a ``datasets`` Image dict, or an array /
            tensor in a layout of the module docstring.
        name: how errors name this input, e.g. ``"input #3"``; a path is named as well.

    Returns:
        a new ``PIL.Image.Image`` in mode ``"RGB"`` of size (W, H) after EXIF orientation;
        a PIL ``source`` is never modified.

    Raises:
        InputError: the input is missing, not an image Pillow can decode, of an unsupported
            type, layout or value range. The message names the input and the fix.
    """
    if isinstance(source, Mapping):
        path = source.get("path")
        label = describe_input(path if path else source, name)
        if source.get("bytes") is not None:
            image = _open(source["bytes"], label)
        elif path:
            image = _open(path, label)
        else:
            raise InputError(label, "the dict has neither 'bytes' nor 'path'", "pass {'path': ..., 'bytes': ...}")
    else:
        label = describe_input(source, name)
        if isinstance(source, Image.Image):
            image = source
        elif isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
            image = _open(source, label)
        elif isinstance(source, (np.ndarray, torch.Tensor)):
            image = _from_array(source, label)
        else:
            raise InputError(
                label,
                "unsupported image input type",
                "pass a path, the bytes of an image file, a PIL image, or a numpy array / torch tensor",
            )
    try:
        image = ImageOps.exif_transpose(image)  # a copy, upright; the orientation tag removed
        return _to_rgb(image)
    except (OSError, ValueError, SyntaxError) as exc:  # a truncated file surfaces on first pixel access
        raise InputError(label, f"Pillow cannot convert it ({exc})", "check the file is complete") from exc


def _open(source: str | os.PathLike | bytes | bytearray | memoryview, label: str) -> Image.Image:
    """Decode an image file (path or bytes) fully, so a truncated file fails here."""
    if isinstance(source, (str, os.PathLike)):
        path = readable_path(source, label)
        stream: str | io.BytesIO = path
    else:
        if not len(source):
            raise InputError(label, "the bytes are empty", "pass the full contents of an image file")
        stream = io.BytesIO(bytes(source))
    try:
        image = Image.open(stream)
        image.load()
    except UnidentifiedImageError as exc:
        raise InputError(label, "Pillow does not recognise it as an image", "check it is an image file") from exc
    except Image.DecompressionBombError as exc:
        raise InputError(label, str(exc), "raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data; unreadable file
        raise InputError(label, f"Pillow cannot decode it ({exc})", "check the file is complete") from exc
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB (rules in the module docstring)."""
    if image.mode in _HIGH_DEPTH_MODES:
        return _scale_to_8_bit(image).convert("RGB")
    if image.mode == "La":  # Pillow converts premultiplied grey only to LA
        image = image.convert("LA")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")  # applies palette / tRNS transparency and un-premultiplies
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
    return image.convert("RGB")


def _scale_to_8_bit(image: Image.Image) -> Image.Image:
    """A 16/32-bit integer or float image -> mode L, mapping its full scale to 0-255.

    Full scale: I;16* -> 65535. I (32-bit; Pillow also opens 16-bit PNG/TIFF this way) ->
    65535 when the values fit in 0-65535. F -> 1.0 when the values fit in [0, 1], else 255 when
    they fit in [0, 255] (Pillow's own convention for F). Other data has no fixed white point,
    so its own [min, max] is stretched to 0-255. NaN becomes 0.
    """
    values = np.nan_to_num(np.asarray(image).astype(np.float64))
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and high <= 65535):
        low, high = 0.0, 65535.0
    elif image.mode == "F" and low >= 0 and high <= 255:
        low, high = 0.0, 1.0 if high <= 1 else 255.0
    scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
    return Image.fromarray(np.round(scaled).astype(np.uint8))  # uint8 (H, W) -> mode L


def _from_array(array: np.ndarray | torch.Tensor, label: str) -> Image.Image:
    """(H, W) or 3-D with 1-4 channels at either end -> a PIL image (L, LA, RGB or RGBA)."""
    if isinstance(array, torch.Tensor):
        tensor = array.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype != torch.float64:
            tensor = tensor.float()  # bfloat16 has no numpy counterpart
        values, channels_first_on_tie = tensor.numpy(), True
    else:
        values, channels_first_on_tie = np.asarray(array), False
    if values.ndim == 2:
        values = values[:, :, None]
    elif values.ndim != 3:
        raise InputError(
            label,
            f"expected (H, W), (H, W, C) or (C, H, W), got {values.ndim} dimensions",
            "pass one image at a time (index the batch dimension)",
        )
    else:
        values = _channels_last(values, channels_first_on_tie, label)
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise InputError(label, f"the image is empty (shape {values.shape})", "pass an image with pixels")
    pixels = _to_uint8(values, label)
    # uint8 (H, W) / (H, W, 2|3|4) -> L / LA / RGB / RGBA, inferred by Pillow
    return Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if pixels.shape[-1] == 1 else pixels))


def _channels_last(values: np.ndarray, channels_first_on_tie: bool, label: str) -> np.ndarray:
    """3-D (C, H, W) or (H, W, C) -> (H, W, C): the channel axis is the end axis with 1-4 entries."""
    first, last = values.shape[0] in _CHANNEL_COUNTS, values.shape[-1] in _CHANNEL_COUNTS
    if first and (not last or channels_first_on_tie):
        values = np.moveaxis(values, 0, -1)
    elif not last:
        raise InputError(
            label,
            f"no channel axis of 1-4 entries in shape {values.shape}",
            "pass (H, W), (H, W, C) or (C, H, W) with C in 1-4",
        )
    return values


def _to_uint8(values: np.ndarray, label: str) -> np.ndarray:
    """Pixel values of any supported dtype -> uint8 (ranges in the module docstring)."""
    kind = values.dtype.kind
    if values.dtype == np.uint8:
        return values
    if kind == "b":
        return values.astype(np.uint8) * 255
    if values.dtype == np.uint16:
        return np.round(values / 257.0).astype(np.uint8)  # 65535 / 257 = 255 exactly
    if kind in "iuf":
        low, high = float(values.min()), float(values.max())
        if kind == "f":
            if not np.isfinite(values).all():
                raise InputError(label, "the image has NaN or infinite values", "clean the array first")
            if low >= -1e-3 and high <= 1 + 1e-3:  # tolerate float round-off around [0, 1]
                return np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)
            raise InputError(
                label,
                f"float pixels must lie in [0, 1], found [{low:.4g}, {high:.4g}]",
                "scale them (x / 255 for 0-255 data; undo any mean/std normalisation) or pass uint8",
            )
        if low >= 0 and high <= 255:
            return values.astype(np.uint8)
        raise InputError(
            label,
            f"integer pixels of dtype {values.dtype} must lie in 0-255, found {low:g}-{high:g}",
            "pass uint8, or uint16 for 16-bit data",
        )
    raise InputError(label, f"pixels of dtype {values.dtype} are not an image", "pass uint8 or float in [0, 1]")
