"""A Spark session for the log aggregations once the logs outgrow one machine.

``master`` is ``local[N]`` on one machine (tests, CI) or a cluster URL (``spark://host:7077``,
``yarn``, ``k8s://https://...``) in production; ``conf`` adds any Spark setting (executor
memory, object-store credentials through ``spark.hadoop.*``). ``pyspark`` and a Java runtime are
needed only when this resource is used: ``pip install adperf-assets[spark]``.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

# Settings the log aggregations rely on: naive UTC timestamps, Arrow for the small results.
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
}


class SparkResource(dg.ConfigurableResource):
    """Builds (or reuses) the process's SparkSession with the configured master and settings."""

    master: str = Field(default="local[2]", description="Spark master: local[N], spark://..., yarn, k8s://...")
    app_name: str = Field(default="adperf", description="Spark application name.")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings (override the defaults).")

    def settings(self) -> dict[str, str]:
        merged = {**DEFAULT_CONF, **REQUIRED_CONF, **self.conf}
        tz = merged["spark.sql.session.timeZone"]
        if tz != "UTC":
            raise ValueError(f"SparkResource: spark.sql.session.timeZone must be 'UTC' (log timestamps are naive UTC), "
                             f"got {tz!r}")
        return merged

    def get_session(self):
        """The active SparkSession (one per process: Spark's ``getOrCreate``)."""
        try:
            from pyspark.sql import SparkSession
        except ImportError as e:  # the optional extra is missing
            raise RuntimeError("SparkResource needs pyspark: pip install 'adperf-assets[spark]' "
                               "(and a Java runtime, e.g. Debian's default-jre-headless)") from e
        builder = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in self.settings().items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        # a session created earlier in this process keeps its static settings; these are runtime ones
        session.conf.set("spark.sql.session.timeZone", "UTC")
        return session
