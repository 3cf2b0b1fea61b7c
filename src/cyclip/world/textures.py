"""Random background textures and pixel noise for the ``noisy`` distribution shift.

Noise comes from the raw output of a seeded PCG64 bit generator, whose stream is fixed by the
algorithm (unlike ``Generator`` methods, which NumPy may change between releases), so a noisy
image is the same on every NumPy version.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

TEXTURES = ("speckle", "stripes", "checker", "blotches")
TEXTURE_AMPLITUDE = 45.0
PIXEL_NOISE_AMPLITUDE = 22.0
"""Half-width of the uniform noise added to every pixel, objects included."""


def uniform_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Floats in [0, 1) of the given shape, reproducible from ``seed`` on any NumPy."""
    raw = np.random.PCG64(seed).random_raw(int(np.prod(shape)))
    return ((raw >> np.uint64(40)).astype(np.float32) / np.float32(2**24)).reshape(shape)


def _muted_colours(u: np.ndarray) -> np.ndarray:
    # Halfway between a random colour and mid grey: visible texture that rarely matches an
    # object's named colour closely enough to hide it.
    return 0.5 * (60 + 160 * u) + 0.5 * 150


def background_texture(seed: int, image_size: int) -> np.ndarray:
    """A textured background, float32 (image_size, image_size, 3) in [0, 255]."""
    s = image_size
    params = uniform_noise(seed, (16,))
    kind = TEXTURES[min(int(params[0] * len(TEXTURES)), len(TEXTURES) - 1)]
    colours = _muted_colours(params[1:7].reshape(2, 3))  # (2, 3)
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) / s  # (S, S) each
    if kind == "speckle":
        noise = uniform_noise(seed + 1, (s, s, 3)) - 0.5
        return colours[0] + 2 * TEXTURE_AMPLITUDE * noise
    if kind == "stripes":
        angle = np.pi * params[7]
        cycles = 3 + 6 * params[8]
        phase = 2 * np.pi * params[9]
        wave = np.sin(2 * np.pi * cycles * (x * np.cos(angle) + y * np.sin(angle)) + phase)
        t = (0.5 + 0.5 * wave)[..., None]  # (S, S, 1)
        return colours[0] * (1 - t) + colours[1] * t
    if kind == "checker":
        cells = 3 + int(8 * params[10])
        parity = ((np.floor(x * cells) + np.floor(y * cells)) % 2)[..., None]
        return colours[0] * (1 - parity) + colours[1] * parity
    grid = 3 + int(4 * params[11])
    coarse = _muted_colours(uniform_noise(seed + 2, (grid, grid, 3)))
    image = Image.fromarray(coarse.astype(np.uint8), "RGB").resize(
        (s, s), Image.Resampling.BILINEAR
    )
    return np.asarray(image, dtype=np.float32).copy()


def pixel_noise(seed: int, image_size: int) -> np.ndarray:
    """Zero-mean uniform noise, float32 (image_size, image_size, 3)."""
    u = uniform_noise(seed + 3, (image_size, image_size, 3))
    return (2 * u - 1) * PIXEL_NOISE_AMPLITUDE
