"""Expiry warnings, sent by expiry-cleanup: for each resource about to expire, a Prefect
event (`slices-bi.resource.expiry-warning`, so an operator can hang any automation or
notification on it) and, when `expiry_webhook_url` is set, an HTTP POST of the same facts.

Each warning goes out at most once (`slices_bi.catalog.warnings` claims it first); a
webhook POST that fails is tried again at the next passes (`WEBHOOK_TRIES` in all, while
the expiry is ahead and unchanged); the Prefect event is not sent again.
The payload holds ids, names and times only: never a token or user data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from prefect.events import emit_event

from slices_bi.catalog import warnings
from slices_bi.catalog.types import utcnow
from slices_bi.settings import Settings

EVENT = "slices-bi.resource.expiry-warning"
_module_logger = logging.getLogger(__name__)


@dataclass
class WarningSummary:
    sent: int = 0
    webhook_failures: int = 0
    retried: int = 0


def payload_of(warning: warnings.DueWarning, settings: Settings, now: datetime) -> dict[str, Any]:
    """What the event and the webhook say about a warning."""
    return {
        "event": "expiry_warning",
        "site_id": settings.site_id,
        "resource_id": warning.resource_id,
        "friendly_name": warning.friendly_name,
        "experiment_id": warning.experiment_id,
        "expires_at": warning.expires_at.isoformat(),
        "threshold_hours": warning.threshold_seconds / 3600,
        "seconds_left": max(0, int((warning.expires_at - now).total_seconds())),
        "events_url": f"{settings.public_url.rstrip('/')}/apis/bi.slices.eu/v1alpha2"
        f"/resources/{warning.resource_id}/events",
    }


def _post(url: str, body: dict[str, Any], timeout: float) -> str:
    try:
        answer = httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"failed: {type(exc).__name__}"
    if answer.status_code >= 300:
        return f"failed: HTTP {answer.status_code}"
    return "delivered"


def send_warnings(
    settings: Settings, now: datetime | None = None, logger: Any = _module_logger
) -> WarningSummary:
    """Send every expiry warning due at `now` (default: now)."""
    at = now or utcnow()
    thresholds = [int(h * 3600) for h in settings.expiry_warning_hours if h > 0]
    summary = WarningSummary()
    if settings.expiry_webhook_url:
        _retry(settings, settings.expiry_webhook_url, at, summary, logger)
    for warning in warnings.due_warnings(at, thresholds):
        if not warnings.claim(warning):
            continue
        body = payload_of(warning, settings, at)
        emit_event(
            event=EVENT,
            resource={
                "prefect.resource.id": f"slices-bi.resource.{warning.resource_id}",
                "prefect.resource.name": warning.friendly_name,
                "slices-bi.experiment-id": warning.experiment_id,
            },
            payload=body,
        )
        status = ""
        if settings.expiry_webhook_url:
            status = _post(
                settings.expiry_webhook_url, body, settings.expiry_webhook_timeout_seconds
            )
            summary.webhook_failures += status != "delivered"
        warnings.record_sent(warning, status)
        summary.sent += 1
        logger.info(
            "expiry warning resource_id=%s threshold_h=%g webhook=%s",
            warning.resource_id,
            warning.threshold_seconds / 3600,
            status or "none",
        )
    return summary


def _retry(
    settings: Settings, url: str, now: datetime, summary: WarningSummary, logger: Any
) -> None:
    """POST again the warnings whose webhook failed on an earlier pass."""
    for warning, tries in warnings.failed_deliveries(now):
        status = _post(
            url, payload_of(warning, settings, now), settings.expiry_webhook_timeout_seconds
        )
        if status != "delivered":
            summary.webhook_failures += 1
            status = f"failed ({tries + 1} tries): {status.removeprefix('failed: ')}"
        warnings.record_retry(warning, status)
        summary.retried += 1
        logger.info(
            "expiry warning webhook retried resource_id=%s try=%d: %s",
            warning.resource_id,
            tries + 1,
            status,
        )
