"""Small matplotlib figures for asset metadata: PNG, base64, inside markdown (the Dagster UI renders it).

Kept small because metadata is stored with every materialization. ``to_markdown_image`` is the one
figure -> markdown helper (docs/ltv_btyd.md).
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from adperf_assets.ltv.keys import SEGMENT_KEYS  # noqa: E402


def to_markdown_image(fig, alt: str) -> str:
    """``fig`` as a markdown image (PNG at 72 dpi, base64 inline); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
    plt.close(fig)
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def segment_label(row) -> str:
    """``ios/paid/facebook``; ``row`` is a Series/dict or an ``itertuples`` row."""
    get = row.__getitem__ if hasattr(row, "keys") else (lambda k: getattr(row, k))
    emu = " emulator" if bool(get("is_emulator")) else ""
    return f"{get('platform')}/{get('attribution')}/{get('network')}{emu}"


def retention_plot(table: pd.DataFrame, top: int = 6) -> str:
    """Cleaned pooled access rate (dots) and fitted blended retention (lines) of the largest segments."""
    day = table[table["report_date"] == table["report_date"].max()]
    size0 = day[day["days_since_install"] == 0].nlargest(top, "cohort_size")
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for _, seg in size0.iterrows():
        rows = day.merge(seg[list(SEGMENT_KEYS)].to_frame().T.astype(day[list(SEGMENT_KEYS)].dtypes),
                         on=list(SEGMENT_KEYS))
        rows = rows.sort_values("days_since_install")
        line, = ax.plot(rows["days_since_install"], rows["retention"], lw=1.5,
                        label=f"{segment_label(seg)} (n0={seg['cohort_size']:.0f})")
        obs = rows[rows["observed"]]
        ax.plot(obs["days_since_install"], obs["clean_access_rate"], ".", ms=2.5, color=line.get_color(), alpha=0.6)
    ax.set_yscale("log")
    ax.minorticks_off()  # as in backtest_plot: a log axis' minor ticks cost more than the curves
    ax.set_xlabel("days since install")
    ax.set_ylabel("share of installs active")
    ax.set_title(f"Blended retention (sBG + rational) vs cleaned pooled access rate, {day['report_date'].max().date()}")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    return to_markdown_image(fig, "retention fit")


def ltv_plot(estimates: pd.DataFrame, horizon: int = 180) -> str:
    """Size-weighted LTV per user of each install cohort at ``horizon``, both estimators, with the interval."""
    d = estimates[(estimates["horizon"] == horizon) & (estimates["report_date"] == estimates["report_date"].max())]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for est, color in (("cohort", "tab:blue"), ("geometric", "tab:gray")):
        e = d[d["estimator"] == est]
        if e.empty:
            continue
        w = e["cohort_size"].to_numpy(float)
        g = e.assign(v=e["ltv_per_user_usd"] * w, lo=e["lower_usd"] * w, hi=e["upper_usd"] * w, n=w).groupby(
            "install_date")[["v", "lo", "hi", "n"]].sum()
        ax.plot(g.index, g["v"] / g["n"], color=color, label=f"{est} estimate")
        if est == "cohort":
            ax.fill_between(g.index, g["lo"] / g["n"], np.minimum(g["hi"] / g["n"], 10 * (g["v"] / g["n"]).max()),
                            color=color, alpha=0.15, label="99% interval (segments summed)")
    ax.set_ylabel(f"{horizon}-day revenue per install, USD")
    ax.set_title(f"Cohort LTV({horizon}) by install day, all segments, as of {d['report_date'].max().date()}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return to_markdown_image(fig, "cohort ltv")


def backtest_plot(pooled: pd.DataFrame, horizon: int) -> str:
    """Predicted vs realised revenue per user of pooled cohorts (one dot per cohort), per estimator."""
    d = pooled[pooled["horizon"] == horizon]
    made = sorted(d["made_at_day"].unique())
    fig, axes = plt.subplots(1, len(made), figsize=(3.6 * max(len(made), 1), 3.6), squeeze=False)
    for ax, m in zip(axes[0], made):
        x = d[d["made_at_day"] == m]
        lo_hi = []
        for est, color in (("cohort", "tab:blue"), ("geometric", "tab:gray")):
            e = x[(x["estimator"] == est) & (x["realised_per_user"] > 0) & (x["predicted_per_user"] > 0)]
            if e.empty:
                continue
            if est == "cohort":  # the baseline's intervals would hide everything else
                ax.errorbar(e["realised_per_user"], e["predicted_per_user"],
                            yerr=[e["predicted_per_user"] - np.maximum(e["lower"], 1e-3),
                                  e["upper"] - e["predicted_per_user"]],
                            fmt="o", ms=3, color=color, alpha=0.6, elinewidth=0.6, label=f"{est} (99% interval)")
            else:
                ax.plot(e["realised_per_user"], e["predicted_per_user"], "x", ms=3, color=color, alpha=0.7, label=est)
            lo_hi += [e["realised_per_user"].min(), e["realised_per_user"].max(), e["predicted_per_user"].max()]
        if lo_hi:
            ax.plot([min(lo_hi), max(lo_hi)], [min(lo_hi), max(lo_hi)], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # log axes over several decades: their minor ticks were most of the figure's drawing time
        ax.minorticks_off()
        ax.set_title(f"after {m} days", fontsize=9)
        ax.set_xlabel("realised, USD/user")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"predicted {horizon}-day, USD/user")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Back-test: {horizon}-day revenue per install, monthly install cohorts x segment", fontsize=10)
    return to_markdown_image(fig, "backtest")


def estimators_plot(overall: pd.DataFrame) -> str:
    """MAPE and interval coverage per horizon, one line per estimator x made_at_day."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for (est, made), g in overall.groupby(["estimator", "made_at_day"]):
        g = g.sort_values("horizon")
        style = {"btyd": "-", "cohort": "--", "geometric": ":"}.get(est, "-.")
        axes[0].plot(g["horizon"], 100 * g["mape"], style, marker="o", label=f"{est} @ day {made}")
        axes[1].plot(g["horizon"], 100 * g["coverage"], style, marker="o", label=f"{est} @ day {made}")
    axes[0].set(title="MAPE of revenue per user (cohort x segment)", xlabel="horizon (days)", ylabel="%")
    axes[1].set(title="99% interval covers realised", xlabel="horizon (days)", ylabel="% of cohorts", ylim=(0, 105))
    axes[0].legend(fontsize=7)
    return to_markdown_image(fig, "back-test")
