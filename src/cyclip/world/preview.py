"""Contact sheets: a grid of a task's images with their captions or labels, for people to look at."""

from __future__ import annotations

import math
import textwrap

from PIL import Image, ImageDraw, ImageFont

from cyclip.world import load_classification, load_compositional, load_pairs, load_retrieval
from cyclip.world.sts import text_only_error
from cyclip.world.tasks import resolve

FONT_SIZE = 12
LINE_HEIGHT = 15
PADDING = 6
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (20, 20, 20)


def _items(dataset) -> list[dict]:
    """The items of a map-style world dataset, in order."""
    return [dataset[i] for i in range(len(dataset))]


def item_texts(name: str, n: int, image_size: int = 64) -> list[tuple[Image.Image, list[str]]]:
    """The first ``n`` items of a task as (image, lines of text describing it)."""
    kind = resolve(name).kind
    if kind == "sts":
        raise text_only_error(resolve(name).name)
    if kind == "pairs":
        pairs = load_pairs(name, size=n, image_size=image_size)
        return [(item["image"], [item["caption"]]) for item in _items(pairs)]
    if kind == "retrieval":
        retrieval = load_retrieval(name, image_size=image_size, size=n)
        return [
            (item["image"], [f"{k + 1}. {c}" for k, c in enumerate(item["captions"])])
            for item in _items(retrieval)
        ]
    if kind == "compositional":
        items = load_compositional(name, image_size=image_size, size=n)
        return [
            (
                item["image"],
                [f"[{item['category']}]", f"+ {item['positive']}"]
                + [f"- {t}" for t in item["negatives"]],
            )
            for item in _items(items)
        ]
    dataset, info = load_classification(name, image_size=image_size, size=n)
    out = []
    for item in _items(dataset):
        label = info.classnames[item["label"]]
        if info.superclasses is not None:
            label = f"{label}  [{info.superclasses[item['label']]}]"
        out.append((item["image"], [f"label {item['label']}: {label}"]))
    return out


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def contact_sheet(name: str, n: int = 16, image_size: int = 64, scale: int = 3) -> Image.Image:
    """A grid of the first ``n`` items of task ``name``, each image enlarged ``scale`` times
    (nearest neighbour, so pixels stay honest) above its caption(s) or label."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    items = item_texts(name, n, image_size)
    tile = image_size * scale
    chars_per_line = max(12, tile // 7)
    wrapped = [
        [line for text in texts for line in textwrap.wrap(text, chars_per_line)]
        for _, texts in items
    ]
    text_height = LINE_HEIGHT * max(len(lines) for lines in wrapped) + PADDING
    cols = math.ceil(math.sqrt(len(items)))
    rows = math.ceil(len(items) / cols)
    cell_w, cell_h = tile + 2 * PADDING, tile + text_height + 2 * PADDING
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h + LINE_HEIGHT + PADDING), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    draw.text((PADDING, PADDING // 2), name, fill=TEXT_COLOUR, font=font)
    top = LINE_HEIGHT + PADDING
    for k, ((image, _), lines) in enumerate(zip(items, wrapped)):
        x = (k % cols) * cell_w + PADDING
        y = top + (k // cols) * cell_h + PADDING
        sheet.paste(image.resize((tile, tile), Image.Resampling.NEAREST), (x, y))
        for j, line in enumerate(lines):
            draw.text((x, y + tile + 3 + j * LINE_HEIGHT), line, fill=TEXT_COLOUR, font=font)
    return sheet
