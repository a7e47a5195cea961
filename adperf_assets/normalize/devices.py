"""Is an app user's device an emulator? A rule on the app DB's ``device_manufacturer`` / ``device_model``.

Emulator installs (mostly fraud or QA) retain and pay very differently, so ``is_emulator`` is a
segment key of its own. ``EMULATOR_MARKERS`` is the rule; what each marker catches and why:
docs/normalization.md ("Emulators").
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
