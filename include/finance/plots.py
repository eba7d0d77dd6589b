"""finance_ml's plots, drawn with seaborn: each function returns a matplotlib Figure for `save`.

Figures are built without pyplot, so a task drawing many of them keeps no global state.
"""

from __future__ import annotations

import io
from contextlib import contextmanager

import pandas as pd

from include.finance import ml

DPI = 80  # small PNGs, sharp enough to read in a browser and in the README
BEST = "tab:green"
CV, TEST = "cross-validated R2 (mean ± std over the folds)", "test R2"


@contextmanager
def _style():
    import seaborn as sns

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        yield sns


def save(figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def predicted_vs_true(result: dict):
    """One model's predicted against true target on the test set, a colour per product type.

    Amounts differ most between product types, so the colours show whether a model gets each type's
    level right; points on the dashed diagonal are perfect predictions.
    """
    from matplotlib.figure import Figure

    hue = ml.CATEGORICAL_FEATURES[0]  # product_type
    test = pd.DataFrame(result["test_predictions"])
    # the legend lists product types from the cheapest to the dearest, as the points lie
    order = list(test.groupby(hue)[ml.TARGET].median().sort_values().index)
    with _style() as sns:
        figure = Figure(figsize=(8, 6.5), layout="constrained")
        ax = figure.subplots()
        sns.scatterplot(test, x=ml.TARGET, y="predicted", hue=hue, hue_order=order, style=hue, style_order=order,
                        palette="Dark2", s=35, alpha=0.8, linewidth=0, ax=ax)
        low = min(test[ml.TARGET].min(), test["predicted"].min())
        high = max(test[ml.TARGET].max(), test["predicted"].max())
        ax.plot([low, high], [low, high], "--", color="0.3", linewidth=1, label="perfect prediction")
        ax.set_xlabel(f"true average captured amount ({ml.TARGET_UNIT})")
        ax.set_ylabel(f"predicted ({ml.TARGET_UNIT})")
        ax.legend(title=hue.replace("_", " "), loc="upper left")
        ax.set_title(f"{result['model']}: predicted vs true, {len(test)} test customers\n"
                     f"test R2 = {result['r2_test']:.3f}, cross-validated R2 = {result['cv_r2']:.3f} "
                     f"± {result['cv_r2_std']:.3f}")
    return figure


def model_comparison(results: list[dict]):
    """Every model's cross-validated R2 (mean ± std over the folds) with its test R2 alongside, and its fit
    time; ranked as `ml.select_best` ranks them, so the selected model is at the top, in green."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ordered = sorted(results, key=ml.rank, reverse=True)
    best = ordered[0]["model"]  # ml.select_best's choice
    frame = pd.DataFrame(ordered).rename(columns={"cv_r2": CV, "r2_test": TEST})
    frame["fit_seconds"] = frame["fit_seconds"].clip(lower=1e-3)  # a log axis has no 0
    scores = frame.melt(id_vars="model", value_vars=[CV, TEST], var_name="score", value_name="R2")
    colors = {name: BEST if name == best else "tab:gray" for name in frame["model"]}
    with _style() as sns:
        figure = Figure(figsize=(12, 0.55 * len(ordered) + 2), layout="constrained")
        ax_r2, ax_fit = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1.3]})
        # Points, not bars: the differences that matter are hundredths, on an axis that does not start at 0.
        ax_r2.errorbar(frame[CV], frame["model"], xerr=frame["cv_r2_std"], fmt="none", ecolor="0.4", capsize=4)
        sns.scatterplot(scores, x="R2", y="model", hue="score", style="score", markers={CV: "o", TEST: "D"},
                        palette={CV: "tab:blue", TEST: "tab:orange"}, s=110, zorder=3, ax=ax_r2)
        ax_r2.axhspan(-0.45, 0.45, color=BEST, alpha=0.12)  # the selected model's row
        ax_r2.set(xlabel="R2 (higher is better)", ylabel="")
        ax_r2.margins(x=0.08)  # room for the value labels at either end
        for _, r in frame.iterrows():
            ax_r2.annotate(f"{r[CV]:.3f} ± {r['cv_r2_std']:.3f}", (r[CV], r["model"]), xytext=(0, 9),
                           textcoords="offset points", ha="center", fontsize="small")
        sns.move_legend(ax_r2, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, title=None, frameon=False)
        sns.barplot(frame, x="fit_seconds", y="model", hue="model", palette=colors, saturation=1, legend=False,
                    ax=ax_fit)
        ax_fit.set_xscale("log")
        ax_fit.margins(x=0.25)  # room for the labels right of the bars
        # seconds as plain numbers on the powers of ten only: labels on the minor ticks overlap
        ax_fit.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: f"{seconds:g}"))
        ax_fit.xaxis.set_minor_formatter(NullFormatter())
        for bars in ax_fit.containers:
            ax_fit.bar_label(bars, fmt=" %.2f s")
        ax_fit.set(xlabel="fit seconds (log scale)", ylabel="", title="Fit time")
        for label in ax_r2.get_yticklabels():
            if label.get_text() == best:
                label.set(color=BEST, fontweight="bold")
        figure.suptitle(f"Models on model_satisfaction, best cross-validated R2 first: {best} is selected",
                        fontsize="x-large")
    return figure
