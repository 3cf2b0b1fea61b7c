"""``build_report``: run directories in, one HTML file and a Markdown twin out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cyclip.report import plots, tables
from cyclip.report.document import Document, Section
from cyclip.report.html import render_html
from cyclip.report.markdown import render_markdown
from cyclip.report.runs import Run, load_run, unique_names

_TEXT = {
    "classification": "Percentages. Δ columns: difference to the first run, in percentage "
    "points. Every metric of every evaluation is in RUN_DIR/eval/*.json.",
    "retrieval": "Recall@k in percent; an image counts once however many captions it has.",
    "training": "Training curves from metrics.jsonl; cyclic terms are logged weighted by their λ. "
    "Thin lines are raw values, thick lines an exponential moving average.",
    "periodic": "The trainer's periodic evaluations (quick builtin suite).",
    "consistency": "Consistency@k: share of test images whose zero-shot class equals the "
    "majority label of their k nearest train images (the paper's consistency score).",
    "fine_coarse": "Fine: classify among the subclasses of the image's own superclass. Coarse: "
    "a superclass scores the best of its subclasses. Flat: ordinary zero-shot over all classes.",
    "shifts": "Zero-shot top-1 on the in-distribution test split and on the shifted splits.",
    "histograms": "Cosine similarity of matched image-caption pairs vs unmatched pairs on "
    "held-out data; a well-trained model separates the two.",
}


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path


def _figure_section(title: str, slug: str, figure, text: str) -> Section | None:
    if figure is None:
        return None
    return Section(title, slug, text, png=plots.to_png(figure))


def build_document(runs: Sequence[Run]) -> Document:
    """Every section for which at least one run has data, in reading order."""
    candidates = [
        Section("Runs", "runs", tables=(tables.runs_table(runs),)),
        _figure_section(
            "Training curves", "training", plots.training_curves(runs), _TEXT["training"]
        ),
        _figure_section(
            "Evaluation during training",
            "periodic",
            plots.periodic_eval_curves(runs),
            _TEXT["periodic"],
        ),
        _table_section(tables.periodic_eval_table(runs), "periodic-table"),
        _tables_section(
            "Classification", "classification", tables.metric_tables(runs), _TEXT["classification"]
        ),
        _tables_section(
            "Retrieval", "retrieval", tables.retrieval_tables(runs), _TEXT["retrieval"]
        ),
        _figure_section(
            "Consistency@k", "consistency", plots.consistency_bars(runs), _TEXT["consistency"]
        ),
        _figure_section(
            "Fine vs coarse zero-shot",
            "fine-coarse",
            plots.fine_coarse_bars(runs),
            _TEXT["fine_coarse"],
        ),
        _figure_section(
            "Zero-shot under distribution shift", "shifts", plots.shift_bars(runs), _TEXT["shifts"]
        ),
        _table_section(tables.robustness_view(runs), "robustness"),
        _figure_section(
            "Similarity of matched vs unmatched pairs",
            "histograms",
            plots.similarity_histograms(runs),
            _TEXT["histograms"],
        ),
        _table_section(tables.geometry_table(runs), "geometry"),
    ]
    names = " vs ".join(run.name for run in runs)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    problems = tuple(f"{run.name}: {p}" for run in runs for p in run.problems)
    return Document(
        title=f"cyclip report: {names}",
        subtitle=f"generated {stamp} from {len(runs)} run director{'y' if len(runs) == 1 else 'ies'}",
        sections=tuple(s for s in candidates if s is not None),
        problems=problems,
    )


def _table_section(table: tables.Table | None, slug: str) -> Section | None:
    return None if table is None else Section(table.title, slug, tables=(table,))


def _tables_section(title: str, slug: str, found: list[tables.Table], text: str) -> Section | None:
    return Section(title, slug, text, tables=tuple(found)) if found else None


def build_report(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike) -> ReportPaths:
    """Read the runs, write ``out`` (HTML) and ``out`` with suffix ``.md`` beside it.

    Figures of the Markdown version go to ``<out stem>_files/``.
    """
    if not run_dirs:
        raise ValueError("give at least one run directory")
    paths = [Path(p) for p in run_dirs]
    runs = [load_run(p, name) for p, name in zip(paths, unique_names(paths))]
    document = build_document(runs)
    html_path = Path(out)
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out must end in .html, got {html_path}")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(document), encoding="utf-8")
    md_path = html_path.with_suffix(".md")
    figure_dir = html_path.parent / f"{html_path.stem}_files"
    md_path.write_text(render_markdown(document, figure_dir, html_path.parent), encoding="utf-8")
    return ReportPaths(html_path, md_path)
