"""The report's sections, in reading order: a registry, one entry per kind of evaluation.

Each :class:`SectionSpec` builds its :class:`Section` from the runs, or ``None`` when no run has
the data for it. A new evaluation task adds its entry with :func:`register_section`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cyclip.report import compositional, plots, tables
from cyclip.report.document import Section
from cyclip.report.runs import Run

_TEXT = {
    "classification": "Percentages. Δ columns: difference to the first run, in percentage "
    "points. Every metric of every evaluation is in RUN_DIR/eval/*.json.",
    "retrieval": "Recall@k in percent; an image counts once however many captions it has.",
    "training": "Every quantity logged in metrics.jsonl against the step, one panel per family; "
    "cyclic terms are logged weighted by their λ, residuals unweighted.",
    "periodic": "Every metric of the trainer's evaluations (--run.eval-every with the validation "
    "loss and --run.eval-suite) against the step, one panel per metric family "
    "(task/dataset/group); colours are runs, line styles the metrics of a family.",
    "consistency": "Consistency@k: share of test images whose zero-shot class equals the "
    "majority label of their k nearest train images (the paper's consistency score).",
    "fine_coarse": "Fine: classify among the subclasses of the image's own superclass. Coarse: "
    "a superclass scores the best of its subclasses. Flat: ordinary zero-shot over all classes.",
    "shifts": "Zero-shot top-1 on the in-distribution test split and on the shifted splits.",
    "histograms": "Cosine similarity of matched image-caption pairs vs unmatched pairs on "
    "held-out data; a well-trained model separates the two.",
}


@dataclass(frozen=True)
class SectionSpec:
    """A report section: its slug and how to build it from the runs (``None``: nothing to show)."""

    slug: str
    build: Callable[[Sequence[Run]], Section | None]


def figure_section(title: str, slug: str, figure, text: str) -> Section | None:
    """A section around a matplotlib figure (``None`` when there is no figure)."""
    if figure is None:
        return None
    return Section(title, slug, text, png=plots.to_png(figure))


def table_section(table: tables.Table | None, slug: str) -> Section | None:
    """A section holding one table (``None`` when there is no table)."""
    return None if table is None else Section(table.title, slug, tables=(table,))


def tables_section(title: str, slug: str, found: list[tables.Table], text: str) -> Section | None:
    """A section holding several tables (``None`` when there are none)."""
    return Section(title, slug, text, tables=tuple(found)) if found else None


SECTIONS: list[SectionSpec] = [
    SectionSpec("runs", lambda runs: Section("Runs", "runs", tables=(tables.runs_table(runs),))),
    SectionSpec(
        "training",
        lambda runs: figure_section(
            "Training curves",
            "training",
            plots.training_curves(runs),
            f"{_TEXT['training']} {plots.training_curves_text(runs)}",
        ),
    ),
    SectionSpec(
        "periodic",
        lambda runs: figure_section(
            "Evaluation during training",
            "periodic",
            plots.periodic_eval_curves(runs),
            _TEXT["periodic"],
        ),
    ),
    SectionSpec(
        "periodic-table",
        lambda runs: table_section(tables.periodic_eval_table(runs), "periodic-table"),
    ),
    SectionSpec(
        "classification",
        lambda runs: tables_section(
            "Classification", "classification", tables.metric_tables(runs), _TEXT["classification"]
        ),
    ),
    SectionSpec(
        "retrieval",
        lambda runs: tables_section(
            "Retrieval", "retrieval", tables.retrieval_tables(runs), _TEXT["retrieval"]
        ),
    ),
    SectionSpec(
        "compositional",
        lambda runs: tables_section(
            "Compositionality",
            "compositional",
            compositional.compositional_tables(runs),
            compositional.TEXT,
        ),
    ),
    SectionSpec(
        "consistency",
        lambda runs: figure_section(
            "Consistency@k", "consistency", plots.consistency_bars(runs), _TEXT["consistency"]
        ),
    ),
    SectionSpec(
        "fine-coarse",
        lambda runs: figure_section(
            "Fine vs coarse zero-shot",
            "fine-coarse",
            plots.fine_coarse_bars(runs),
            _TEXT["fine_coarse"],
        ),
    ),
    SectionSpec(
        "shifts",
        lambda runs: figure_section(
            "Zero-shot under distribution shift", "shifts", plots.shift_bars(runs), _TEXT["shifts"]
        ),
    ),
    SectionSpec(
        "robustness", lambda runs: table_section(tables.robustness_view(runs), "robustness")
    ),
    SectionSpec(
        "histograms",
        lambda runs: figure_section(
            "Similarity of matched vs unmatched pairs",
            "histograms",
            plots.similarity_histograms(runs),
            _TEXT["histograms"],
        ),
    ),
    SectionSpec("geometry", lambda runs: table_section(tables.geometry_table(runs), "geometry")),
    SectionSpec("sts", lambda runs: table_section(tables.sts_table(runs), "sts")),
]
"""Every section of the report, in reading order."""


def register_section(spec: SectionSpec, *, after: str | None = None) -> SectionSpec:
    """Add ``spec`` at the end, or right after the section with slug ``after``."""
    if any(s.slug == spec.slug for s in SECTIONS):
        raise ValueError(f"report section {spec.slug!r} is already registered")
    if after is None:
        SECTIONS.append(spec)
    else:
        index = next((i for i, s in enumerate(SECTIONS) if s.slug == after), None)
        if index is None:
            raise ValueError(f"no report section {after!r} to insert after")
        SECTIONS.insert(index + 1, spec)
    return spec
