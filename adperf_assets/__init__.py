"""adperf: automated ad-performance measurement as a Dagster asset graph."""
