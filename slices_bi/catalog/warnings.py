"""Expiry warnings: which resources are due one, and the record that each went out once.

A resource is due a warning at each threshold (`expiry_warning_hours`) it has come within
of its `expires_at`. Only the tightest threshold reached is sent (a VM created an hour
before its expiry gets one warning, not two); the wider ones it skipped are recorded as
covered. A warning is claimed (a row keyed by resource, threshold and expiry) before it
goes out, so it goes out at most once; an extension moves `expires_at`, and the warnings
of the new expiry are new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from slices_bi.catalog import timeline
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.event_models import EventKind, ExpiryWarning
from slices_bi.catalog.models import Resource, ResourceStatus

WARNED_STATUSES = (ResourceStatus.PENDING, ResourceStatus.PROVISIONING, ResourceStatus.ACTIVE)


@dataclass(frozen=True)
class DueWarning:
    """A warning to send: the resource, and the threshold it has come within."""

    resource_id: str
    friendly_name: str
    experiment_id: str
    expires_at: datetime
    threshold_seconds: int
    wider_thresholds: tuple[int, ...]


def due_warnings(now: datetime, thresholds: list[int], limit: int = 500) -> list[DueWarning]:
    """The warnings due at `now` that were not sent yet (tightest threshold per resource)."""
    if not thresholds:
        return []
    ordered = sorted(set(thresholds))
    query = (
        select(Resource)
        .where(
            col(Resource.status).in_(WARNED_STATUSES),
            Resource.expires_at > now,
            Resource.expires_at <= now + timedelta(seconds=ordered[-1]),
        )
        .order_by(col(Resource.expires_at))
        .limit(limit)
    )
    due: list[DueWarning] = []
    with session_scope() as session:
        for row in session.exec(query).all():
            left = (row.expires_at - now).total_seconds()
            reached = [t for t in ordered if left <= t]
            sent = session.exec(
                select(ExpiryWarning.threshold_seconds).where(
                    ExpiryWarning.resource_id == row.id,
                    ExpiryWarning.expires_at == row.expires_at,
                )
            ).all()
            if not reached or reached[0] in sent:
                continue
            due.append(
                DueWarning(
                    resource_id=row.id,
                    friendly_name=row.friendly_name,
                    experiment_id=row.experiment_id,
                    expires_at=row.expires_at,
                    threshold_seconds=reached[0],
                    wider_thresholds=tuple(t for t in reached[1:] if t not in sent),
                )
            )
    return due


def claim(warning: DueWarning) -> bool:
    """Record the warning (and the wider ones it covers) as sent; False when another pass
    claimed it first, or the resource changed meanwhile (extended, deleted)."""
    try:
        with session_scope() as session:
            row = session.get(Resource, warning.resource_id, with_for_update=True)
            if row is None or row.status not in WARNED_STATUSES:
                return False
            if row.expires_at != warning.expires_at:
                return False
            for threshold in (warning.threshold_seconds, *warning.wider_thresholds):
                session.add(
                    ExpiryWarning(
                        resource_id=warning.resource_id,
                        threshold_seconds=threshold,
                        expires_at=warning.expires_at,
                        webhook="" if threshold == warning.threshold_seconds else "covered",
                    )
                )
    except IntegrityError:
        return False
    return True


def record_sent(warning: DueWarning, webhook: str) -> None:
    """Note how the webhook took the warning, and put it on the resource's timeline."""
    with session_scope() as session:
        _note_webhook(session, warning, webhook)
        hours = warning.threshold_seconds / 3600
        timeline.record(
            session,
            warning.resource_id,
            EventKind.EXPIRY_WARNING,
            f"expires at {warning.expires_at.isoformat()}: {hours:g} h warning sent",
            actor="expiry-cleanup",
            threshold_hours=hours,
            expires_at=warning.expires_at,
            webhook=webhook or None,
        )


# Webhook tries per warning (one per expiry-cleanup pass) before it is given up.
WEBHOOK_TRIES = 5


def failed_deliveries(now: datetime, limit: int = 100) -> list[tuple[DueWarning, int]]:
    """Warnings whose webhook POST failed, with the tries made so far, to try again: those
    of live resources whose expiry is still ahead and unchanged, fewer than
    `WEBHOOK_TRIES` tries."""
    query = (
        select(ExpiryWarning, Resource)
        .join(Resource, col(Resource.id) == col(ExpiryWarning.resource_id))
        .where(
            col(ExpiryWarning.webhook).startswith("failed"),
            col(Resource.status).in_(WARNED_STATUSES),
            Resource.expires_at == ExpiryWarning.expires_at,
            Resource.expires_at > now,
        )
        .limit(limit)
    )
    out = []
    with session_scope() as session:
        for sent, row in session.exec(query).all():
            tries = tries_of(sent.webhook)
            if tries >= WEBHOOK_TRIES:
                continue
            warning = DueWarning(
                resource_id=row.id,
                friendly_name=row.friendly_name,
                experiment_id=row.experiment_id,
                expires_at=row.expires_at,
                threshold_seconds=sent.threshold_seconds,
                wider_thresholds=(),
            )
            out.append((warning, tries))
    return out


def tries_of(webhook: str) -> int:
    """The tries a "failed (N tries): why" status records (1 for a bare "failed: why")."""
    if not webhook.startswith("failed"):
        return 0
    head = webhook.split(":", 1)[0]
    digits = "".join(ch for ch in head if ch.isdigit())
    return int(digits) if digits else 1


def record_retry(warning: DueWarning, webhook: str) -> None:
    """Store the outcome of a webhook retry (the timeline keeps the first try's event)."""
    with session_scope() as session:
        _note_webhook(session, warning, webhook)


def _note_webhook(session: Session, warning: DueWarning, webhook: str) -> None:
    """Store how the webhook took `warning` on its row."""
    row = session.get(
        ExpiryWarning, (warning.resource_id, warning.threshold_seconds, warning.expires_at)
    )
    if row is not None:
        row.webhook = webhook[:255]
