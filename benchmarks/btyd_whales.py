"""Where whales break Gamma-Gamma: BTYD on one cross-section of a sample world, against its truth.

    .venv/bin/python benchmarks/btyd_whales.py --world /tmp/adperf_realistic/world [--as-of 2026-05-30]

Reads the world's files only (``truth/users``, ``truth/user_value``, ``truth/purchases``: gross
purchase amounts, so every figure here is gross USD), builds the per-user summary as of ``--as-of``
(users installed in the 365 days up to it, birth = install day, as ``user_rfm`` does) and fits one
pooled BG/NBD + Gamma-Gamma (``fit_btyd``) on every user, and one on the users who are not whales
(``whale_mult`` = 1 in ``truth/user_value``). Prints:

1. the fitted parameters;
2. Gamma-Gamma's fit against the data it was fitted on: per-purchase amounts (the repeat purchase
   days of repeat buyers) -- observed quantiles vs the fitted marginal (v x BetaPrime(p, q)); the
   population mean spend v p / (q - 1) vs the observed mean; the share of repeat revenue the top 2% of
   repeat buyers hold, observed vs drawn from the fit given each buyer's frequency (200 draws);
3. the correlation of frequency and monetary value (Gamma-Gamma assumes independence), observed and latent;
4. the revenue of the next ``--ahead`` days (default 180) per user, predicted vs realised and vs expected
   (each user's expected revenue given their true latent parameters: the realised revenue without its
   luck, summed), for every user, the whales and the others; with the fit on every user, with BG/NBD times
   each user's true mean spend, with the fit without whales, and with Gamma-Gamma's population mean
   replaced by ``repeat_purchase_mean``: totals, per-user WAPE, install-month MAPE, the top 2% of the future
   payers' share of the realised revenue and what the as many users ranked first by the prediction realised.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from adperf_assets.ltv.btyd import fit_btyd
from adperf_assets.ltv.btyd_predict import gamma_gamma_expected_spend, repeat_purchase_mean
from adperf_assets.ltv.rfm import rfm_summary
from adperf_assets.sample import knobs, layout
from adperf_assets.sample.manifest import world_config

QUANTILES = (0.5, 0.9, 0.99, 0.999)


def expected_ahead(world: Path, users: pd.DataFrame, age: np.ndarray, ahead: int) -> np.ndarray:
    """Per user: the expected gross revenue on days age+1 .. age+ahead since install given the user's latent
    parameters (as ``sample/truth.py`` computes ``expected_ltv_usd_*``, sBG churn only), not given the
    user's history: summed over users, the expectation of their realised revenue without its luck."""
    cfg = world_config(world)
    if cfg.churn_model != "sbg":
        raise SystemExit("expected_ahead follows the sbg world only")
    t = np.arange(int(age.max()) + ahead + 1)
    out = np.empty(len(users))
    lam, lp = users["purchase_rate"].to_numpy(), users["purchase_rate"].to_numpy() * users["purchase_dropout"].to_numpy()
    theta, prop = users["churn_theta"].to_numpy(), users["activity_propensity"].to_numpy()
    cday = users["cohort_day"].to_numpy()
    for s in range(0, len(users), 10_000):
        sl = slice(s, s + 10_000)
        surv = (1.0 - theta[sl, None]) ** t[None, :]
        if knobs.intermittent(cfg):
            g = knobs.active_given_alive(cfg, prop[sl, None], cday[sl, None], t[None, :])
            still = np.cumprod(1.0 - g * lp[sl, None], axis=1)
            a_t = surv * g * np.concatenate([np.ones((len(g), 1)), still[:, :-1]], axis=1)
        else:
            a_t = surv * (1.0 - lp[sl, None]) ** t[None, :]
        cum = np.cumsum(a_t, axis=1)
        rows = np.arange(len(a_t))
        out[sl] = users["mean_spend_usd"].to_numpy()[sl] * lam[sl] * (cum[rows, age[sl] + ahead] - cum[rows, age[sl]])
    return out


def top_share(values: np.ndarray, share: float = 0.02) -> float:
    """Share of the sum held by the top ``share`` of the values."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    k = max(1, int(round(share * len(v))))
    return float(v[:k].sum() / v.sum())


def load(world: Path, as_of: pd.Timestamp, ahead: int):
    users = pd.read_parquet(layout.truth(world, "users"), columns=["user_id", "cohort_date", "purchase_rate",
                                                                   "purchase_dropout", "churn_theta", "mean_spend_usd"])
    value = pd.read_parquet(layout.truth(world, "user_value"), columns=["user_id", "whale_mult", "activity_propensity"])
    users = users.merge(value, on="user_id")
    users["install_date"] = pd.to_datetime(users["cohort_date"]).dt.tz_localize(None).dt.normalize()
    users["cohort_day"] = (users["install_date"] - pd.Timestamp(world_config(world).start)).dt.days.to_numpy()
    users = users[users["install_date"].between(as_of - pd.Timedelta(days=364), as_of)].set_index("user_id")
    users["expected_ahead"] = expected_ahead(world, users, (as_of - users["install_date"]).dt.days.to_numpy(), ahead)
    buys = pd.read_parquet(layout.truth(world, "purchases"))
    buys["report_date"] = pd.to_datetime(buys["report_date"]).dt.tz_localize(None).dt.normalize()
    buys = buys[buys["user_id"].isin(users.index)].rename(columns={"gross_usd": "revenue_usd"})
    past = buys[buys["report_date"] <= as_of]
    end = as_of + pd.Timedelta(days=ahead)
    future = buys[(buys["report_date"] > as_of) & (buys["report_date"] <= end)]
    realised = future.groupby("user_id")["revenue_usd"].sum().reindex(users.index, fill_value=0.0)
    summary = rfm_summary(past, as_of, users.reset_index()[["user_id", "install_date"]])
    summary = summary.reindex(users.index)
    # the repeat purchase days' amounts (what monetary_value averages)
    daily = past.groupby(["user_id", "report_date"])["revenue_usd"].sum().reset_index()
    daily = daily[daily["report_date"] > users.loc[daily["user_id"], "install_date"].to_numpy()]
    return users, summary, realised, daily[["user_id", "revenue_usd"]]


def gamma_gamma_check(model, summary: pd.DataFrame, amounts: np.ndarray, rng: np.random.Generator) -> dict:
    p, q, v = (float(model.params_[k]) for k in ("p", "q", "v"))
    rep = summary[summary["frequency"] > 0]
    x, m = rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)
    implied = stats.betaprime(p, q, scale=v)
    out = {f"q{int(k * 1000) / 10:g} observed / fit": f"{np.quantile(amounts, k):.2f} / {implied.ppf(k):.2f}"
           for k in QUANTILES}
    out["mean per purchase observed / fit"] = (f"{amounts.mean():.2f} / "
                                               f"{(v * p / (q - 1) if q > 1 else np.inf):.2f}")
    out["fit: tail index q (moments of order >= q infinite)"] = round(q, 3)
    draws = []
    for _ in range(200):
        nu = rng.gamma(q, 1.0 / v, len(x))
        draws.append(top_share(rng.gamma(p * x, 1.0 / nu)))
    out["top 2% of repeat buyers' share of repeat revenue, observed"] = round(top_share(x * m), 3)
    out["  the same drawn from the fit (mean, 2.5-97.5%)"] = (f"{np.mean(draws):.3f} "
                                                           f"({np.quantile(draws, 0.025):.3f}-{np.quantile(draws, 0.975):.3f})")
    return out


def forecast_table(users, summary, realised, fits: dict, ahead: int) -> pd.DataFrame:
    """Per fit and group of users: the next ``ahead`` days' revenue predicted vs realised. The
    ``x true spend`` rows take the fit's expected purchases times each user's true mean spend
    (``truth/users.mean_spend_usd``): the error left when Gamma-Gamma is replaced by the truth."""
    rows = []
    whale = users["whale_mult"].to_numpy() > 1
    re_all, ex_all = realised.to_numpy(), users["expected_ahead"].to_numpy()
    for fit_name, (model, keep) in fits.items():
        purchases = np.full(len(users), np.nan)
        purchases[keep] = model.expected_purchases(summary[keep], ahead).to_numpy()
        spend = np.full(len(users), np.nan)
        p, q, v = (float(model.params_[k]) for k in ("p", "q", "v"))
        x, m = summary.loc[keep, "frequency"].to_numpy(), summary.loc[keep, "monetary_value"].to_numpy()
        # "(repeat purchase mean)": Gamma-Gamma's population mean replaced by the mean of the repeat purchases
        spend[keep] = gamma_gamma_expected_spend(p, q, v, x, m, repeat_purchase_mean(x, m) if "mean)" in fit_name
                                                 else None)
        variants = [("", purchases * spend)]
        if "mean)" not in fit_name:
            variants.append((" x true spend", purchases * users["mean_spend_usd"].to_numpy()))
        for how, pred in variants:
            for group, mask in (("all users", keep), ("whales", keep & whale), ("not whales", keep & ~whale)):
                if not mask.any():
                    continue
                pr, re, ex = pred[mask], re_all[mask], ex_all[mask]
                month = users["install_date"].dt.to_period("M").to_numpy()[mask]
                coh = pd.DataFrame({"m": month, "p": pr, "r": re, "e": ex}).groupby("m")[["p", "r", "e"]].sum()
                payers = re > 0
                k = max(1, int(round(0.02 * payers.sum())))
                rows.append({"fit": fit_name + how, "users": group, "n": int(mask.sum()),
                             "future_payers": int(payers.sum()),
                             "predicted_usd": round(pr.sum()), "realised_usd": round(re.sum()),
                             "expected_usd": round(ex.sum()),
                             "bias_vs_realised": round(pr.sum() / re.sum() - 1, 3),
                             "bias_vs_expected": round(pr.sum() / ex.sum() - 1, 3),
                             "user_wape": round(np.abs(pr - re).sum() / re.sum(), 3),
                             "month_mape": _mape(coh["p"], coh["r"]),
                             "month_mape_vs_expected": _mape(coh["p"], coh["e"]),
                             # the top 2% of the future payers: their share of the realised revenue, and the
                             # share the same number of users ranked first by the prediction realised
                             "top2%_payers_share": round(top_share(re[payers]), 3),
                             "top_predicted_share": round(re[np.argsort(-pr)[:k]].sum() / re.sum(), 3)})
    return pd.DataFrame(rows)


def _mape(pred: pd.Series, target: pd.Series) -> float:
    keep = target > 0
    return round(float((np.abs(pred[keep] - target[keep]) / target[keep]).mean()), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", required=True)
    ap.add_argument("--as-of", default="2026-05-30")
    ap.add_argument("--ahead", type=int, default=180)
    args = ap.parse_args()
    t0 = time.perf_counter()
    as_of = pd.Timestamp(args.as_of)
    users, summary, realised, daily = load(Path(args.world), as_of, args.ahead)
    amounts = daily["revenue_usd"].to_numpy()
    whale = users["whale_mult"].to_numpy() > 1
    rep = summary["frequency"].to_numpy() > 0
    print(f"world {args.world}, as of {as_of.date()}: {len(users)} users installed in the 365 days up to it, "
          f"{int(rep.sum())} repeat buyers ({int((rep & whale).sum())} of them whales), "
          f"{whale.sum()} whales in all; {len(amounts)} repeat purchase days")
    fits = {"every user": (fit_btyd(summary), np.ones(len(users), bool)),
            "without whales": (fit_btyd(summary[~whale]), ~whale)}
    fits["every user (repeat purchase mean)"] = fits["every user"]
    pd.set_option("display.width", 250)
    print("\n1. parameters (days, gross USD)")
    print(pd.DataFrame({k: m.params_ for k, (m, _) in list(fits.items())[:2]}).T.round(4).to_string())
    rng = np.random.default_rng(0)
    for name, (model, keep) in list(fits.items())[:2]:
        print(f"\n2. Gamma-Gamma fitted on {name}: data vs fit")
        sub_amounts = daily.loc[daily["user_id"].isin(users.index[keep]), "revenue_usd"].to_numpy()
        for k, v in gamma_gamma_check(model, summary[keep], sub_amounts, rng).items():
            print(f"   {k}: {v}")
    x, m = summary.loc[rep, "frequency"].to_numpy(float), summary.loc[rep, "monetary_value"].to_numpy(float)
    lat = users.loc[rep]
    print("\n3. frequency vs monetary value among repeat buyers (Gamma-Gamma assumes them independent)")
    for name, mask in (("every repeat buyer", np.ones(len(x), bool)), ("without whales", ~whale[rep])):
        print(f"   {name}: Pearson {stats.pearsonr(x[mask], m[mask])[0]:.3f}, "
              f"Pearson of logs {stats.pearsonr(np.log(x[mask]), np.log(m[mask]))[0]:.3f}, "
              f"Spearman {stats.spearmanr(x[mask], m[mask])[0]:.3f}; latent purchase rate vs mean spend: "
              f"Spearman {stats.spearmanr(lat['purchase_rate'][mask], lat['mean_spend_usd'][mask])[0]:.3f}")
    print(f"\n4. revenue of the {args.ahead} days after {as_of.date()} per user, predicted vs realised")
    print(forecast_table(users, summary, realised, fits, args.ahead).to_string(index=False))
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
