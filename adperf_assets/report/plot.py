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
