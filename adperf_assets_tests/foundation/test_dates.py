import numpy as np
import pandas as pd

from adperf_assets.normalize.dates import as_datetimes


def test_datetime_columns_come_back_as_they_are():
    for s in (pd.Series(pd.date_range("2026-01-01", periods=3)),
              pd.Series(pd.date_range("2026-01-01", periods=3)).astype("datetime64[us]"),
              pd.Series(pd.date_range("2026-01-01", periods=3, tz="UTC"))):
        out = as_datetimes(s)
        assert out is s
        pd.testing.assert_series_equal(out, pd.to_datetime(s))


def test_other_columns_are_converted_as_to_datetime_does():
    for values in (pd.Series(["2026-01-01", "2026-01-02", None]), pd.Series([pd.Timestamp("2026-01-01"), pd.NaT], dtype=object),
                   ["2026-03-01", "2026-03-02"]):
        got, want = as_datetimes(values), pd.to_datetime(values)
        if isinstance(want, pd.Series):
            pd.testing.assert_series_equal(got, want)
        else:
            assert (got == want).all() and got.dtype == np.dtype("datetime64[ns]")
