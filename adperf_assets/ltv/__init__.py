"""Retention fits and LTV estimators: plain numpy/scipy/lifetimes, no Dagster."""
