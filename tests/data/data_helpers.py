"""Helpers shared by the data tests (a uniquely named module, importable from the tests)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import torch
from PIL import Image


def coloured_image(i: int, size: int = 16) -> Image.Image:
    """An image whose colour encodes ``i``, so tests can tell items apart after decoding."""
    return Image.new("RGB", (size, size), (i % 256, (i // 256) % 256, 128))


def jpeg_bytes(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def png_bytes(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def index_tokenizer(captions: list[str]) -> torch.Tensor:
    """``"item 17"`` -> [[17]]: lets tests read back which items a batch holds."""
    return torch.tensor([[int(c.split()[-1])] for c in captions], dtype=torch.long)


def red_channel(img: Image.Image) -> torch.Tensor:
    """Preprocess stand-in: (3, 1, 1) tensor of the top-left pixel, exact for our coloured images."""
    return torch.tensor(np.asarray(img, dtype=np.float32)[0, 0]).view(3, 1, 1)
