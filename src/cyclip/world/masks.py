"""Anti-aliased coverage masks of the world's shapes, computed once per (shape, pixel size, style).

A mask is drawn with PIL at :data:`SUPERSAMPLE` times its size and box-filtered down, which gives
clean anti-aliased edges; caching it means rendering an image is a few numpy blends, not a fresh
rasterisation (see ``benchmarks/world_render.py``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4
Point = tuple[float, float]


def _regular_polygon(n: int, radius: float, phase_deg: float) -> list[Point]:
    return [
        (
            radius * math.cos(math.radians(phase_deg + 360 * k / n)),
            radius * math.sin(math.radians(phase_deg + 360 * k / n)),
        )
        for k in range(n)
    ]


def _star() -> list[Point]:
    points = []
    for k in range(10):
        radius = 1.0 if k % 2 == 0 else 0.42
        angle = math.radians(-90 + 36 * k)
        # Shifted down so the star's bounding box is centred on the object's centre.
        points.append((radius * math.cos(angle), radius * math.sin(angle) + 0.1))
    return points


def _cross(arm: float = 0.32, reach: float = 0.95) -> list[Point]:
    a, r = arm, reach
    return [
        (-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a),
        (a, r), (-a, r), (-a, a), (-r, a), (-r, -a), (-a, -a),
    ]  # fmt: skip


def _heart(n: int = 64) -> list[Point]:
    # The classic parametric heart, rescaled so its bounding box is [-1, 1] wide and centred.
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x = 16 * math.sin(t) ** 3
        y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
        pts.append((x, y))
    ys = [p[1] for p in pts]
    mid_y = (max(ys) + min(ys)) / 2
    return [(x / 16, (y - mid_y) / 16) for x, y in pts]


def shape_outline(shape: str) -> list[Point] | None:
    """The polygon of ``shape`` in the unit box [-1, 1]² (y down); ``None`` for the circle."""
    polygons = {
        "square": lambda: [(-0.82, -0.82), (0.82, -0.82), (0.82, 0.82), (-0.82, 0.82)],
        "triangle": lambda: [(0.0, -0.92), (1.0, 0.82), (-1.0, 0.82)],
        "star": _star,
        "cross": _cross,
        "hexagon": lambda: _regular_polygon(6, 1.0, 0.0),
        "diamond": lambda: [(0.0, -1.0), (0.72, 0.0), (0.0, 1.0), (-0.72, 0.0)],
        "heart": _heart,
    }
    if shape == "circle":
        return None
    if shape not in polygons:
        raise KeyError(f"no geometry for shape {shape!r}")
    return polygons[shape]()


def stroke_width(image_size: int) -> float:
    """Outline width in pixels for the sketch style: about 1.5 px at 64 px."""
    return max(1.0, image_size / 42)


@lru_cache(maxsize=4096)
def shape_mask(shape: str, diameter_px: int, outline_px: float = 0.0) -> np.ndarray:
    """Coverage of ``shape`` in a ``diameter_px`` square, float32 in [0, 1], shape (d, d).

    ``outline_px > 0`` gives only a contour of that width (the sketch style); 0 fills the shape.
    The returned array is shared by the cache: treat it as read-only.
    """
    if diameter_px < 1:
        raise ValueError(f"mask diameter must be at least 1 pixel, got {diameter_px}")
    big = diameter_px * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    width = round(outline_px * SUPERSAMPLE)
    half = (big - 1) / 2
    polygon = shape_outline(shape)
    if polygon is None:
        box = (0, 0, big - 1, big - 1)
        if width:
            draw.ellipse(box, outline=255, width=width)
        else:
            draw.ellipse(box, fill=255)
    else:
        points = [(half + x * half, half + y * half) for x, y in polygon]
        if width:
            draw.polygon(points, outline=255, width=width)
        else:
            draw.polygon(points, fill=255)
    small = canvas.resize((diameter_px, diameter_px), Image.Resampling.BOX)
    mask = np.asarray(small, dtype=np.float32) / 255.0
    mask.setflags(write=False)
    return mask
