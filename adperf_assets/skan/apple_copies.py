"""Apple's own postback copies (SKAdNetwork 2.1-4 and AdAttributionKit): verify, parse, map to ``skan_postbacks`` rows.

An advertiser that registers a copy endpoint (``NSAdvertisingAttributionReportEndpoint`` for SKAN,
``AttributionCopyEndpoint`` for AdAttributionKit) receives a copy of every *winning* postback straight from
the device. Those bodies are signed by Apple, so unlike the MMP's export they can be checked:

- SKAN 4: ``attribution-signature`` is an ECDSA P-256 / SHA-256 signature (DER, base64) over the UTF-8
  string of ``version, ad-network-id, source-identifier, app-id, transaction-id, redownload, source-app-id |
  source-domain (only when present), fidelity-type, did-win, postback-sequence-index`` joined by U+2063.
  The conversion values are not signed. Versions 2.1-3.0 sign fewer fields (``SKAN_SIGNED``), with a
  2-digit ``campaign-id`` in the identifier's place.
- AdAttributionKit: ``jws-string`` is an ES256 compact JWS (RFC 7515) whose header ``kid`` names Apple's key;
  the conversion values, ``ad-interaction-type`` and ``country-code`` sit outside it, unsigned.

Apple's examples of SKAN 2.1, 2.2, 3.0 (winning and not) and 4.0 and its current AdAttributionKit example (kid
``apple-development-identifier/1``) verify with these keys (tests). An older AdAttributionKit example
(kid ``apple-cas-identifier/0``) verifies with none of Apple's three published keys: we treat it as
illustrative. docs/skan.md says what stays unverified.

A body that fails is *rejected* with its file, line, field and reason, not raised: the copy endpoint is a
public URL anyone can post to, so one forged or garbled body must not stop the day (Apple: ignore
postbacks that fail validation); the rejected rows are counted and shown by the asset.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from adperf_assets.skan.postbacks import COLUMNS, DTYPES
from adperf_assets.skan.schema import COARSE, campaign_sid
from adperf_assets.skan.apple_signatures import SKAN_KEY_ID, SKAN_SIGNED, field_text, skan_signed_string, unb64url

#: Apple's ad network ids (``SKAdNetworkIdentifier``) → our network names: Meta's two, Google's, ByteDance's
#: two (TikTok / Pangle), as apps' published ``SKAdNetworkItems`` lists name them (not checked against the
#: networks' own pages); the receiver's config can replace this.
AD_NETWORKS = {"v9wttpbfk9.skadnetwork": "facebook", "n38lu8286q.skadnetwork": "facebook",
               "cstr6suwn9.skadnetwork": "google_ads",
               "238da6jt44.skadnetwork": "tiktok", "22mmun2rn5.skadnetwork": "tiktok"}
#: ``mmp`` column value of rows that come from Apple's copies.
COPY_SOURCE = "apple_copy"
#: The copies' extra columns: the app the postback is for (``app-id`` / ``advertised-item-identifier``), and
#: whether it is an AdAttributionKit re-engagement (an open of an installed app, not an install).
APP_ID, REENGAGEMENT = "app_id", "re_engagement"
REJECTED_COLUMNS = ["file", "line", "field", "problem", "value"]
#: The ``version`` of an AdAttributionKit postback (its payload has none; it sends later postbacks as SKAN 4.0).
AAK_VERSION = "AdAttributionKit"


class PostbackCopyError(ValueError):
    """A copy body that cannot be counted; names the file, the line and the field."""

    def __init__(self, file: str, line: int, field: str, problem: str, value: object = None):
        super().__init__(f"{file}, line {line}, field {field!r}: {problem}" + ("" if value is None else f" (got {value!r})"))
        self.file, self.line, self.field, self.problem, self.value = file, line, field, problem, value


# -- verification and parsing ------------------------------------------------------------------


@dataclass(frozen=True)
class CopyRow:
    """One verified copy in the table's terms (before the campaign mapping)."""

    kind: str  # "skan" or "aak"
    ad_network_id: str
    source_identifier: str
    transaction_id: str  # SKAN transaction-id; AdAttributionKit postback-identifier
    postback_sequence_index: int
    did_win: bool
    redownload: bool
    fidelity_type: int
    fine: float
    coarse: str
    source_app_id: str
    app_id: str
    reengagement: bool = False
    version: str = ""  # SKAdNetwork's "2.1"-"4.0", or AAK_VERSION


def _need(body: Mapping, field: str, typ: type, fail, allowed=None):
    if field not in body:
        fail(field, "missing")
    v = body[field]
    if not isinstance(v, typ) or (typ is not bool and isinstance(v, bool)):
        fail(field, f"not a JSON {'boolean' if typ is bool else {int: 'integer', str: 'string'}[typ]}", v)
    if allowed is not None and v not in allowed:
        fail(field, f"not one of {sorted(allowed, key=str)}", v)
    return v


def _values(body: Mapping, seq: int, fail) -> tuple[float, str]:
    """The fine / coarse value outside the signature (SKAN and AdAttributionKit name them alike)."""
    fine, coarse = np.nan, ""
    if "conversion-value" in body:
        fine = float(_need(body, "conversion-value", int, fail, range(64)))
        if seq > 0:
            fail("conversion-value", "a fine value in a later postback (only the first may carry one)", int(fine))
    if "coarse-conversion-value" in body:
        coarse = _need(body, "coarse-conversion-value", str, fail, set(COARSE))
        if not np.isnan(fine):
            fail("coarse-conversion-value", "a postback carries a fine or a coarse value, never both", coarse)
    return fine, coarse


def _sid(v, fail, field="source-identifier") -> str:
    if not (isinstance(v, str) and v.isascii() and v.isdigit() and 2 <= len(v) <= 4):
        fail(field, "not 2-4 digits (text)", v)
    return v


def parse_skan(body: Mapping, key: ec.EllipticCurvePublicKey, fail) -> CopyRow:
    """A SKAN 2.1-4.0 copy, its ``attribution-signature`` checked against ``key``. Before 4.0 a postback
    names a 2-digit ``campaign-id``, is the only one of its install (index 0) and carries a fine value or
    none; before 3.0 every postback won, before 2.2 every ad was StoreKit-rendered (fidelity 1)."""
    version = _need(body, "version", str, fail)
    signed = SKAN_SIGNED.get(version)
    if signed is None:  # 2.0 and earlier: another key and field order, from before developers got copies (iOS 15)
        fail("version", f"not a SKAdNetwork version whose signature we verify ({', '.join(SKAN_SIGNED)})", version)
    _need(body, "ad-network-id", str, fail)
    if "source-identifier" in signed:
        sid = _sid(_need(body, "source-identifier", str, fail), fail)
    else:
        sid = campaign_sid(_need(body, "campaign-id", int, fail, range(1, 101)))
    _need(body, "app-id", int, fail)
    tid = _need(body, "transaction-id", str, fail)
    if not tid:
        fail("transaction-id", "empty", tid)
    _need(body, "redownload", bool, fail)
    fidelity = _need(body, "fidelity-type", int, fail, {0, 1}) if "fidelity-type" in signed else 1
    won = _need(body, "did-win", bool, fail) if "did-win" in signed else True
    seq = _need(body, "postback-sequence-index", int, fail, {0, 1, 2}) if "postback-sequence-index" in signed else 0
    if "coarse-conversion-value" in body and "source-identifier" not in signed:
        fail("coarse-conversion-value", f"coarse values came with SKAdNetwork 4.0 (this postback is {version})")
    if "source-app-id" in body and "source-domain" in body:
        fail("source-domain", "a postback names a source app or a source domain, never both")
    src = _need(body, "source-app-id", int, fail) if "source-app-id" in body else ""
    sig_text = _need(body, "attribution-signature", str, fail)
    try:
        key.verify(base64.b64decode(sig_text, validate=True), skan_signed_string(body).encode(),
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        fail("attribution-signature", "does not verify with Apple's SKAdNetwork key (forged, altered or "
             "signed with another key)")
    fine, coarse = _values(body, seq, fail)
    return CopyRow("skan", body["ad-network-id"], sid, tid, seq, won, body["redownload"],
                   fidelity, fine, coarse, field_text(src) if src != "" else "", field_text(body["app-id"]),
                   version=version)


#: AdAttributionKit ``ad-interaction-type`` (outside the signature) → SKAN's fidelity type.
_INTERACTION = {"click": 1, "view": 0}


def parse_aak(body: Mapping, keys: Mapping[str, ec.EllipticCurvePublicKey], fail) -> CopyRow:
    """An AdAttributionKit copy, its ``jws-string`` checked with the key its header's ``kid`` names."""
    jws = _need(body, "jws-string", str, fail)
    parts = jws.split(".")
    if len(parts) != 3:
        fail("jws-string", "not a compact JWS (header.payload.signature)")
    try:
        header, payload, sig = json.loads(unb64url(parts[0])), json.loads(unb64url(parts[1])), unb64url(parts[2])
    except (ValueError, binascii.Error):
        fail("jws-string", "header, payload or signature is not base64url JSON")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        fail("jws-string", "header or payload is not a JSON object")
    if header.get("alg") != "ES256":
        fail("jws-string.alg", "not ES256", header.get("alg"))
    kid = header.get("kid")
    if kid not in keys:
        fail("jws-string.kid", f"no verification key for this kid (known: {', '.join(sorted(keys))})", kid)
    if len(sig) != 64:
        fail("jws-string", "an ES256 signature is 64 bytes (R || S)", len(sig))
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        keys[kid].verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        fail("jws-string", f"signature does not verify with key {kid!r}")

    def pfail(field, problem, value=None):
        fail(f"jws-string.{field}", problem, value)

    # the dedup key per Apple; whether one install's postbacks share it is unverified (keyed with the index)
    _need(payload, "postback-identifier", str, pfail)
    _need(payload, "ad-network-identifier", str, pfail)
    sid = _sid(_need(payload, "source-identifier", str, pfail), pfail)
    seq = _need(payload, "postback-sequence-index", int, pfail, {0, 1, 2})
    _need(payload, "did-win", bool, pfail)
    _need(payload, "advertised-item-identifier", int, pfail)
    conv = _need(payload, "conversion-type", str, pfail, {"download", "redownload", "re-engagement"})
    inter = _need(body, "ad-interaction-type", str, fail, set(_INTERACTION))  # always sent? unverified
    fine, coarse = _values(body, seq, fail)
    pub = payload.get("publisher-item-identifier", "")  # tier-controlled; 0 = none (Apple's development example)
    return CopyRow("aak", payload["ad-network-identifier"], sid, payload["postback-identifier"], seq,
                   payload["did-win"], conv == "redownload", _INTERACTION[inter], fine, coarse,
                   field_text(pub) if pub not in ("", 0, None) else "", field_text(payload["advertised-item-identifier"]),
                   conv == "re-engagement", AAK_VERSION)


def parse_body(body: Mapping, keys: Mapping[str, ec.EllipticCurvePublicKey], fail, skan_kid: str = SKAN_KEY_ID) -> CopyRow:
    """Either kind of copy body, verified; ``fail(field, problem, value=None)`` must raise."""
    if not isinstance(body, Mapping):
        fail("body", "not a JSON object")
    if "jws-string" in body:
        return parse_aak(body, keys, fail)
    if "attribution-signature" in body:
        if skan_kid not in keys:
            fail("attribution-signature", f"no SKAdNetwork verification key ({skan_kid!r} is not configured)")
        return parse_skan(body, keys[skan_kid], fail)
    fail("body", "neither a SKAdNetwork copy (attribution-signature) nor an AdAttributionKit one (jws-string)")


# -- the receiver's files ------------------------------------------------------------------------

#: One line of the receiver's JSON-lines files: ``{"received_at": ISO-8601 UTC, "body": <the body as
#: received>}``. Apple's bodies carry no time, so the receiver stamps the arrival (our contract, not Apple's).
RECEIVED_AT, BODY = "received_at", "body"


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is None else t.astimezone(timezone.utc).replace(tzinfo=None)


def _received(text) -> datetime | None:
    """Naive UTC of an ISO-8601 time with a zone (``Z`` or an offset); None if it is not one."""
    try:
        t = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return None if t is None or t.tzinfo is None else _utc(t)


def read_lines(lines: Iterable[tuple[str, int, str]], keys: Mapping[str, ec.EllipticCurvePublicKey],
               networks: Mapping[str, str], skan_kid: str = SKAN_KEY_ID,
               window: tuple | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(file, line number, text)`` lines → (verified rows in ``skan_postbacks`` columns, ``APP_ID`` and
    ``REENGAGEMENT``, rejected lines).

    ``networks``: Apple's ad network id → our network name. ``window``: UTC ``[start, end)``; lines
    received outside it are skipped. Campaign, ad group and ad stay empty (the copies do not name them:
    ``map_campaigns``). Repeated copies (devices retry) keep the first.
    """
    lo, hi = (_utc(pd.Timestamp(w).to_pydatetime()) for w in window) if window else (None, None)
    rows, rejected = [], []
    for file, no, text in lines:
        if not text.strip():
            continue

        def fail(field, problem, value=None, file=file, no=no):
            raise PostbackCopyError(file, no, field, problem, value)

        try:
            try:
                rec = json.loads(text)
            except ValueError as e:
                fail("(line)", f"not JSON: {e}")
            if not isinstance(rec, dict) or BODY not in rec:
                fail(BODY, "missing (each line is {\"received_at\": ..., \"body\": ...})")
            when = _received(rec.get(RECEIVED_AT))
            if when is None:
                fail(RECEIVED_AT, "missing or not an ISO-8601 time with its zone", rec.get(RECEIVED_AT))
            if window and not lo <= when < hi:
                continue
            r = parse_body(rec[BODY], keys, fail, skan_kid)
            if r.ad_network_id not in networks:
                fail("ad-network-id" if r.kind == "skan" else "jws-string.ad-network-identifier",
                     "ad network id not in the source's network mapping", r.ad_network_id)
            rows.append((when, networks[r.ad_network_id], r, file, no))
        except PostbackCopyError as e:
            rejected.append((e.file, e.line, e.field, e.problem, "" if e.value is None else str(e.value)))
    table = pd.DataFrame({
        "arrival_time_utc": pd.Series([w for w, *_ in rows], dtype="datetime64[ns]"),
        "network": [n for _, n, *_ in rows], "campaign_id": "", "ad_group_id": "", "ad_id": "",
        "source_identifier": [r.source_identifier for _, _, r, *_ in rows],
        "transaction_id": [r.transaction_id for _, _, r, *_ in rows],
        "postback_sequence_index": np.array([r.postback_sequence_index for _, _, r, *_ in rows], dtype=np.int64),
        "did_win": np.array([r.did_win for _, _, r, *_ in rows], dtype=bool),
        "redownload": np.array([r.redownload for _, _, r, *_ in rows], dtype=bool),
        "fidelity_type": np.array([r.fidelity_type for _, _, r, *_ in rows], dtype=np.int64),
        "fine_conversion_value": np.array([r.fine for _, _, r, *_ in rows], dtype=float),
        "coarse_conversion_value": [r.coarse for _, _, r, *_ in rows],
        "source_app_id": [r.source_app_id for _, _, r, *_ in rows], "version": [r.version for _, _, r, *_ in rows],
        "mmp": COPY_SOURCE,
        "source_file": [f for *_, f, _ in rows], "source_row": np.array([n for *_, n in rows], dtype=np.int64),
        "app_id": [r.app_id for _, _, r, *_ in rows],  # whose postback (``skan.apps``); not a table column
        REENGAGEMENT: np.array([r.reengagement for _, _, r, *_ in rows], dtype=bool),  # nor this
    }, columns=[*COLUMNS, APP_ID, REENGAGEMENT])
    table = table.astype({c: t for c, t in DTYPES.items()})
    # Apple: count each transaction-id (postback-identifier) once; a retried copy is the same postback
    table = table.drop_duplicates(["network", "transaction_id", "postback_sequence_index"], ignore_index=True)
    return table, pd.DataFrame(rejected, columns=REJECTED_COLUMNS)


# -- with the MMP's export -----------------------------------------------------------------------

KEY = ["network", "transaction_id", "postback_sequence_index"]


def map_campaigns(copies: pd.DataFrame, mmp: pd.DataFrame) -> pd.DataFrame:
    """The network's campaign / ad group / ad of each copy's source identifier (Apple's copies name none),
    learnt from the MMP's rows of the same network. The identifier is hierarchical from its end: a postback
    carries its last 2, 3 or 4 digits (``schema.sid_digits``), so the last 2 name the campaign, 3 the ad
    group, 4 the ad. Any row whose identifier ends with the copy's last 2 digits gives the campaign, and so
    on; '' where no MMP row shows those digits."""
    out = copies.copy()
    sid = out["source_identifier"].astype(str)
    m = mmp[["network", "source_identifier", "campaign_id", "ad_group_id", "ad_id"]].astype(str)
    for digits, col in ((2, "campaign_id"), (3, "ad_group_id"), (4, "ad_id")):
        known = m[(m["source_identifier"].str.len() >= digits) & (m[col] != "")]
        lut = (known.assign(p=known["source_identifier"].str[-digits:])
               .drop_duplicates(["network", "p"], keep="last").set_index(["network", "p"])[col])
        key = pd.MultiIndex.from_arrays([out["network"].astype(str), sid.str[-digits:]])
        got = lut.reindex(key).to_numpy() if len(lut) else np.full(len(out), np.nan, dtype=object)
        out[col] = np.where((sid.str.len() >= digits).to_numpy() & pd.notna(got), got, "").astype(object)
    return out[COLUMNS]


def combine(mmp: pd.DataFrame, copies: pd.DataFrame, mmp_keys: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """The MMP's rows plus the verified copies it lacks (key: network, transaction id, sequence index).

    The MMP's row wins a key both hold: it carries the network's campaign mapping and the non-winning
    postbacks Apple never copies. ``mmp_keys``: the MMP's rows of a wider window (a copy and its MMP twin
    can fall on either side of midnight), for the keys and the mapping; ``mmp`` by default.
    """
    wide = mmp if mmp_keys is None else mmp_keys
    known = pd.MultiIndex.from_frame(wide[KEY].astype({"postback_sequence_index": np.int64}))
    twin = pd.MultiIndex.from_frame(copies[KEY]).isin(known) if len(copies) else np.zeros(0, dtype=bool)
    extra = map_campaigns(copies[~twin], wide)
    mine = pd.MultiIndex.from_frame(mmp[KEY]).isin(pd.MultiIndex.from_frame(copies[KEY])) if len(copies) and len(mmp) else np.zeros(len(mmp), dtype=bool)
    won = mmp["did_win"].to_numpy(dtype=bool)
    stats = {"copies": len(copies), "copies_with_mmp_twin": int(twin.sum()), "copies_added": len(extra),
             "copies_added_unmapped": int((extra["campaign_id"] == "").sum()),
             "mmp_winning_rows_without_copy": int((won & ~mine).sum())}
    parts = [p for p in (mmp[COLUMNS], extra) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else mmp[COLUMNS]
    return out.astype({c: t for c, t in DTYPES.items()}), stats
