"""Tables of what the processes observed: metric samples the flows count, and the receipt of
each resource that became active.

Kept apart from `models.py`: nothing of the request path reads or writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from slices_bi.catalog.types import UTCDateTime, utcnow


class MetricSample(SQLModel, table=True):
    """One counter (or gauge) value `name{labels}`, summed over every process.

    `labels` is the canonical `k=v,k=v` text of its labels (sorted; values never hold a
    comma or an equals sign). Histograms are stored as `<name>_bucket` samples with an
    `le` label (per bucket, not cumulative), `<name>_sum` and `<name>_count`.
    """

    __tablename__ = "metric_samples"

    name: str = Field(primary_key=True, max_length=100)
    labels: str = Field(primary_key=True, default="", max_length=255)
    value: float = 0.0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ResourceReceipt(SQLModel, table=True):
    """What a resource was made of when it became active (`GET /resources/{id}/receipt`)."""

    __tablename__ = "resource_receipts"

    resource_id: str = Field(primary_key=True, foreign_key="resources.id", max_length=128)
    # Known before the server is asked for: the SHA-256 of the cloud-init payload sent.
    user_data_sha256: str | None = Field(default=None, max_length=64)
    # The whole receipt once the resource is active (None until then).
    body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
