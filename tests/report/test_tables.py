from cyclip.report.runs import load_run
from cyclip.report.tables import (
    geometry_table,
    metric_tables,
    periodic_eval_table,
    robustness_view,
)


def test_side_by_side_with_difference_column(two_runs):
    runs = [load_run(p) for p in two_runs]
    tables = {t.title: t for t in metric_tables(runs)}
    assert "Linear probe top-1 (%)" not in tables  # no run has one
    top1 = tables["Zero-shot top-1 (%)"]
    assert top1.header == ("dataset", "clip", "cyclip", "Δ cyclip − clip")
    assert top1.rows == (("shapes/colour-shape/test", "40.00", "45.00", "+5.00"),)
    assert tables["Consistency@10 (%)"].rows[0][1:] == ("40.00", "45.00", "+5.00")
    assert tables["Coarse top-1 (superclass) (%)"].rows[0][1:] == ("70.00", "75.00", "+5.00")
    geo = {r[1]: r[3:] for r in geometry_table(runs).rows}
    assert geo["modality_gap"] == ("0.8000", "0.7500", "-0.05")
    assert geo["alignment"][2] == "+0.00"


def test_robustness_and_periodic_tables(two_runs):
    runs = [load_run(p) for p in two_runs]
    table = robustness_view(runs)
    sketch = [r for r in table.rows if r[2] == "cyclip" and r[1] == "sketch"][0]
    assert sketch == ("colour-shape", "sketch", "cyclip", "45.00", "25.00", "+20.00", "0.556", "-")
    assert "needs a trend" in table.note
    periodic = periodic_eval_table(runs)
    assert periodic.rows == (("shapes/shape/test/zero_shot/top1", "60.00", "65.00", "+5.00"),)


def test_single_run_has_no_difference_column(two_runs):
    table = metric_tables([load_run(two_runs[0])])[0]
    assert table.header == ("dataset", "clip")


def test_three_runs_get_effective_robustness(two_runs, run_factory):
    third = run_factory(two_runs[0].parent, "third", 10.0)
    runs = [load_run(p) for p in (*two_runs, third)]
    table = robustness_view(runs)
    effective = [r[7] for r in table.rows if r[1] == "sketch"]
    assert len(effective) == 3 and all(e != "-" for e in effective)
    # sketch accuracies are id - 20 for every run: the logit trend fits them closely
    assert all(abs(float(e)) < 2.0 for e in effective)
    assert "logit-linear trend fitted on 3" in table.note
