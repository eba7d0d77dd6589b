"""finance_ml's plots, drawn with seaborn: each function returns a matplotlib Figure for `save`.

Figures are built without pyplot, so a task drawing many of them keeps no global state.
"""

from __future__ import annotations

import io
from contextlib import contextmanager

import pandas as pd

from include.finance.training import ml

DPI = 80  # small PNGs, sharp enough to read in a browser and in the README
BEST = "tab:green"
ALERT = "red"  # alert markers in monitoring_history
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


MONITORING_TITLE = "Model monitoring: champion R2 and feature drift (PSI) by day"
_VERSION_MARKERS = "osD^vP*<>ph"
R2_LINE = "_champion R2"  # the line through the days; "_" keeps it out of the legend


def _no_data(ax, text: str):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _threshold(ax, by_day: pd.Series, label: str):
    """A dashed alert threshold: a horizontal line if it is the same every day, else a step from day to day."""
    if by_day.nunique() == 1:
        ax.axhline(by_day.iloc[0], linestyle="--", color="0.3", linewidth=1.2, label=label)
    elif len(by_day):
        ax.step(by_day.index, by_day, "--", where="mid", color="0.3", linewidth=1.2, label=label)


def monitoring_history(rows):
    """The `model_monitoring` table by day: the champion's R2 on top, each input feature's PSI below.

    `rows` (a list of dicts or a DataFrame) holds one row per day, metric and feature: ds, model_version,
    metric, feature ('' for r2), value, threshold and alert. Top: the serving model's (champion's) R2 on
    each day's rows, the R2 below which it alerts as a dashed step, a marker style per model_version with
    the version written where it changes, and red X on the days that alerted. Bottom: each feature's PSI
    against the champion's training rows, the PSI above which it alerts as a dashed line, and red X on
    the drifted features' days. The 'ks' rows are recorded alongside PSI but not plotted. Days with no r2
    row (no champion yet) leave a gap; with no rows at all the figure just says so.
    """
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.figure import Figure

    frame = pd.DataFrame(rows)
    if frame.empty:
        figure = Figure(figsize=(11, 3), layout="constrained")
        figure.suptitle(MONITORING_TITLE, fontsize="x-large")
        figure.text(0.5, 0.45, "no monitoring rows yet", ha="center", va="center", fontsize="x-large", color="0.4")
        return figure
    frame = frame.assign(ds=pd.to_datetime(frame["ds"]), value=frame["value"].astype(float),
                         threshold=pd.to_numeric(frame["threshold"], errors="coerce"),
                         alert=frame["alert"].eq(True))  # None (no verdict) is no alert
    frame = frame.sort_values("ds", kind="stable")
    days = list(frame["ds"].drop_duplicates())
    r2 = frame[frame["metric"] == "r2"].drop_duplicates("ds", keep="last").set_index("ds")
    psi = frame[frame["metric"] == "psi"].reset_index(drop=True)
    with _style() as sns:
        figure = Figure(figsize=(11, 8), layout="constrained")
        ax_r2, ax_psi = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})

        if r2.empty:
            _no_data(ax_r2, "no champion R2 yet")
        else:
            # on every day, so a day without an r2 row breaks the line rather than being bridged
            daily = r2.reindex(days)
            ax_r2.plot(daily.index, daily["value"], "-", color="tab:blue", linewidth=1.5, zorder=2, label=R2_LINE)
            versions = list(r2["model_version"].drop_duplicates())
            for i, version in enumerate(versions):
                own = r2[r2["model_version"] == version]
                marker = _VERSION_MARKERS[i % len(_VERSION_MARKERS)]
                ax_r2.plot(own.index, own["value"], linestyle="none", marker=marker, markersize=7, color="tab:blue",
                           label=f"champion {version}", zorder=3)
            # the version written on its first day, and a dotted line where the champion changes
            changes = r2[r2["model_version"] != r2["model_version"].shift()]
            for n, (day, row) in enumerate(changes.iterrows()):
                if n:
                    ax_r2.axvline(day, color="0.5", linestyle=":", linewidth=1)
                ax_r2.annotate(str(row["model_version"]), (day, row["value"]), xytext=(4, 8),
                               textcoords="offset points", fontsize="small", color="0.25")
            _threshold(ax_r2, r2["threshold"].dropna(), "alert below this R2")
            alerts = r2[r2["alert"]]
            if len(alerts):
                ax_r2.scatter(alerts.index, alerts["value"], marker="X", s=140, color=ALERT, zorder=4,
                              label="R2 alert")
            ax_r2.margins(y=0.15)  # room for the version labels
            ax_r2.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
        ax_r2.set(ylabel="champion R2", title="Champion R2 on each day's rows")

        if psi.empty:
            _no_data(ax_psi, "no PSI rows yet")
        else:
            present = list(psi["feature"].drop_duplicates())
            order = [f for f in ml.FEATURES if f in present] + sorted(f for f in present if f not in ml.FEATURES)
            sns.lineplot(psi, x="ds", y="value", hue="feature", hue_order=order, marker="o", estimator=None,
                         errorbar=None, palette="tab10", ax=ax_psi)
            limits = psi.dropna(subset=["threshold"]).drop_duplicates("ds", keep="last").set_index("ds")
            _threshold(ax_psi, limits["threshold"], "alert above this PSI")
            alerts = psi[psi["alert"]]
            if len(alerts):
                ax_psi.scatter(alerts["ds"], alerts["value"], marker="X", s=140, color=ALERT, zorder=4,
                               label="PSI alert")
            ax_psi.set_ylim(bottom=0)
            ax_psi.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", title="feature")
        ax_psi.set(xlabel="day", ylabel="PSI vs the champion's training rows",
                   title="Feature drift: population stability index")

        pad = (days[-1] - days[0]) * 0.15 + pd.Timedelta(hours=6)  # room for the last version's label
        ax_psi.set_xlim(days[0] - pad, days[-1] + pad)
        if len(days) <= 14:
            ax_psi.set_xticks(days)
        else:
            ax_psi.xaxis.set_major_locator(AutoDateLocator(maxticks=14))
        ax_psi.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
        ax_psi.tick_params(axis="x", labelrotation=30)
        figure.suptitle(MONITORING_TITLE, fontsize="x-large")
    return figure
