import matplotlib.colors
import pytest
from model_tables import LINEAR, satisfaction_table, train

from include.finance import ml, plots

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
    for figure in (plots.predicted_vs_true(result), plots.model_comparison([result])):
        data = plots.save(figure)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 150_000
