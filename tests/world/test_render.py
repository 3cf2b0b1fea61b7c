"""Rendering: mask geometry, colours on the canvas, shifts, throughput."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cyclip.world.masks import shape_mask
from cyclip.world.render import render
from cyclip.world.rng import ItemRng
from cyclip.world.scene import Scene, SceneObject, sample_object
from cyclip.world.textures import uniform_noise
from cyclip.world.vocabulary import SHAPES


def test_mask_areas_match_geometry():
    d = 60
    assert shape_mask("circle", d).sum() / d**2 == pytest.approx(math.pi / 4, rel=0.03)
    assert shape_mask("square", d).sum() / d**2 == pytest.approx(0.82**2, rel=0.03)
    # Triangle with apex at y=-0.92 and base 2 wide at y=0.82 in the unit box [-1, 1]^2.
    assert shape_mask("triangle", d).sum() / d**2 == pytest.approx(2 * 1.74 / 2 / 4, rel=0.03)


def test_masks_are_bounded_cached_and_read_only():
    mask = shape_mask("star", 21)
    assert mask.shape == (21, 21) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    assert shape_mask("star", 21) is mask
    with pytest.raises(ValueError):
        mask[0, 0] = 1.0
    with pytest.raises(ValueError, match="at least 1 pixel"):
        shape_mask("star", 0)


def test_outline_is_thin():
    for shape in SHAPES:
        filled = shape_mask(shape.name, 20).sum()
        outline = shape_mask(shape.name, 20, 1.5).sum()
        assert 0 < outline < 0.8 * filled, shape.name


def test_shapes_are_distinguishable_at_small_size():
    masks = {s.name: shape_mask(s.name, 13) for s in SHAPES}
    for a in masks:
        for b in masks:
            if a < b:
                assert np.abs(masks[a] - masks[b]).mean() > 0.05, (a, b)


def test_render_places_colours_where_the_scene_says():
    obj = SceneObject("red", "square", "large", 1, 2, (5 / 6, 0.5), 0.31, (214, 39, 40))
    scene = Scene((obj,), (150, 140, 160))
    image = np.asarray(render(scene, 64))
    assert image.shape == (64, 64, 3)
    assert tuple(image[32, 53]) == (214, 39, 40)  # inside the square, right middle cell
    assert tuple(image[5, 5]) == (150, 140, 160)  # background in the top left
    assert tuple(image[32, 10]) == (150, 140, 160)  # the left cell is empty


def test_render_any_size_and_tiny_sizes_stay_in_bounds():
    rng = ItemRng(5)
    corners = [
        sample_object(rng, "blue", s.name, (r, c))
        for s, (r, c) in zip(SHAPES, [(0, 0), (0, 2), (2, 0), (2, 2)] * 2)
    ]
    for size in (8, 17, 32, 64, 100):
        image = render(Scene(tuple(corners[:4]), (150, 150, 150)), size)
        assert image.size == (size, size)
    with pytest.raises(ValueError, match="at least 8"):
        render(Scene(tuple(corners[:1]), (150, 150, 150)), 4)


def test_noise_is_reproducible_and_uniform():
    a = uniform_noise(123, (64, 64, 3))
    assert np.array_equal(a, uniform_noise(123, (64, 64, 3)))
    assert not np.array_equal(a, uniform_noise(124, (64, 64, 3)))
    assert 0.0 <= a.min() and a.max() < 1.0
    assert abs(float(a.mean()) - 0.5) < 0.01 and abs(float(a.var()) - 1 / 12) < 0.005
