"""Tables of a resource's life: its timeline of events and the expiry warnings sent.

Kept apart from `models.py` (which imports this module, so one metadata holds them all).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from slices_bi.catalog.types import UTCDateTime, utcnow


class EventKind(StrEnum):
    """What happened to a resource (stable values: clients read them)."""

    REQUESTED = "requested"
    BUILDING = "building"
    ACTIVE = "active"
    FAILED = "failed"
    EXTENDED = "extended"
    EXPIRY_WARNING = "expiry_warning"
    EXPIRED = "expired"
    REBOOT_REQUESTED = "reboot_requested"
    REBOOTED = "rebooted"
    REBOOT_FAILED = "reboot_failed"
    DELETION_REQUESTED = "deletion_requested"
    DELETED = "deleted"


class ResourceEvent(SQLModel, table=True):
    """One step of a resource's life, with when, who and the details that matter."""

    __tablename__ = "resource_events"

    id: int | None = Field(default=None, primary_key=True)
    resource_id: str = Field(index=True, max_length=128)
    kind: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Who made it happen: a user id, or the job that did ("expiry-cleanup").
    actor: str | None = Field(default=None, max_length=255)
    task_id: str | None = Field(default=None, max_length=128, index=True)
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ExpiryWarning(SQLModel, table=True):
    """A warning sent for a resource `threshold_seconds` before `expires_at`: once each.

    An extension changes `expires_at`, so the warnings of the new expiry are new rows.
    """

    __tablename__ = "expiry_warnings"

    resource_id: str = Field(primary_key=True, max_length=128)
    threshold_seconds: int = Field(primary_key=True)
    expires_at: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # "" (no webhook configured), "delivered", or why the POST failed.
    webhook: str = Field(default="", max_length=255)


class ResourceEventPublic(SQLModel):
    kind: EventKind
    at: datetime
    actor: str | None
    task_id: str | None
    message: str
    data: dict[str, Any]


class ResourceEventsPublic(SQLModel):
    resource_id: str
    data: list[ResourceEventPublic]
    count: int
