"""Decoding one image or caption robustly: every PIL mode to RGB, EXIF orientation, size limits.

Anything that cannot be turned into a usable item raises :class:`BadSampleError` with the reason,
which the loaders turn into a skipped-and-counted item.
"""

from __future__ import annotations

import io
import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps

from cyclip.types import BadSampleError

# Modes that carry an alpha channel; they are composited on white rather than having the alpha
# dropped, which would expose whatever colour the transparent pixels happen to store.
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_WHITE = (255, 255, 255, 255)


def load_image(source: str | os.PathLike | bytes, key: str | None = None) -> Image.Image:
    """Open, fully decode and convert an image to RGB.

    Args:
        source: a file path, or the encoded bytes (e.g. a webdataset member).
        key: how to name the item in errors; defaults to the path.

    Returns:
        A decoded ``PIL.Image.Image`` in mode ``RGB`` with its EXIF orientation applied.

    Raises:
        BadSampleError: the file is missing, empty, not an image, truncated, or has more pixels
            than PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``; it is checked on
            the header, before any pixel is decoded).
    """
    name = key if key is not None else str(source)
    if not isinstance(source, bytes):
        kind = special_file_kind(source)
        if kind is not None:  # opening a FIFO blocks until a writer comes: never open one
            raise BadSampleError(name, f"not a regular file ({kind}); refused")
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            # PIL only warns between 1x and 2x its limit; the explicit check below refuses those.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                _check_pixel_count(img, name)
                img.load()
                # exif_transpose returns a new image, so the result outlives the closed file.
                return to_rgb(ImageOps.exif_transpose(img))
    except BadSampleError:
        raise
    except FileNotFoundError:
        raise BadSampleError(name, "image file not found") from None
    except IsADirectoryError:
        raise BadSampleError(name, "image path is a directory") from None
    except Image.DecompressionBombError as exc:
        raise BadSampleError(name, f"refused, decompression-bomb limit: {exc}") from None
    except Image.UnidentifiedImageError:
        size = _describe_size(source)
        raise BadSampleError(name, f"not a readable image file ({size})") from None
    except (OSError, ValueError, SyntaxError, EOFError, TypeError) as exc:
        # PIL signals truncated or corrupt data with any of these, depending on the codec.
        raise BadSampleError(name, f"corrupt image data: {type(exc).__name__}: {exc}") from None


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_file_kind(path: str | os.PathLike) -> str | None:
    """``"a named pipe (FIFO)"``, ``"a socket"``, ... for a special file, else None (regular
    files, directories and missing paths). ``stat`` never blocks, unlike opening a FIFO."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), None)


def refuse_special_file(path: str | os.PathLike, what: str = "data source") -> None:
    """Raise ``ValueError`` (one line) when ``path`` is a FIFO, socket or device.

    Raises:
        ValueError: naming the path and what it is.
    """
    kind = special_file_kind(path)
    if kind is not None:
        raise ValueError(
            f"{what} {path} is not a regular file or folder but {kind}; give a file or folder"
        )


def _check_pixel_count(img: Image.Image, name: str) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    width, height = img.size
    if limit is not None and width * height > limit:
        raise BadSampleError(
            name,
            f"refused: {width}x{height} = {width * height:,} pixels exceeds PIL's "
            f"decompression-bomb limit Image.MAX_IMAGE_PIXELS = {limit:,}",
        )


def _describe_size(source: str | os.PathLike | bytes) -> str:
    if isinstance(source, bytes):
        return f"{len(source)} bytes"
    try:
        return f"{os.path.getsize(source)} bytes"
    except OSError:
        return "size unknown"


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    Grayscale, bilevel, CMYK, YCbCr and palette images go through PIL's conversions; 16- and
    32-bit integer images are rescaled from 0..65535 (PIL's own conversion clips them, turning
    most 16-bit images white); float images are read as 0..1 when their maximum is at most 1 and
    as 0..255 otherwise; images with an alpha channel or a transparency key are composited on
    white.
    """
    if img.mode == "RGB" and "transparency" not in img.info:
        return img
    if img.mode.startswith("I"):
        array = np.asarray(img).astype(np.float64)  # (H, W)
        return _gray_to_rgb(np.clip(array, 0, 65535) * (255.0 / 65535.0))
    if img.mode == "F":
        array = np.asarray(img).astype(np.float64)  # (H, W)
        finite = array[np.isfinite(array)]
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        return _gray_to_rgb(np.nan_to_num(array) * scale)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _gray_to_rgb(array: np.ndarray) -> Image.Image:
    gray = np.clip(np.rint(array), 0, 255).astype(np.uint8)  # (H, W)
    return Image.fromarray(gray).convert("RGB")


def clean_caption(text: str, key: str) -> str:
    """Strip and collapse whitespace (newlines and tabs included) to single spaces.

    Raises:
        BadSampleError: the caption is empty or only whitespace.
    """
    cleaned = collapse_whitespace(text)
    if not cleaned:
        raise BadSampleError(key, "empty caption")
    return cleaned


# C0 control characters and DEL: the tokenizer drops them, which would merge the words around a
# NUL byte ("a\x00dog" -> "adog"); they separate words instead.
_CONTROLS_TO_SPACE = {c: " " for c in (*range(32), 127)}


def collapse_whitespace(text: str) -> str:
    """``text`` with control characters as spaces and runs of whitespace as one space."""
    return " ".join(text.translate(_CONTROLS_TO_SPACE).split())
