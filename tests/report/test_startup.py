"""``cyclip report RUN_DIR`` reads JSON and draws plots: it must not import torch."""

from __future__ import annotations

from test_startup import HEAVY, run_commands


def test_report_does_not_import_torch(two_runs, tmp_path):
    out = tmp_path / "r.html"
    codes, modules = run_commands(["report", *map(str, two_runs), "--out", str(out)])
    assert codes[0] == 0 and out.is_file()
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
