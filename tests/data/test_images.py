"""Image decoding: every mode to correct RGB, EXIF orientation, bad files refused with a reason."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from data_helpers import jpeg_bytes, png_bytes
from PIL import Image

from cyclip.data import BadSampleError, clean_caption, load_image


def rgb(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


def test_grayscale_and_bilevel_become_equal_channels() -> None:
    gray = Image.fromarray(np.array([[0, 100], [200, 255]], dtype=np.uint8))
    out = rgb(load_image(png_bytes(gray)))
    assert (out[..., 0] == [[0, 100], [200, 255]]).all()
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    bilevel = Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("1")
    assert rgb(load_image(png_bytes(bilevel)))[0, :, 0].tolist() == [0, 255]


def test_16_bit_grayscale_is_rescaled_not_clipped() -> None:
    values = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    img = Image.fromarray(values)
    assert img.mode.startswith("I;16")
    out = rgb(load_image(png_bytes(img)))
    # PIL's own convert("RGB") would clip every value above 255 to white.
    assert out[0, :, 0].tolist() == [0, 100, 255]


def test_rgba_and_la_are_composited_on_white() -> None:
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 255))  # opaque red
    rgba.putpixel((1, 0), (0, 0, 0, 0))  # fully transparent black
    out = rgb(load_image(png_bytes(rgba)))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    la = Image.new("LA", (1, 1), (0, 128))  # black at half opacity -> mid grey
    assert abs(rgb(load_image(png_bytes(la)))[0, 0, 0] - 127) <= 1


def test_palette_with_transparency_is_composited_on_white() -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 255] + [0, 0, 0] * 255)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.info["transparency"] = 1
    out = rgb(load_image(png_bytes(img, transparency=1)))
    assert out[0, 0].tolist() == [0, 0, 255]
    assert out[0, 1].tolist() == [255, 255, 255]


def test_cmyk_jpeg_is_converted() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    out = rgb(load_image(jpeg_bytes(cmyk, quality=100)))
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60 and out[..., 2].mean() < 60


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (4, 2), (0, 0, 0))
    img.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = png_bytes(img, exif=exif.tobytes())
    out = load_image(data)
    assert out.size == (2, 4)
    assert rgb(out)[0, 1].tolist() == [255, 255, 255]  # top-left moved to top-right


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(BadSampleError, match="decompression-bomb"):
        load_image(_png_header_only(20_000, 20_000), key="bomb.png")


def test_image_just_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Between 1x and 2x the limit PIL only warns; cyclip refuses.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(BadSampleError, match="exceeds"):
        load_image(png_bytes(Image.new("RGB", (12, 12))))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a readable image"),
        (b"this is a caption, not a picture\n", "not a readable image"),
        (jpeg_bytes(Image.new("RGB", (64, 64), (9, 9, 9)))[:300], "corrupt|not a readable"),
    ],
    ids=["zero-byte", "text-named-jpg", "truncated-jpeg"],
)
def test_bad_files_raise_bad_sample(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(BadSampleError, match=reason) as info:
        load_image(path)
    assert info.value.key == str(path)


def test_missing_file_is_a_bad_sample(tmp_path: Path) -> None:
    with pytest.raises(BadSampleError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def test_bad_sample_error_survives_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(BadSampleError("k.jpg", "why")))  # noqa: S301 (our own bytes)
    assert (err.key, err.reason) == ("k.jpg", "why")


def test_clean_caption() -> None:
    assert clean_caption("  a\tdog\n\n on   grass ", key="k") == "a dog on grass"
    with pytest.raises(BadSampleError, match="empty caption"):
        clean_caption(" \t\n ", key="k")
