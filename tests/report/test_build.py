import base64
import io
import re

import pytest
from PIL import Image

from cyclip.cli.report import main
from cyclip.report import build_report


def test_html_is_self_contained_with_every_section(two_runs, tmp_path):
    paths = build_report(list(two_runs), tmp_path / "out" / "report.html")
    html = paths.html.read_text()
    for title in (
        "Training curves",
        "Evaluation during training",
        "Classification",
        "Zero-shot top-1 (%)",
        "Consistency@k",
        "Fine vs coarse zero-shot",
        "Zero-shot under distribution shift",
        "Robustness to distribution shift",
        "Similarity of matched vs unmatched pairs",
        "Embedding geometry",
        "Skipped inputs",
    ):
        assert f">{title}<" in html, title
    assert not re.search(r"(src|href)=\"(https?:|//|file:)", html)  # no external assets
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 6
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            assert img.format == "PNG" and img.width > 300

    md = paths.markdown.read_text()
    assert paths.markdown == tmp_path / "out" / "report.md"
    assert "### Zero-shot top-1 (%)" in md
    assert "| shapes/colour-shape/test | 40.00 | 45.00 | +5.00 |" in md
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(linked) == 6 and all((tmp_path / "out" / p).is_file() for p in linked)


def test_cli(two_runs, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main([str(two_runs[0]), "--out", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".md").is_file()
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cyclip report: error: run directory not found: {tmp_path / 'missing'}"]
    assert main([str(two_runs[0]), "--out", str(tmp_path / "r.pdf")]) == 2


@pytest.mark.slow
def test_cli_evaluate_runs_the_builtin_suite_first(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("CYCLIP_CACHE", str(tmp_path / "cache"))  # keep the user's cache clean
    from cyclip.models import create_model

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    bundle = create_model("cyclip-tiny")
    torch.save(
        {
            "state_dict": bundle.model.state_dict(),
            "model_name": "cyclip-tiny",
            "model_overrides": {},
        },
        run / "checkpoints" / "latest.pt",
    )
    assert main([str(run), "--out", str(tmp_path / "r.html"), "--evaluate", "--workers", "0"]) == 0
    assert len(list((run / "eval").glob("*.json"))) == 17  # with shapes/compositional and sts
    assert "Zero-shot top-1 (%)" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(("steps", "smoothed"), [(40, False), (80, True)])
def test_training_curve_text_describes_the_lines_drawn(tmp_path, steps, smoothed):
    from cyclip.report.build import build_document
    from cyclip.report.runs import load_run

    from .conftest import write_run

    run = load_run(write_run(tmp_path, "a", 0, steps=steps))
    section = next(s for s in build_document([run]).sections if s.slug == "training")
    figure = plots_lines(run)
    assert ("moving average" in section.text) == smoothed == (figure > 1)
    if not smoothed:
        assert "one line per run" in section.text.lower()


def plots_lines(run) -> int:
    """Lines drawn per run in the loss panel of the training-curves figure."""
    from cyclip.report.plots import training_curves

    return len(training_curves([run]).axes[0].get_lines())
