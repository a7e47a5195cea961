"""Software-defined assets, one module per domain (spend, revenue, behavior, attribution, ltv, report)."""
