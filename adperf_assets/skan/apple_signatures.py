"""Apple's postback signing keys and signatures (SKAdNetwork 4's ECDSA signature, AdAttributionKit's ES256 JWS).

Verification uses Apple's published public keys; signing exists for the sample world and the tests, which
stand in for Apple with a key of their own (apple_copies.py reads and verifies the copies).
"""

from __future__ import annotations

import base64
import json
from typing import Mapping

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

#: Apple's NIST P-256 public keys (DER, base64) by JWS ``kid``, from "Verifying a postback"
#: (AdAttributionKit). The production key is also SKAdNetwork's key for versions 2.1 and later.
APPLE_KEYS = {
    "apple-cas-identifier/0": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWdp8GPcGqmhgzEFj9Z2nSpQVddayaPe4FMzqM9wib1+aHaaIzoHoLN9z"
                              "W4K8y4SPykE3YVK3sVqW6Af0lfx3gg==",
    "apple-development-identifier/0": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELeEDzpJEP+/qRSE5hJVC1p1J0ssUnQGMzBBbvnACBo"
                                      "k8OVGGLgxL0myrKiy6lvRtSlLRsWit87i+vftD8AEqeQ==",
    "apple-development-identifier/1": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YzdO7eM97s/IJ25kdW5CZ3A14USE5IJ5Ha/vhWax"
                                      "I6UBI1ZxCEvjrKxVluVGe6qWwF1BDFq+QHqKfH5u+wxHQ==",
}
#: The key that verifies SKAN (2.1+) ``attribution-signature``s: a SKAN body has no ``kid``.
SKAN_KEY_ID = "apple-cas-identifier/0"
#: Production only by default: Apple says to ignore development-signed postbacks in production flows.
PRODUCTION_KEY_IDS = (SKAN_KEY_ID,)
SEP = "\u2063"  # INVISIBLE SEPARATOR: joins the fields a SKAN signature covers


def public_keys(keys: Mapping[str, str]) -> dict[str, ec.EllipticCurvePublicKey]:
    """``kid`` → P-256 public key from base64 DER (SubjectPublicKeyInfo) text."""
    out = {}
    for kid, b64 in keys.items():
        key = serialization.load_der_public_key(base64.b64decode(b64))
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise ValueError(f"verification key {kid!r} is not a NIST P-256 public key")
        out[kid] = key
    return out


def public_key_text(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    """Base64 DER of a key's public half, the form Apple publishes its keys in."""
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return base64.b64encode(pub.public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


# -- SKAdNetwork 2.1-4 --------------------------------------------------------------------------

#: The fields each version's signature covers, in Apple's order ("Verifying an install-validation postback",
#: "Combining parameters for SKAdNetwork 3 postbacks"); "source": the source app (or, from 4.0, the source
#: domain) only when present. Apple's examples of 2.1, 2.2, 3.0 and 4.0 verify with its key (tests).
SKAN_SIGNED = {
    "2.1": ("version", "ad-network-id", "campaign-id", "app-id", "transaction-id", "redownload", "source"),
    "2.2": ("version", "ad-network-id", "campaign-id", "app-id", "transaction-id", "redownload", "source",
            "fidelity-type"),
    "3.0": ("version", "ad-network-id", "campaign-id", "app-id", "transaction-id", "redownload", "source",
            "fidelity-type", "did-win"),
    "4.0": ("version", "ad-network-id", "source-identifier", "app-id", "transaction-id", "redownload",
            "source", "fidelity-type", "did-win", "postback-sequence-index"),
}


def field_text(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def skan_signed_string(body: Mapping) -> str:
    """The string Apple signs for a postback of the body's version (the source app or domain only when present)."""
    parts = []
    for f in SKAN_SIGNED[body["version"]]:
        if f == "source":
            src = [k for k in ("source-app-id", "source-domain") if k in body]
            parts += [field_text(body[k]) for k in src[:1]]
        else:
            parts.append(field_text(body[f]))
    return SEP.join(parts)


def sign_skan(body: dict, key: ec.EllipticCurvePrivateKey) -> dict:
    """``body`` with an ``attribution-signature`` by ``key`` (the sample world's and tests' stand-in for Apple)."""
    sig = key.sign(skan_signed_string(body).encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return {**body, "attribution-signature": base64.b64encode(sig).decode()}


# -- AdAttributionKit ----------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jws(payload: dict, key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """An ES256 compact JWS of ``payload`` with header ``{"kid", "alg"}`` (as Apple's postbacks carry)."""
    head = b64url(json.dumps({"kid": kid, "alg": "ES256"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = utils.decode_dss_signature(der)
    return f"{head}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
