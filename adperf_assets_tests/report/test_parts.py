"""Intervals, the payback curve, recommendations, tables, messages and the plot, each on its own."""

from __future__ import annotations

import base64
import math
from functools import partial

import numpy as np
import pandas as pd
import pytest

from adperf_assets.report import ReportConfig, build_report, prepare_inputs
from adperf_assets.report.intervals import combine_intervals
from adperf_assets.report.messages import daily_message, milestone_ads, milestone_message
from adperf_assets.report.payback import payback_day, value_at
from adperf_assets.report.plot import cost_vs_return_png, png_markdown
from adperf_assets.report.recommend import recommend
from adperf_assets.report.tables import markdown_summary, text_table, totals
from adperf_assets_tests.report import frames as F

#: The hand-computed figures here are of the segment-average basis (users x their segment's LTV);
#: the default basis, ad_credibility, is tested in test_ad_basis.py.
SegmentAverage = partial(ReportConfig, estimate_basis="segment_average")


def _cells(rows):
    return pd.DataFrame(rows, columns=["ad", "platform", "attribution", "network", "is_emulator", "est", "lo", "hi"])


def test_intervals_linear_within_a_segment_quadrature_across():
    cells = _cells([
        ("a", "ios", "paid", "facebook", False, 10.0, 6.0, 15.0),   # same segment, two cohorts:
        ("a", "ios", "paid", "facebook", False, 20.0, 14.0, 30.0),  # 30 (20..45)
        ("a", "android", "paid", "facebook", False, 8.0, 5.0, 12.0),
        ("b", "ios", "paid", "facebook", False, 1.0, 1.0, 1.0),
    ])
    out = combine_intervals(cells, by=["ad"]).set_index("ad")
    assert out.loc["a", "estimated"] == 38.0
    assert out.loc["a", "lower"] == pytest.approx(38 - math.hypot(10, 3))
    assert out.loc["a", "upper"] == pytest.approx(38 + math.hypot(15, 4))
    assert tuple(out.loc["b"]) == (1.0, 1.0, 1.0)
    co = combine_intervals(cells, by=["ad"], rule="comonotone").set_index("ad")
    assert tuple(co.loc["a"]) == (38.0, 25.0, 57.0)
    # independence never gives a wider interval than adding the bounds
    assert co.loc["a", "lower"] <= out.loc["a", "lower"] and co.loc["a", "upper"] >= out.loc["a", "upper"]


def test_intervals_infinite_upper_and_bad_cells():
    cells = _cells([("a", "ios", "paid", "facebook", False, 10.0, 0.0, np.inf),
                    ("a", "android", "paid", "facebook", False, 8.0, 5.0, 12.0)])
    out = combine_intervals(cells, by=["ad"]).iloc[0]
    assert math.isinf(out["upper"]) and out["lower"] == pytest.approx(max(18 - math.hypot(10, 3), 0))
    bad = _cells([("a", "ios", "paid", "facebook", False, 10.0, 11.0, 12.0)])
    with pytest.raises(ValueError, match="lo <= est <= hi"):
        combine_intervals(bad, by=["ad"])
    with pytest.raises(ValueError, match="lack column"):
        combine_intervals(bad.drop(columns="lo"), by=["ad"])


def test_value_curve_is_piecewise_linear_monotone_and_flat_at_the_end():
    knots = np.array([30, 90, 180, 365])
    values = np.array([[10.0, 20.0, 30.0, 40.0], [5.0, 4.0, 6.0, 6.0]])  # second row dips: made monotone
    v = value_at(np.array([[0, 15, 30, 60, 400], [0, 15, 30, 60, 400]]), knots, values)
    assert v[0].tolist() == pytest.approx([0, 5, 10, 15, 40])
    assert v[1].tolist() == pytest.approx([0, 2.5, 5, 5, 6])
    assert value_at(np.array([-3.0]), knots, values[:1]).tolist() == [0.0]


def test_payback_basis_and_day():
    knots = np.array([30, 90])
    # realised: 3 a day, cost 10 -> day 4
    pb = payback_day(10.0, np.full(5, 3.0), np.array([0]), np.array([1.0]), knots, np.array([[30.0, 60.0]]))
    assert (pb.day, pb.basis) == (4, "realised")
    # 10 users installed on day 1, V = a (per user, a <= 30); 5 days seen, 0 realised; cost 100 -> 10 a >= 100 + 50
    pb = payback_day(100.0, np.zeros(5), np.array([0]), np.array([10.0]), knots, np.array([[30.0, 60.0]]))
    assert (pb.day, pb.basis) == (15, "estimated")
    # the curve tops out at 60 per user; 5 of it is behind (realised 0): 0 + 10 x (60 - 5) = 550 < 1000
    pb = payback_day(1000.0, np.zeros(5), np.array([0]), np.array([10.0]), knots, np.array([[30.0, 60.0]]))
    assert pb.day is None and pb.basis == "none" and "550.00 of the 1,000.00" in pb.note
    assert payback_day(0.0, np.zeros(3), np.array([]), np.array([]), knots, np.zeros((0, 2))).note == "no cost"


def test_recommend_rules():
    cfg = SegmentAverage(scale_above=1.2, stop_below=1.0, min_cost_usd=50, min_days=3)
    assert recommend(100, 10, 0.5, 0.3, 0.9, cfg)[0] == "stop"
    assert recommend(100, 10, 0.5, 0.3, 1.1, cfg)[0] == "keep"  # upper not below: not stopped
    assert recommend(100, 10, 2.0, 1.3, 3.0, cfg)[0] == "scale"
    assert recommend(100, 10, 2.0, 1.1, 3.0, cfg)[0] == "keep"  # lower not above: not scaled
    assert "too early" in recommend(40, 10, 0.1, 0.05, 0.2, cfg)[1]
    assert "too early" in recommend(400, 2, 0.1, 0.05, 0.2, cfg)[1]
    assert recommend(100, 10, None, None, None, cfg) == ("keep", "no estimated ROAS (no LTV estimate for its users yet)")
    assert recommend(100, 10, 0.5, 0.0, math.inf, cfg)[0] == "keep"


@pytest.fixture(scope="module")
def report():
    inputs = prepare_inputs(F.spend(), F.installs(), F.segments(), F.behavior(), F.ltv())
    return build_report(inputs, [F.DAY], SegmentAverage(min_cost_usd=10))[0]


def test_totals_and_markdown(report):
    t = totals(report).set_index("network")
    assert t.loc["all", "cost_to_date_usd"] == 235.0 and t.loc["all", "ads"] == 3
    assert t.loc["all", "estimated_return_usd"] == pytest.approx(168.0)
    md = markdown_summary(report, config=SegmentAverage(min_cost_usd=10))
    assert "**Totals**" in md and "| facebook" in md and "Ad fb-2" in md
    assert "1 scale, 1 keep, 1 stop" in md


def test_slack_messages(report):
    msg = daily_message(report, config=SegmentAverage(min_cost_usd=10))
    assert msg["text"].startswith("ROAS report 2025-07-10: 3 ads · cost $235")
    assert msg["blocks"][0]["type"] == "header" and len(msg["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in msg["blocks"] if b["type"] == "section")
    stop = [b for b in msg["blocks"] if b["type"] == "section" and b["text"]["text"].startswith("*Stop*")]
    assert stop and "Ad gg-1" in stop[0]["text"]["text"]
    at7 = milestone_ads(report.assign(days_live=report["days_live"].where(report["ad_id"] != "fb-1", 7)))
    assert at7["ad_id"].tolist() == ["fb-1"] and at7["milestone"].tolist() == [7]
    m = milestone_message(at7.iloc[0])
    body = m["blocks"][1]["text"]["text"]
    assert "started on 2025-07-01 has, as of 2025-07-10: total cost $100.00, total return $18.50" in body
    assert "estimated ROAS 1.02" in body and "D7 ROAS 0.25" in m["blocks"][2]["text"]["text"]


def test_text_table_aligns_columns(report):
    lines = text_table(report[report["level"] == "ad"]).splitlines()
    assert len(lines) == 4 and lines[0].startswith("network")
    # right-aligned money: every row's cost ends where the header's "cost" ends
    end = lines[0].index("cost") + len("cost")
    assert all(line[end - 1] != " " and line[end] == " " for line in lines)
    assert text_table(report.iloc[:0]) == "(none)"


def test_plot_is_a_png_inside_markdown(report):
    png = cost_vs_return_png(report)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 200_000
    md = png_markdown(png, "cost vs estimated return")
    assert md.startswith("![cost vs estimated return](data:image/png;base64,")
    assert base64.b64decode(md.split(",", 1)[1][:-1]) == png
    assert cost_vs_return_png(report.iloc[:0])[:4] == b"\x89PNG"
