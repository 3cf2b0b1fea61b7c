"""The report's compositional tables: per-category accuracy per run, image-text vs text-only."""

from __future__ import annotations

from collections.abc import Sequence

from cyclip.report.collect import datasets_with, group_of, value
from cyclip.report.runs import Run
from cyclip.report.tables import Table

TEXT = (
    "Share of items (%) whose image is more similar to its true caption than to every hard "
    "negative (a tie counts as wrong). Text-only: the same choice made by the text tower alone, "
    "scoring each caption by its cosine with the mean embedding of the other images' true "
    "captions; near chance means the negatives leave no text-side shortcut, so the image-text "
    "accuracy above it is what the model reads off the image. Families group categories that "
    "share a prefix (swap_att and swap_rel: swap)."
)


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _count_and_chance(runs: Sequence[Run], dataset: str, group: str, key: str) -> tuple[str, str]:
    """Items and chance (%) of a row; a family's are summed / averaged over its categories."""
    from cyclip.evaluation.compositional import family_of  # imports torch: only when needed

    for run in runs:
        items = group_of(run, dataset, "items") or {}
        chance = group_of(run, dataset, "chance") or {}
        if not group.endswith("family"):
            if key in items:
                return f"{items[key]:.0f}", _cell(chance.get(key))
            continue
        members = [c for c in chance if c != "overall" and family_of(c) == key and c in items]
        if members:
            n = sum(items[c] for c in members)
            expected = sum(items[c] * chance[c] for c in members) / n
            return f"{n:.0f}", _cell(expected)
    return "-", "-"


def compositional_tables(runs: Sequence[Run]) -> list[Table]:
    """One table per compositional dataset: a row per category, family and overall; for each
    run its image-text and text-only accuracy, then image-text minus the first run's."""
    out = []
    for dataset in datasets_with(runs, "image_text"):
        rows = []
        keys: dict[tuple[str, str], None] = {}
        for run in runs:
            for group in ("image_text", "image_text_family"):
                for key in group_of(run, dataset, group) or {}:
                    keys.setdefault((group, key), None)
        ordered = sorted(
            keys,
            key=lambda gk: (gk[1] in ("overall", "mean_category"), gk[0] != "image_text"),
        )
        for group, key in ordered:
            blind = group.replace("image_text", "text_only")
            label = f"{key} (family)" if group.endswith("family") else key
            n, chance = _count_and_chance(runs, dataset, group, key)
            image_text = [value(run, dataset, group, key) for run in runs]
            cells: list[str] = []
            for run, v in zip(runs, image_text):
                cells += [_cell(v), _cell(value(run, dataset, blind, key))]
            base = image_text[0]
            diffs = [
                "-" if v is None or base is None else f"{v - base:+.1f}" for v in image_text[1:]
            ]
            rows.append((label, n, chance, *cells, *diffs))
        header = (
            "category",
            "items",
            "chance",
            *(f"{r.name} {kind}" for r in runs for kind in ("image-text", "text-only")),
            *(f"Δ image-text {r.name} − {runs[0].name}" for r in runs[1:]),
        )
        missing = [value(run, dataset, "items", "missing_image") for run in runs]
        note = ""
        if any(m for m in missing if m):
            note = f"{max(m for m in missing if m is not None):.0f} items without their image were not evaluated."
        out.append(Table(f"Compositional: {dataset} (accuracy %)", header, tuple(rows), note))
    return out
