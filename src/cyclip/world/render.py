"""Render a :class:`~cyclip.world.scene.Scene` to a PIL image at any resolution."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cyclip.world.masks import shape_mask, stroke_width
from cyclip.world.scene import Scene
from cyclip.world.textures import background_texture, pixel_noise

MIN_DIAMETER_PX = 3


def render(scene: Scene, image_size: int = 64) -> Image.Image:
    """Draw ``scene`` as an RGB image of ``image_size`` x ``image_size`` pixels.

    Objects are alpha-blended in order through cached anti-aliased masks; ``noisy`` scenes get a
    textured background and pixel noise over everything, ``outline`` scenes only contours.
    """
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    s = image_size
    if scene.texture == "noisy":
        canvas = background_texture(scene.texture_seed, s)  # (S, S, 3)
    else:
        canvas = np.empty((s, s, 3), dtype=np.float32)
        canvas[:] = scene.background
    outline = stroke_width(s) if scene.style == "outline" else 0.0
    for obj in scene.objects:
        d = max(MIN_DIAMETER_PX, round(obj.diameter * s))
        mask = shape_mask(obj.shape, d, outline)  # (d, d)
        x0 = round(obj.centre[0] * s - d / 2)
        y0 = round(obj.centre[1] * s - d / 2)
        # Clip to the canvas (only reachable for tiny images, where rounding can push an edge out).
        mx0, my0 = max(0, -x0), max(0, -y0)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(s, x0 + d - mx0), min(s, y0 + d - my0)
        alpha = mask[my0 : my0 + y1 - y0, mx0 : mx0 + x1 - x0, None]  # (h, w, 1)
        region = canvas[y0:y1, x0:x1]  # (h, w, 3), a view
        region += (np.asarray(obj.rgb, dtype=np.float32) - region) * alpha
    if scene.texture == "noisy":
        canvas += pixel_noise(scene.texture_seed, s)
    np.clip(canvas, 0, 255, out=canvas)
    return Image.fromarray((canvas + 0.5).astype(np.uint8), "RGB")
