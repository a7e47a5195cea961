"""The sample app's own SQLite database: its users and their payments, refunds and chargebacks.

Purchases are charged in the user's currency at the day's rate; a share is refunded or charged
back days later, and only what arrived by the world's end is in the file. See docs/sample_world.md.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adperf_assets.normalize.fx import minor_unit_digits
from adperf_assets.sample import layout
from adperf_assets.sample.activity import Activity
from adperf_assets.sample.clock import Calendar
from adperf_assets.sample.config import COUNTRY_CURRENCY, WorldConfig
from adperf_assets.sample.fx import DailyRates
from adperf_assets.sample.writers import ts

APP_SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,            -- UTC, 'YYYY-MM-DD HH:MM:SS'
    platform TEXT NOT NULL CHECK (platform IN ('ios', 'android')),
    country TEXT NOT NULL,               -- ISO 3166 alpha-2
    gender TEXT,
    device_manufacturer TEXT,
    device_model TEXT,
    app_version TEXT
);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('purchase', 'refund', 'chargeback')),
    refers_to_payment_id INTEGER REFERENCES payments(id),  -- the purchase a refund/chargeback reverses
    store TEXT NOT NULL,                 -- 'app_store' | 'google_play'
    store_transaction_id TEXT NOT NULL UNIQUE,
    product_id TEXT NOT NULL,
    amount NUMERIC NOT NULL,             -- in `currency`; negative for refunds/chargebacks
    currency TEXT NOT NULL,              -- ISO 4217
    created_at TEXT NOT NULL             -- UTC, 'YYYY-MM-DD HH:MM:SS'
);
CREATE INDEX payments_created_at ON payments (created_at);
CREATE INDEX payments_user ON payments (user_id);
"""


@dataclass(frozen=True)
class Purchases:
    """The purchases in the order of their payment ids (by time, then user)."""

    pos: np.ndarray  # entry of Activity
    user: np.ndarray  # row of the users frame
    day: np.ndarray  # report day
    amount_usd: np.ndarray


def write(root: Path, cfg: WorldConfig, rng: np.random.Generator, cal: Calendar, rates: DailyRates,
          users: pd.DataFrame, activity: Activity) -> tuple[Purchases, str]:
    """Write ``app.db``; return the purchases and a count line for the manifest."""
    u = users
    n = len(u)
    ios = (u["platform"] == "ios").to_numpy()
    emu = u["is_emulator"].to_numpy()
    android_models = np.array(["SM-S911B", "SM-A546E", "Pixel 8", "Redmi Note 12", "CPH2449"])
    android_makers = np.array(["samsung", "samsung", "Google", "Xiaomi", "OPPO"])
    ios_models = np.array(["iPhone15,2", "iPhone14,5", "iPhone16,1", "iPhone13,2"])
    pick = rng.integers(0, 5, n)
    maker = np.where(ios, "Apple", android_makers[pick])
    model = np.where(ios, ios_models[pick % 4], android_models[pick])
    emu_kind = rng.random(n) < 0.5
    maker = np.where(emu, np.where(emu_kind, "Google", "Genymotion"), maker)
    model = np.where(emu, np.where(emu_kind, "sdk_gphone64_x86_64", "Custom Phone"), model)
    signup = u["install_time"].to_numpy() + rng.integers(5, 300, n)
    con = sqlite3.connect(layout.app_db(root))
    con.executescript(APP_SCHEMA)
    con.executemany(
        "INSERT INTO users (id, created_at, platform, country, gender, device_manufacturer, device_model, app_version)"
        " VALUES (?,?,?,?,?,?,?,?)",
        zip(u["user_id"].tolist(), ts(signup), u["platform"].tolist(), u["country"].tolist(),
            u["gender"].tolist(), maker.tolist(), model.tolist(), ["4.12.0"] * n),
    )
    # payments in the user's currency at the payment day's rate, plus refunds/chargebacks later
    pos = activity.buy_pos
    user_ix = activity.user[pos]
    when = activity.random_times(rng, pos)
    cur = np.array([COUNTRY_CURRENCY[c] for c in u["country"].to_numpy()[user_ix]])
    cal_day = np.array([rates.offset(cal.dates[d]) for d in activity.day[pos]])
    local = np.empty(len(pos))
    for c in np.unique(cur):
        sel = cur == c
        local[sel] = np.round(activity.buy_amount_usd[sel] * rates.per_usd(c, cal_day[sel]), minor_unit_digits(c))
    # the account exists before its first purchase (a purchase within seconds of the install would
    # otherwise precede the sign-up, and across midnight land before the user's install day)
    first_buy = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_buy, user_ix, when.astype(np.int64))
    early = np.flatnonzero(first_buy < signup)
    if len(early):
        signup = signup.copy()
        signup[early] = first_buy[early]
        con.executemany("UPDATE users SET created_at = ? WHERE id = ?",
                        zip(ts(signup[early]), u["user_id"].to_numpy()[early].tolist()))
    order = np.lexsort((user_ix, when))
    pos, user_ix, when, cur, local = pos[order], user_ix[order], when[order], cur[order], local[order]
    amount_usd = activity.buy_amount_usd[order]
    m = len(pos)
    pay_id = np.arange(1, m + 1)
    store = np.where(ios[user_ix], "app_store", "google_play")
    product = np.array(["gems_small", "gems_medium", "gems_large", "vip_week"])[np.digitize(amount_usd, [5, 15, 40])]
    r = rng.random(m)
    refund = r < cfg.refund_rate
    charge = (r >= cfg.refund_rate) & (r < cfg.refund_rate + cfg.chargeback_rate)
    delay = np.where(refund, rng.integers(1, 21, m), rng.integers(20, 61, m)) * 86400 + rng.integers(0, 86400, m)
    back_at = when + delay
    arrived = (refund | charge) & (back_at < cal.day_start[-1])
    bk = np.flatnonzero(arrived)
    rows = list(zip(pay_id.tolist(), u["user_id"].to_numpy()[user_ix].tolist(), ["purchase"] * m, [None] * m,
                    store.tolist(), [f"{s[:2].upper()}-{i:09d}" for s, i in zip(store, pay_id)],
                    product.tolist(), local.tolist(), cur.tolist(), ts(when)))
    rid = m + 1
    for i in bk[np.argsort(back_at[bk], kind="stable")]:
        rows.append((rid, int(u["user_id"].iat[user_ix[i]]), "refund" if refund[i] else "chargeback", int(pay_id[i]),
                     store[i], f"R{store[i][:1].upper()}-{rid:09d}", product[i], -float(local[i]), cur[i],
                     ts(np.array([back_at[i]]))[0]))
        rid += 1
    con.executemany(
        "INSERT INTO payments (id, user_id, kind, refers_to_payment_id, store, store_transaction_id, product_id,"
        " amount, currency, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.execute("VACUUM")
    con.close()
    purchases = Purchases(pos=pos, user=user_ix, day=activity.day[pos], amount_usd=amount_usd)
    return purchases, f"payments={m} refunds_arrived={len(bk)}"
