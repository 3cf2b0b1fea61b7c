"""Plain-text tables of result documents, for the terminal (``cyclip eval``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cyclip.numbers import format_value, is_number

# The metrics that summarise each group in one-line-per-dataset views.
HEADLINE: dict[str, tuple[str, ...]] = {
    "zero_shot": ("top1", "top5", "mean_per_class_recall"),
    "linear_probe": ("top1",),
    "consistency": ("consistency@1", "consistency@10", "knn_accuracy@1"),
    "fine_coarse": ("fine_top1", "coarse_top1"),
    "retrieval": ("image_to_text_R@1", "text_to_image_R@1", "mean_recall"),
    "image_text": ("overall", "mean_category"),
    "text_only": ("overall",),
    "image_text_family": (),
    "text_only_family": (),
    "chance": (),
    "items": ("overall", "missing_image"),
    "groups": ("text", "image", "group"),
    "groups_chance": (),
    "geometry": (
        "modality_gap",
        "alignment",
        "uniformity_image",
        "inmodal_cyclic",
        "crossmodal_cyclic",
    ),
}


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Numbers right-aligned, text left-aligned, columns padded to fit."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(str(h)) for h in header]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r)]
    numeric = [bool(rows) and all(is_number(r[i]) for r in rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(map(str, cells), widths, numeric)
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def format_result(result: Mapping) -> str:
    """Every metric of one result document, grouped, with a title line."""
    ds = result["dataset"]
    title = f"{result['task']} on {ds.get('name', ds['source'])} (n={ds['n']}"
    if ds.get("skipped"):
        title += f", {ds['skipped']} unreadable skipped"
    if ds.get("missing_images"):
        title += f", {ds['missing_images']} of {ds.get('total', '?')} items without their image"
    title += f") - model {result['model']['name']}"
    rows = []
    for group, values in result["metrics"].items():
        for name, value in values.items():
            rows.append((group, name, format_value(value)))
    return title + "\n" + render_table(("group", "metric", "value"), rows)


def format_summary(results: Iterable[Mapping]) -> str:
    """One row per result and headline metric: ``dataset | group/metric | value``."""
    rows = []
    for result in results:
        name = result["dataset"].get("name", result["dataset"]["source"])
        for group, values in result["metrics"].items():
            keys = HEADLINE.get(group, tuple(values))
            for key in keys:
                if key in values:
                    rows.append((name, f"{group}/{key}", format_value(values[key])))
    return render_table(("dataset", "metric", "value"), rows)
