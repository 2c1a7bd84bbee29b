"""load_image: every Pillow mode, file kind and array layout -> upright RGB with the right pixel values."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmgen.inputs.errors import InputError
from mmgen.inputs.files.images import load_image

WHITE, BLACK, RED = (255, 255, 255), (0, 0, 0), (255, 0, 0)


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    """Row-major RGB pixels of a loaded image."""
    assert image.mode == "RGB"
    return [tuple(p) for p in np.asarray(image).reshape(-1, 3).tolist()]


def one_row(mode: str, values: list) -> Image.Image:
    image = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    return image


def close(actual, expected, tol: int = 2) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected))


@pytest.mark.parametrize(
    "mode, values, expected",
    [
        ("RGB", [(1, 2, 3)], [(1, 2, 3)]),
        ("L", [0, 77, 255], [BLACK, (77, 77, 77), WHITE]),
        ("1", [0, 255], [BLACK, WHITE]),
        ("RGBX", [(10, 20, 30, 0)], [(10, 20, 30)]),
        ("RGBA", [(10, 20, 30, 0), (10, 20, 30, 255), (0, 0, 0, 128)], [WHITE, (10, 20, 30), (127, 127, 127)]),
        ("LA", [(0, 0), (77, 255), (0, 128)], [WHITE, (77, 77, 77), (127, 127, 127)]),
        ("RGBa", [(0, 0, 0, 0), (100, 100, 100, 128)], [WHITE, (227, 227, 227)]),
        ("La", [(0, 0), (100, 128)], [WHITE, (227, 227, 227)]),
        ("CMYK", [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 0, 255), (0, 0, 0, 0)],
         [(0, 255, 255), (255, 0, 255), BLACK, WHITE]),
        ("YCbCr", [(255, 128, 128), (0, 128, 128), (76, 85, 255)], [WHITE, BLACK, RED]),
        ("HSV", [(0, 255, 255), (0, 0, 255)], [RED, WHITE]),
        ("LAB", [(255, 128, 128), (0, 128, 128)], [WHITE, BLACK]),
        ("I;16", [0, 32768, 65535], [BLACK, (128, 128, 128), WHITE]),
        ("I;16B", [0, 32768, 65535], [BLACK, (128, 128, 128), WHITE]),
        ("I;16L", [0, 32768, 65535], [BLACK, (128, 128, 128), WHITE]),
        ("I", [0, 32768, 65535], [BLACK, (128, 128, 128), WHITE]),  # 16-bit data opened as I
        ("I", [-1000, 99_000, 199_000], [BLACK, (128, 128, 128), WHITE]),  # no white point: stretched
        ("F", [0.0, 0.5, 1.0], [BLACK, (128, 128, 128), WHITE]),
        ("F", [0.0, 100.0, 200.0], [BLACK, (100, 100, 100), (200, 200, 200)]),  # Pillow's 0-255 scale
        ("F", [-1.0, 0.0, 1.0], [BLACK, (128, 128, 128), WHITE]),
    ],
)
def test_every_mode_becomes_rgb_by_meaning(mode, values, expected):
    loaded = pixels(load_image(one_row(mode, values)))
    assert all(close(a, e) for a, e in zip(loaded, expected)), (loaded, expected)


def test_sixteen_bit_big_endian_bytes_are_read_as_numbers():
    image = Image.frombytes("I;16B", (2, 1), np.array([65535, 257], dtype=">u2").tobytes())
    assert pixels(load_image(image)) == [WHITE, (1, 1, 1)]


def test_palette_with_and_without_transparency(tmp_path):
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 0, 255, 0, 0, 0] + [0] * 759)
    for x in range(3):
        image.putpixel((x, 0), x)
    assert pixels(load_image(image)) == [RED, (0, 0, 255), BLACK]
    image.info["transparency"] = 2  # the black entry is transparent
    assert pixels(load_image(image)) == [RED, (0, 0, 255), WHITE]
    image.save(tmp_path / "palette.png")  # tRNS chunk round-trip
    assert pixels(load_image(tmp_path / "palette.png")) == [RED, (0, 0, 255), WHITE]
    pa = one_row("PA", [(0, 255), (0, 0)])
    pa.putpalette([255, 0, 0] * 256)
    assert pixels(load_image(pa)) == [RED, WHITE]


@pytest.mark.parametrize("mode, transparent", [("L", 7), ("RGB", (1, 2, 3))])
def test_png_transparent_colour_becomes_white(tmp_path, mode, transparent):
    image = one_row(mode, [transparent, 0 if mode == "L" else BLACK])
    image.save(tmp_path / "trns.png", transparency=transparent)
    assert pixels(load_image(tmp_path / "trns.png")) == [WHITE, BLACK]


def test_sixteen_bit_png_file_scales_not_clips(tmp_path):
    Image.fromarray(np.array([[0, 300, 65535]], dtype=np.uint16)).save(tmp_path / "deep.png")
    assert pixels(load_image(tmp_path / "deep.png")) == [BLACK, (1, 1, 1), WHITE]


def _marked_jpeg(orientation: int) -> bytes:
    """A 60x30 white JPEG with a red 10x10 block in its stored top-left corner."""
    image = Image.new("RGB", (60, 30), WHITE)
    image.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation, red_corner", [(1, (0, 0)), (6, (29, 0)), (8, (0, 59)), (3, (59, 29))])
def test_exif_orientation_is_applied(tmp_path, orientation, red_corner):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_marked_jpeg(orientation))
    for source in (path, str(path), path.read_bytes(), Image.open(path)):
        image = load_image(source)
        assert image.size == ((60, 30) if orientation in (1, 3) else (30, 60))
        assert close(image.getpixel(red_corner), RED, tol=40)
        assert close(image.getpixel((image.width // 2, image.height // 2)), WHITE, tol=10)


def test_pil_input_is_not_modified():
    image = one_row("RGBA", [(1, 2, 3, 0)])
    loaded = load_image(image)
    assert image.mode == "RGBA" and image.getpixel((0, 0)) == (1, 2, 3, 0)
    assert loaded is not image and loaded.getpixel((0, 0)) == WHITE


def test_bytes_path_and_dataset_dicts_agree(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(path)
    data = path.read_bytes()
    expected = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    for source in (path, str(path), data, bytearray(data), {"path": str(path), "bytes": data},
                   {"path": str(path), "bytes": None}, {"path": None, "bytes": data}):
        np.testing.assert_array_equal(np.asarray(load_image(source)), expected)


# (H, W, C) = (5, 6, 3): neither H nor W could be a channel axis, so every layout is unambiguous.
RGB_HWC = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "source",
    [
        RGB_HWC,
        RGB_HWC.astype(np.float32) / 255,
        RGB_HWC.astype(np.int64),
        RGB_HWC.astype(np.uint16) * 257,
        np.concatenate([RGB_HWC, np.full((5, 6, 1), 255, np.uint8)], axis=-1),  # opaque RGBA
        torch.from_numpy(RGB_HWC).permute(2, 0, 1).float() / 255,  # (C, H, W) as torchvision gives
        torch.from_numpy(RGB_HWC).permute(2, 0, 1),  # (C, H, W) uint8
        torch.from_numpy(RGB_HWC),  # (H, W, C)
        (torch.from_numpy(RGB_HWC).permute(2, 0, 1) / 255).to(torch.bfloat16),
    ],
)
def test_colour_arrays_and_tensors_in_each_layout(source):
    np.testing.assert_allclose(np.asarray(load_image(source)), RGB_HWC, atol=1)


@pytest.mark.parametrize(
    "source",
    [
        np.array([[0, 128], [255, 7]], dtype=np.uint8),
        np.array([[0, 128], [255, 7]], dtype=np.uint8)[:, :, None],
        torch.tensor([[0, 128], [255, 7]], dtype=torch.uint8)[None],  # (1, H, W)
        torch.tensor([[0, 128], [255, 7]]) / 255.0,  # (H, W) float
    ],
)
def test_grey_arrays_and_tensors(source):
    loaded = np.asarray(load_image(source))
    np.testing.assert_allclose(loaded[:, :, 0], [[0, 128], [255, 7]], atol=1)
    assert (loaded == loaded[:, :, :1]).all()


def test_array_alpha_and_bool():
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 1] = (10, 20, 30, 255)
    assert pixels(load_image(rgba)) == [WHITE, (10, 20, 30)]
    grey_alpha = np.array([[[0, 0], [50, 255]]], np.uint8)
    assert pixels(load_image(grey_alpha)) == [WHITE, (50, 50, 50)]
    assert pixels(load_image(np.array([[True, False]]))) == [WHITE, BLACK]


def test_ambiguous_three_by_three_follows_each_library():
    cube = np.zeros((3, 3, 3), np.uint8)
    cube[0, :, :] = 255  # numpy (H, W, C): the top row is white; torch (C, H, W): all red
    assert pixels(load_image(cube))[:3] == [WHITE] * 3 and pixels(load_image(cube))[3] == BLACK
    assert set(pixels(load_image(torch.from_numpy(cube)))) == {RED}


@pytest.mark.parametrize(
    "source, match",
    [
        (np.full((2, 2, 3), 2.0), r"float pixels must lie in \[0, 1\].*x / 255"),
        (np.full((2, 2), -0.5), "float pixels"),
        (np.full((2, 2), np.nan), "NaN"),
        (np.full((2, 2), 300, np.int32), "0-255"),
        (np.zeros((1, 3, 4, 4)), "one image at a time"),
        (np.zeros((5, 6, 7)), "no channel axis"),
        (np.zeros((0, 4, 3)), "empty"),
        (np.zeros((2, 2), np.complex64), "not an image"),
        (3.5, "unsupported image input type"),
        ({"foo": 1}, "neither 'bytes' nor 'path'"),
    ],
)
def test_bad_arrays_and_types_raise_input_error(source, match):
    with pytest.raises(InputError, match=match):
        load_image(source, name="input #4")


def _truncated_png(tmp_path: Path) -> bytes:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    data = (tmp_path / "x.png").read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize("make", [lambda _: b"", lambda _: b"definitely not an image" * 10, _truncated_png])
def test_broken_files_and_bytes_name_the_input(tmp_path, make):
    content = make(tmp_path)
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"broken\.png.*Fix:"):
        load_image(path)
    with pytest.raises(InputError, match=r"input #2 \(\d+ bytes of encoded data\): .*Fix:"):
        load_image(content, name="input #2")


def test_missing_file_names_path_and_name(tmp_path):
    with pytest.raises(InputError, match=r"input #9 \('.*missing\.jpg'\): no such file"):
        load_image(tmp_path / "missing.jpg", name="input #9")
    with pytest.raises(InputError, match="download it first"):
        load_image("https://example.com/cat.jpg")
