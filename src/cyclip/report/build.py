"""``build_report``: run directories in, one HTML file and a Markdown twin out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cyclip.report.collect import disambiguate
from cyclip.report.document import Document
from cyclip.report.html import render_html
from cyclip.report.markdown import render_markdown
from cyclip.report.runs import Run, load_run, unique_names
from cyclip.report.sections import SECTIONS


@dataclass(frozen=True)
class ReportPaths:
    """The two files :func:`build_report` wrote."""

    html: Path
    markdown: Path


def build_document(runs: Sequence[Run]) -> Document:
    """Every registered section for which at least one run has data, in reading order."""
    built = [spec.build(runs) for spec in SECTIONS]
    names = " vs ".join(run.name for run in runs)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    problems = tuple(f"{run.name}: {p}" for run in runs for p in run.problems)
    return Document(
        title=f"cyclip report: {names}",
        subtitle=f"generated {stamp} from {len(runs)} run director{'y' if len(runs) == 1 else 'ies'}",
        sections=tuple(s for s in built if s is not None),
        problems=problems,
    )


def build_report(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike) -> ReportPaths:
    """Read the runs, write ``out`` (HTML) and ``out`` with suffix ``.md`` beside it.

    Figures of the Markdown version go to ``<out stem>_files/``.
    """
    if not run_dirs:
        raise ValueError("give at least one run directory")
    paths = [Path(p) for p in run_dirs]
    runs = [load_run(p, name) for p, name in zip(paths, unique_names(paths))]
    disambiguate(runs)
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
