"""End-to-end: the Dagster UI in headless Chromium (marker ``e2e``)."""
