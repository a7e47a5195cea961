"""Check the two input frames and turn them into integer-coded arrays every credit method works on.

Users are numbered 0..n-1 (payers first, then session users in order of appearance), so the methods
use ``np.bincount`` and sparse matrices, not group-bys on ids. Input the contract does not allow
stops here naming the frame, column and first offending row (contract: docs/behavior_credit.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SESSION_COLUMNS = (
    "session_id",
    "user_id",
    "partner_id",
    "started_at",
    "ended_at",
    "duration_s",
    "is_wanted",
    "is_paid",
)
REVENUE_COLUMNS = ("user_id", "revenue_usd")


class CreditInputError(ValueError):
    """The sessions or revenue frame breaks the input contract."""


@dataclass(frozen=True)
class CodedInputs:
    """Sessions and revenue with users replaced by integer codes."""

    users: pd.Index  # code -> original user id
    revenue: np.ndarray  # float64 per code; 0 for users who did not pay
    is_payer: np.ndarray  # bool per code: appears in the revenue frame
    session_ids: pd.Index  # session code -> original session_id
    session: np.ndarray  # int64 per session row: session code
    requester: np.ndarray  # int64 per session row: user code of user_id
    partner: np.ndarray  # int64 per session row: user code of partner_id
    duration_s: np.ndarray  # float64 per session row
    is_wanted: np.ndarray  # bool per session row
    is_paid: np.ndarray  # bool per session row

    @property
    def n_users(self) -> int:
        return len(self.users)


def session_weights(coded: CodedInputs, wanted_bonus: float, paid_bonus: float) -> np.ndarray:
    """Weight of each session row: its duration, boosted when wanted and/or paid."""
    boost = 1.0 + wanted_bonus * coded.is_wanted + paid_bonus * coded.is_paid
    return coded.duration_s * boost


def check_bonuses(**bonuses: float) -> None:
    """A weight bonus must be a finite number >= 0 (ValueError naming it otherwise)."""
    for name, value in bonuses.items():
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _row_label(frame: pd.DataFrame, position: int) -> str:
    label = frame.index[position]
    if "session_id" in frame.columns:
        return f"row {label!r} (session_id={frame['session_id'].iloc[position]!r})"
    return f"row {label!r}"


def _fail_at(name: str, frame: pd.DataFrame, column: str, bad: np.ndarray, why: str) -> None:
    positions = np.flatnonzero(bad)
    if positions.size:
        first = _row_label(frame, int(positions[0]))
        raise CreditInputError(
            f"{name}.{column}: {why} in {positions.size} row(s); first at {first}"
        )


def _require_columns(name: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise CreditInputError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CreditInputError(
            f"{name} is missing column(s) {', '.join(missing)}; expected {', '.join(columns)}"
        )


def _no_nulls(name: str, frame: pd.DataFrame, column: str) -> None:
    _fail_at(name, frame, column, frame[column].isna().to_numpy(), "missing value (NaN/None)")


def _flag(name: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column]
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.to_numpy(dtype=bool)
    _no_nulls(name, frame, column)
    ok = values.isin([True, False]).to_numpy()  # also accepts 0/1
    _fail_at(name, frame, column, ~ok, "not a boolean (True/False or 0/1)")
    return values.astype(bool).to_numpy()


def _float_column(name: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    try:
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CreditInputError(f"{name}.{column}: not numeric ({exc})") from exc
    _fail_at(name, frame, column, ~np.isfinite(values), "missing or non-finite value")
    return values


def _timestamps(frame: pd.DataFrame, column: str) -> pd.Series:
    try:
        stamps = pd.to_datetime(frame[column], utc=True)
    except (TypeError, ValueError) as exc:
        raise CreditInputError(f"sessions.{column}: not a timestamp ({exc})") from exc
    _fail_at("sessions", frame, column, stamps.isna().to_numpy(), "missing timestamp")
    return stamps


def code_inputs(sessions: pd.DataFrame, revenue: pd.DataFrame) -> CodedInputs:
    """Validate both frames and code users, sessions and revenue as arrays.

    Revenue rows of the same user are summed (a payer may have one row per
    store or currency upstream); that is additive, so nothing is lost.
    """
    _require_columns("sessions", sessions, SESSION_COLUMNS)
    _require_columns("revenue", revenue, REVENUE_COLUMNS)

    for column in ("session_id", "user_id", "partner_id"):
        _no_nulls("sessions", sessions, column)
    _no_nulls("revenue", revenue, "user_id")

    duration = _float_column("sessions", sessions, "duration_s")
    _fail_at("sessions", sessions, "duration_s", duration < 0, "negative duration")
    started = _timestamps(sessions, "started_at")
    ended = _timestamps(sessions, "ended_at")
    _fail_at(
        "sessions", sessions, "ended_at",
        (ended < started).to_numpy(), "ended before started_at",
    )
    is_wanted = _flag("sessions", sessions, "is_wanted")
    is_paid = _flag("sessions", sessions, "is_paid")
    amounts = _float_column("revenue", revenue, "revenue_usd")

    requester_ids = sessions["user_id"].to_numpy()
    partner_ids = sessions["partner_id"].to_numpy()
    _fail_at(
        "sessions", sessions, "partner_id",
        requester_ids == partner_ids, "partner_id equals user_id (a user matched with themself)",
    )

    pieces = [revenue["user_id"], sessions["user_id"], sessions["partner_id"]]
    non_empty = [piece for piece in pieces if len(piece)]  # empty pieces would force dtype object
    all_ids = pd.concat(non_empty, ignore_index=True) if non_empty else pieces[0]
    codes, users = pd.factorize(all_ids, sort=False)
    n_rev, n_ses = len(revenue), len(sessions)
    revenue_codes = codes[:n_rev]
    requester = codes[n_rev : n_rev + n_ses].astype(np.int64)
    partner = codes[n_rev + n_ses :].astype(np.int64)

    session, session_ids = pd.factorize(sessions["session_id"], sort=False)
    session = session.astype(np.int64)
    _check_sessions_consistent(sessions, session, requester, partner, is_paid)

    n_users = len(users)
    # pandas' group sum is compensated (Kahan): as exact as summing the payments can be
    summed = pd.Series(amounts).groupby(revenue_codes).sum()
    per_user = np.zeros(n_users)
    per_user[summed.index.to_numpy()] = summed.to_numpy()
    is_payer = np.zeros(n_users, dtype=bool)
    is_payer[revenue_codes] = True
    return CodedInputs(
        users=pd.Index(users),
        revenue=per_user.astype(np.float64),
        is_payer=is_payer,
        session_ids=pd.Index(session_ids),
        session=session,
        requester=requester,
        partner=partner,
        duration_s=duration,
        is_wanted=is_wanted,
        is_paid=is_paid,
    )


def _check_sessions_consistent(
    sessions: pd.DataFrame,
    session: np.ndarray,
    requester: np.ndarray,
    partner: np.ndarray,
    is_paid: np.ndarray,
) -> None:
    """A group session is several rows with one session_id: one requester, distinct partners."""
    if session.size == 0:
        return
    n_sessions = int(session.max()) + 1
    first_row = np.full(n_sessions, -1, dtype=np.int64)
    # the first row of each session is the reference the other rows must agree with
    first_row[session[::-1]] = np.arange(session.size - 1, -1, -1)
    reference = first_row[session]
    _fail_at(
        "sessions", sessions, "user_id", requester != requester[reference],
        "differs from the user_id of an earlier row of the same session_id",
    )
    _fail_at(
        "sessions", sessions, "is_paid", is_paid != is_paid[reference],
        "differs from is_paid of an earlier row of the same session_id",
    )
    pair = session * (int(partner.max()) + 1) + partner
    _fail_at(
        "sessions", sessions, "partner_id", pd.Series(pair).duplicated().to_numpy(),
        "repeats a partner already listed in the same session_id",
    )
