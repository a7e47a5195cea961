"""Normalisation of the raw sources (spend, FX, time zones, installs, payments, match sessions): plain
pandas and SQL, no Dagster. The rules: docs/normalization.md.
"""
