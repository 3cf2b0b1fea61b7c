"""Reports: run directories (training log + evaluation results) -> one HTML file with plots.

>>> from cyclip.report import build_report
>>> build_report(["runs/clip", "runs/cyclip"], "report.html")   # also writes report.md
"""

from cyclip.report.build import ReportPaths, build_document, build_report
from cyclip.report.runs import Run, load_run

__all__ = ["ReportPaths", "Run", "build_document", "build_report", "load_run"]
