"""Is an app user's device an emulator? A rule on the app DB's ``device_manufacturer`` / ``device_model``.

Emulator installs are mostly fraud or QA, retain and pay very differently, and would bend the
LTV of whatever segment they fall into, so they are a segment key of their own. The rule is a
short list of markers that emulator images put in ``Build.MANUFACTURER`` / ``Build.MODEL`` (and
the iOS simulator in its machine identifier); a device matching any of them is an emulator:

==========================  ============================================================
field / pattern             what reports it
==========================  ============================================================
model ``sdk_gphone*``       Android Studio emulator images (``sdk_gphone64_x86_64``, ...)
model ``sdk``, ``sdk_*``,   older Android SDK images (``google_sdk``, ``sdk_x86``,
``google_sdk*``             ``sdk_google_phone_x86``)
model ``Android SDK built   old AVD images ("Android SDK built for x86")
for *``
model ``generic*``          generic AOSP builds (``generic_x86``)
model contains              anything that says so
``emulator``
manufacturer ``Genymotion`` Genymotion virtual devices
model ``Custom Phone`` /    Genymotion's default device profiles
``Custom Tablet``
model ``vbox86*``           VirtualBox-based images (Genymotion, older emulators)
model ``x86_64``, ``i386``, the iOS simulator (it reports the host CPU, no real iPhone
``arm64``                   does)
==========================  ============================================================

Matching is case-insensitive on the trimmed value; a missing value matches nothing (an
unknown device is not called an emulator). ``Google`` as a manufacturer alone is not a marker
(Pixel phones report it).
"""

from __future__ import annotations

import re

import pandas as pd

#: (field, compiled pattern, what it catches) — the documented rule, in one place.
EMULATOR_MARKERS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("model", re.compile(r"^sdk_gphone", re.I), "Android Studio emulator image"),
    ("model", re.compile(r"^(?:google_)?sdk(?:$|_)", re.I), "Android SDK emulator image"),
    ("model", re.compile(r"^android sdk built for", re.I), "Android SDK emulator image"),
    ("model", re.compile(r"^generic(?:$|_)", re.I), "generic AOSP build"),
    ("model", re.compile(r"emulator", re.I), "model names an emulator"),
    ("manufacturer", re.compile(r"^genymotion$", re.I), "Genymotion virtual device"),
    ("model", re.compile(r"^custom (?:phone|tablet)\b", re.I), "Genymotion device profile"),
    ("model", re.compile(r"^vbox86", re.I), "VirtualBox image"),
    ("model", re.compile(r"^(?:x86_64|i386|arm64)$", re.I), "iOS simulator"),
)


def emulator_reason(manufacturer: pd.Series, model: pd.Series) -> pd.Series:
    """The first marker each device matches, or ``""`` for a (presumably) real device."""
    fields = {
        "manufacturer": manufacturer.astype("object").where(manufacturer.notna(), "").astype(str).str.strip(),
        "model": model.astype("object").where(model.notna(), "").astype(str).str.strip(),
    }
    reason = pd.Series("", index=model.index, dtype=object)
    for field, pattern, what in reversed(EMULATOR_MARKERS):  # reversed: the first marker wins
        hit = fields[field].str.contains(pattern, regex=True)
        reason = reason.mask(hit, what)
    return reason


def is_emulator(manufacturer: pd.Series, model: pd.Series) -> pd.Series:
    """Boolean per device: does it match any marker in :data:`EMULATOR_MARKERS`?"""
    return emulator_reason(manufacturer, model) != ""
