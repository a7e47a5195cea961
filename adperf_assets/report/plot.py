"""Cost vs estimated return per ad, with the 99% interval, as a PNG the Dagster UI shows inline.

The PNG goes into ``MetadataValue.md`` as a ``data:`` URI, which the UI's markdown sanitizer allows
(docs/roas_report.md, "In the UI and in Slack").
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

from adperf_assets.report.config import ReportConfig

COLORS = {"scale": "#1a9850", "keep": "#4575b4", "stop": "#d73027"}


def cost_vs_return_png(report: pd.DataFrame, config: ReportConfig | None = None, dpi: int = 90) -> bytes:
    """Log-log scatter of ad cost to date (x) vs estimated return (y) with interval bars; break-even,
    scale and stop lines. An infinite upper bound is drawn to the top edge with an arrow."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    cfg = config or ReportConfig()
    ads = report[(report["level"] == "ad") & (report["cost_to_date_usd"] > 0)]
    fig = Figure(figsize=(7.5, 5.0), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    day = pd.Timestamp(report["report_date"].iloc[0]).date() if len(report) else ""
    if ads.empty:
        ax.text(0.5, 0.5, "no ads with spend", ha="center", va="center", transform=ax.transAxes)
    else:
        x = ads["cost_to_date_usd"].to_numpy(float)
        y = np.maximum(ads["estimated_return_usd"].to_numpy(float), 0.5)
        lo = np.maximum(ads["estimated_lower_usd"].to_numpy(float), 0.5)
        hi = ads["estimated_upper_usd"].to_numpy(float)
        finite_hi = hi[np.isfinite(hi)]
        top = max(float(np.max(y)), float(finite_hi.max()) if finite_hi.size else 1.0, float(x.max())) * 2.0
        bottom = max(min(float(lo.min()), float(x.min())) / 2.0, 0.25)
        hi_drawn = np.where(np.isfinite(hi), hi, top)
        for rec, color in COLORS.items():
            m = (ads["recommendation"] == rec).to_numpy()
            if not m.any():
                continue
            ax.errorbar(x[m], y[m], yerr=[y[m] - np.minimum(lo[m], y[m]), np.maximum(hi_drawn[m] - y[m], 0)],
                        fmt="o", ms=4, color=color, ecolor=color, elinewidth=0.8, capsize=2, alpha=0.85,
                        label=f"{rec} ({int(m.sum())})")
            inf = m & ~np.isfinite(hi)
            if inf.any():
                ax.scatter(x[inf], np.full(int(inf.sum()), top * 0.95), marker="^", color=color, s=12)
        xs = np.array([bottom, top])
        ax.plot(xs, xs, color="black", lw=1.0, label="break-even (ROAS 1)")
        ax.plot(xs, xs * cfg.scale_above, color=COLORS["scale"], lw=0.8, ls="--", label=f"scale above {cfg.scale_above:g}")
        ax.plot(xs, xs * cfg.stop_below, color=COLORS["stop"], lw=0.8, ls=":", label=f"stop below {cfg.stop_below:g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(bottom, top)
        ax.set_ylim(bottom, top)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_xlabel(f"cost to date ({cfg.currency})")
    ax.set_ylabel(f"estimated return, {cfg.horizon_days}-day LTV ({cfg.currency})")
    ax.set_title(f"Ads on {day}: cost vs estimated return (99% interval)", fontsize=10)
    ax.grid(True, which="major", lw=0.3, alpha=0.5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def png_markdown(png: bytes, alt: str = "plot") -> str:
    """Markdown that embeds the PNG (``data:`` URI).

    Not ``ltv.plots.to_markdown_image``: that one re-renders a pyplot figure (72 dpi, tight bbox) and
    closes it through pyplot; this plot is drawn on a bare ``Figure`` (no pyplot state) at 90 dpi and
    its PNG bytes are embedded as they are.
    """
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def roas_curves_figure(curves: pd.DataFrame, level: str = "campaign", top: int = 6, config: ReportConfig | None = None):
    """Cumulative ROAS by day since install of the ``top`` groups of ``level`` by cost (``report.curves``):
    realised solid, estimated dashed with its 99% band; break-even line. A bare ``Figure`` (no pyplot)."""
    from matplotlib.figure import Figure

    cfg = config or ReportConfig()
    cur = curves[curves["level"] == level]
    keys = ["network", "campaign_id"] if level == "campaign" else ["network"]
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    groups = (cur.groupby(keys, sort=False)["cost_usd"].first().sort_values(ascending=False).head(top)
              if len(cur) else pd.Series(dtype=float))
    if groups.empty or not (groups > 0).any():
        ax.text(0.5, 0.5, f"no {level} with spend", ha="center", va="center", transform=ax.transAxes)
    top_y = 1.5
    for i, key in enumerate(groups.index):
        key = key if isinstance(key, tuple) else (key,)
        g = cur[np.logical_and.reduce([cur[k] == v for k, v in zip(keys, key)])]
        d = g["days_since_install"].to_numpy()
        color = f"C{i}"
        name = " / ".join(str(v) for v in key) if level != "campaign" else f"{key[0]} / {g['campaign_name'].iloc[0] or key[1]}"
        ax.plot(d, g["realised_roas"], color=color, lw=1.6, label=name)
        est = g["estimated_roas"].to_numpy(float)
        hi = g["estimated_roas_upper"].to_numpy(float)
        finite = np.isfinite(hi)
        ax.plot(d, est, color=color, lw=1.0, ls="--")
        ax.fill_between(d, g["estimated_roas_lower"], np.where(finite, hi, np.nan), color=color, alpha=0.15, lw=0)
        top_y = max(top_y, float(np.nanmax(np.where(finite, hi, est), initial=0.0)) * 1.05)
    ax.axhline(1.0, color="black", lw=0.8, label="break-even (ROAS 1)")
    ax.set_ylim(0, top_y)
    ax.set_xlim(0, cfg.horizon_days)
    ax.set_xlabel("days since install")
    ax.set_ylabel(f"cumulative ROAS (return / cost, {cfg.currency})")
    day = pd.Timestamp(curves["report_date"].iloc[0]).date() if len(curves) else ""
    ax.set_title(f"Cohort ROAS per {level} on {day}: realised (solid), estimated with 99% band (dashed)", fontsize=9)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.grid(True, lw=0.3, alpha=0.5)
    fig.tight_layout()
    return fig


def calls_vs_realised_figure(scored: pd.DataFrame, level: str = "ad", break_even: float = 1.0):
    """Per call age, the ads' estimated ROAS at the call (with its 99% interval) against the realised
    horizon ROAS, coloured by the call (``report.decision_scores``); the diagonal is a perfect estimate."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    s = scored[(scored["level"] == level) & scored["realised_roas"].notna() & (scored["estimated_roas"] > 0)
               & (scored["realised_roas"] > 0)]
    ages = sorted(s["age_days"].unique()) or [None]
    fig = Figure(figsize=(3.2 * len(ages) + 0.6, 3.6))
    for i, age in enumerate(ages):
        ax = fig.add_subplot(1, len(ages), i + 1)
        g = s[s["age_days"] == age]
        if g.empty:
            ax.text(0.5, 0.5, f"no {level} calls scored", ha="center", va="center", transform=ax.transAxes)
            continue
        x, y = g["realised_roas"].to_numpy(float), g["estimated_roas"].to_numpy(float)
        lo = np.clip(g["estimated_roas_lower"].to_numpy(float), 1e-3, y)
        hi = np.where(np.isfinite(g["estimated_roas_upper"].to_numpy(float)),
                      np.maximum(g["estimated_roas_upper"].to_numpy(float), y), y)
        for rec, color in COLORS.items():
            m = (g["recommendation"] == rec).to_numpy()
            if m.any():
                ax.errorbar(x[m], y[m], yerr=[y[m] - lo[m], hi[m] - y[m]], fmt="o", ms=3, color=color,
                            elinewidth=0.5, alpha=0.75, label=f"{rec} ({int(m.sum())})")
        edge = [min(x.min(), y.min()) / 1.5, max(x.max(), y.max()) * 1.5]
        ax.plot(edge, edge, color="grey", lw=0.6)
        ax.axvline(break_even, color="black", lw=0.6)
        ax.axhline(break_even, color="black", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # narrow ranges would label every minor tick on top of each other
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("realised horizon ROAS")
        if i == 0:
            ax.set_ylabel("estimated ROAS at the call")
        ax.set_title(f"{level}s at day {age}", fontsize=9)
        ax.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    return fig
