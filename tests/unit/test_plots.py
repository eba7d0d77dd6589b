import math

import matplotlib.colors
import matplotlib.dates
import pandas as pd
import pytest
from model_tables import LINEAR, satisfaction_table, train

from include.finance.training import ml, plots

TYPES = ("basic", "premium", "enterprise")


def result_with(product_types):
    features = ml.engineer_features(satisfaction_table(product_types=product_types), seed=2)
    return train(features, LINEAR, "LinearRegression")


def points(ax):
    """(x, y, colour) of every point the axes' scatter plots drew."""
    found = []
    for collection in ax.collections:
        offsets, colours = collection.get_offsets(), collection.get_facecolors()
        if len(offsets) and len(colours) in (1, len(offsets)):
            found += [(x, y, matplotlib.colors.to_hex(colours[i if len(colours) > 1 else 0]))
                      for i, (x, y) in enumerate(offsets)]
    return found


@pytest.mark.parametrize("product_types", [TYPES, ("basic", "premium")])
def test_predicted_vs_true_has_one_colour_per_product_type_present(product_types):
    result = result_with(product_types)
    ax = plots.predicted_vs_true(result).axes[0]
    drawn = points(ax)
    rows = result["test_predictions"]
    assert [(x, y) for x, y, _ in drawn] == list(zip(rows[ml.TARGET], rows["predicted"]))  # the test set, row by row
    colour_of = {}
    for (_, _, colour), product_type in zip(drawn, rows["product_type"]):
        colour_of.setdefault(product_type, set()).add(colour)
    assert set(colour_of) == set(product_types)
    assert all(len(colours) == 1 for colours in colour_of.values())  # one colour per type
    assert len(set.union(*colour_of.values())) == len(product_types)  # and a different one for each
    # the legend names the types from the cheapest to the dearest, and the diagonal
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [t for t in ("basic", "premium", "enterprise") if t in product_types] + ["perfect prediction"]


def comparison_results():
    """cv_r2, r2_test and fit time each order the models differently; B and C tie on cv_r2 (to 4 decimals), B a little higher."""
    return [{"model": name, "cv_r2": cv, "cv_r2_std": 0.02, "cv_folds": 5, "r2_test": test, "fit_seconds": fit}
            for name, cv, test, fit in [("A", 0.70, 0.80, 0.01), ("B", 0.84002, 0.75, 2.0),
                                        ("C", 0.84001, 0.70, 0.5), ("D", 0.80, 0.85, 0.02)]]


def rows_top_down(ax) -> list[str]:
    """The y tick labels (the models) as they read from the top."""
    labels = sorted(ax.get_yticklabels(), key=lambda label: -ax.transData.transform((0, label.get_position()[1]))[1])
    return [label.get_text() for label in labels]


def test_the_comparison_lists_models_by_cross_validated_r2_with_test_r2_alongside():
    """Sorted as ml.select_best ranks them: of B and C, tied to 4 decimals, the faster C first."""
    results = comparison_results()
    ax_r2 = plots.model_comparison(results).axes[0]
    assert rows_top_down(ax_r2) == ["C", "B", "D", "A"]
    row = {label.get_position()[1]: label.get_text() for label in ax_r2.get_yticklabels()}
    drawn = {}
    for x, y, _ in points(ax_r2):
        drawn.setdefault(row[round(y)], set()).add(round(x, 5))
    assert drawn == {r["model"]: {round(r["cv_r2"], 5), r["r2_test"]} for r in results}


def test_the_comparison_highlights_the_selected_model_only():
    """B and C tie on cv_r2 (to 4 decimals): the faster, C, is selected, and it alone is highlighted."""
    results = comparison_results()
    figure = plots.model_comparison(results)
    ax_r2, ax_fit = figure.axes[:2]
    assert ml.select_best(results)["model"] == "C"
    best = matplotlib.colors.to_hex(plots.BEST)
    assert [label.get_text() for label in ax_r2.get_yticklabels()
            if matplotlib.colors.to_hex(label.get_color()) == best] == ["C"]
    row = {label.get_position()[1]: label.get_text() for label in ax_r2.get_yticklabels()}  # the axes share y
    bars = {row[round(bar.get_y() + bar.get_height() / 2)]: matplotlib.colors.to_hex(bar.get_facecolor())
            for bar in ax_fit.patches}
    assert sorted(bars) == ["A", "B", "C", "D"]
    assert [name for name, colour in bars.items() if colour == best] == ["C"]
    assert "C is selected" in figure.get_suptitle()


def test_plots_are_small_pngs():
    result = result_with(TYPES)
    for figure in (plots.predicted_vs_true(result), plots.model_comparison([result]),
                   plots.monitoring_history(monitoring_rows())):
        data = plots.save(figure)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 150_000


DAYS = ("2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04")
R2_THRESHOLD, PSI_THRESHOLD = 0.6, 0.2


def monitoring_rows(days=DAYS, r2_days=DAYS):
    """model_monitoring rows: the champion's R2 (v1, then v2 from the third day) and each feature's PSI and KS
    per day; on the third day R2 falls below its threshold and the first feature drifts. KS values are all
    above 0.9, so no plotted value can be one."""
    rows = []
    for d, ds in enumerate(days):
        version = "v1" if d < 2 else "v2"
        if ds in r2_days:
            r2 = 0.45 if d == 2 else 0.80 - 0.01 * d
            rows.append({"ds": ds, "model_version": version, "metric": "r2", "feature": "", "value": r2,
                         "threshold": R2_THRESHOLD, "alert": r2 < R2_THRESHOLD})
        for f, feature in enumerate(ml.FEATURES):
            psi = 0.01 * (f + 1) + 0.001 * d + (0.5 if d == 2 and f == 0 else 0)
            rows.append({"ds": ds, "model_version": version, "metric": "psi", "feature": feature, "value": psi,
                         "threshold": PSI_THRESHOLD, "alert": psi > PSI_THRESHOLD})
            rows.append({"ds": ds, "model_version": version, "metric": "ks", "feature": feature,
                         "value": 0.91 + 0.01 * f + 0.001 * d, "threshold": 0.05, "alert": True})
    return rows


def drawn_lines(ax):
    """The axes' lines that have data (seaborn adds empty ones for its legend), as (label, [(x, y), ...])."""
    return [(line.get_label(), [tuple(xy) for xy in line.get_xydata()]) for line in ax.lines if len(line.get_xdata())]


def day(ds) -> float:
    return matplotlib.dates.date2num(pd.Timestamp(ds))


@pytest.mark.parametrize("as_frame", [False, True])
def test_monitoring_history_has_champion_r2_above_and_one_psi_line_per_feature_below(as_frame):
    rows = monitoring_rows()
    figure = plots.monitoring_history(pd.DataFrame(rows) if as_frame else rows)
    assert len(figure.axes) == 2
    ax_r2, ax_psi = figure.axes
    assert ax_r2.get_shared_x_axes().joined(ax_r2, ax_psi)
    assert "R2" in figure.get_suptitle() and "PSI" in figure.get_suptitle()
    r2 = [(day(r["ds"]), r["value"]) for r in rows if r["metric"] == "r2"]
    assert (plots.R2_LINE, r2) in drawn_lines(ax_r2)  # the champion's R2, day by day
    assert any(label.startswith("alert below") and {y for _, y in xy} == {R2_THRESHOLD}
               for label, xy in drawn_lines(ax_r2))
    lines = drawn_lines(ax_psi)
    assert len(lines) == len(ml.FEATURES) + 1  # a line per feature, and the threshold
    thresholds = [xy for label, xy in lines if label.startswith("alert above")]
    assert len(thresholds) == 1 and {y for _, y in thresholds[0]} == {PSI_THRESHOLD}
    assert sorted(xy for label, xy in lines if not label.startswith("alert")) == sorted(
        [(day(r["ds"]), r["value"]) for r in rows if r["metric"] == "psi" and r["feature"] == feature]
        for feature in ml.FEATURES)
    legend = [text.get_text() for text in ax_psi.get_legend().get_texts()]
    assert legend[:len(ml.FEATURES)] == ml.FEATURES


def test_monitoring_history_marks_the_alerts_red():
    rows = monitoring_rows()
    figure = plots.monitoring_history(rows)
    alert = matplotlib.colors.to_hex(plots.ALERT)
    for ax, metric in zip(figure.axes, ("r2", "psi")):
        expected = [(day(r["ds"]), r["value"]) for r in rows if r["metric"] == metric and r["alert"]]
        assert len(expected) == 1  # the third day's
        assert [(x, y) for x, y, colour in points(ax) if colour == alert] == expected


def test_monitoring_history_shows_where_the_champion_changes():
    figure = plots.monitoring_history(monitoring_rows())
    ax_r2 = figure.axes[0]
    assert [(text.get_text(), day(text.xy[0])) for text in ax_r2.texts] == [("v1", day(DAYS[0])), ("v2", day(DAYS[2]))]
    labels = [text.get_text() for text in ax_r2.get_legend().get_texts()]
    assert "champion v1" in labels and "champion v2" in labels
    markers = {label: line.get_marker() for line in ax_r2.lines if (label := line.get_label()).startswith("champion")}
    assert len(set(markers.values())) == 2  # a marker style per version


def test_monitoring_history_does_not_plot_ks():
    rows = monitoring_rows()
    figure = plots.monitoring_history(rows)
    ks = {round(r["value"], 6) for r in rows if r["metric"] == "ks"}
    drawn = {round(y, 6) for ax in figure.axes for _, xy in drawn_lines(ax) for _, y in xy}
    drawn |= {round(y, 6) for ax in figure.axes for _, y, _ in points(ax)}
    assert drawn and not drawn & ks
    without_ks = plots.monitoring_history([r for r in rows if r["metric"] != "ks"])
    assert [drawn_lines(ax) for ax in figure.axes] == [drawn_lines(ax) for ax in without_ks.axes]


@pytest.mark.parametrize("rows", [[], pd.DataFrame()])
def test_monitoring_history_without_rows_says_so(rows):
    figure = plots.monitoring_history(rows)
    assert figure.axes == [] and "no monitoring rows yet" in [text.get_text() for text in figure.texts]
    assert plots.save(figure)[:8] == b"\x89PNG\r\n\x1a\n"


def test_monitoring_history_copes_with_one_day_and_days_without_a_champion():
    # the first day has no champion yet, so no r2 row: a gap in the R2 line, not a point
    figure = plots.monitoring_history(monitoring_rows(r2_days=DAYS[1:]))
    [r2] = [xy for label, xy in drawn_lines(figure.axes[0]) if label == plots.R2_LINE]
    assert len(r2) == len(DAYS) and math.isnan(r2[0][1]) and not any(math.isnan(y) for _, y in r2[1:])
    assert len(drawn_lines(figure.axes[1])) == len(ml.FEATURES) + 1
    # one day, with no r2 row at all
    figure = plots.monitoring_history(monitoring_rows(days=DAYS[:1], r2_days=()))
    assert len(figure.axes) == 2 and "no champion R2 yet" in [text.get_text() for text in figure.axes[0].texts]
    assert len(drawn_lines(figure.axes[1])) == len(ml.FEATURES) + 1
    assert plots.save(figure)[:8] == b"\x89PNG\r\n\x1a\n"
