"""The report's resource: where its messages go (the Slack webhook, a secret, or JSON files)."""

from __future__ import annotations

import dagster as dg

from adperf_assets.defs.report.slack import SlackOutbox, SlackWebhook
from adperf_assets.settings import Settings


def report_resources(settings: Settings) -> dict:
    return {"slack": SlackWebhook(webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL")) if settings.is_real("slack")
            else SlackOutbox(directory=str(settings.home / "outbox"))}
