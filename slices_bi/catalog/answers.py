"""Answers of the lifecycle operations: an extension's grant and a dry run's plan."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from slices_bi.catalog.models import ResourcePublic, TaskKind


class ExpiryGrantPublic(BaseModel):
    """The expiry asked for and the one granted; `limited_by` and `reason` say why when
    it is less (`experiment_expiry` or `site_maximum`)."""

    requested: datetime
    granted: datetime | None
    latest_allowed: datetime | None
    clamped: bool
    limited_by: str | None
    reason: str | None


class ResourceExtendedPublic(ResourcePublic):
    """`PATCH /resources/{id}`: the resource, and what the extension granted."""

    extension: ExpiryGrantPublic


class CheckPublic(BaseModel):
    """One check of a dry run: `ok`, else `error` (the code a real request answers or its
    resource fails with) and `detail`; `resource` names the VM (its index) when it is one's."""

    check: str
    ok: bool
    error: str | None = None
    detail: str = ""
    resource: int | None = None


class CloudVmPublic(BaseModel):
    """A VM as the cloud would build it (from the pre-flight)."""

    image_id: str
    image_name: str
    flavor_id: str
    flavor_name: str
    vcpus: int
    ram_mib: int
    disk_gb: int
    network_id: str
    network_name: str


class PlannedResourcePublic(BaseModel):
    """One VM of a dry run, resolved."""

    friendly_name: str
    disk_image_id: str
    disk_image_name: str | None
    flavor_id: str
    flavor_name: str | None
    network_name: str | None
    public_ipv4: bool
    expires_at: datetime | None
    cloud: CloudVmPublic | None


class QuotaPublic(BaseModel):
    """A quota as the pre-flight saw it: what the request needs and what is left
    (`available`, `limit` -1 when unlimited)."""

    kind: str
    requested: int
    available: int | None
    limit: int
    used: int


class DryRunPublic(BaseModel):
    """`POST /resources?dry_run=true`: what a real request would do; nothing is written or
    started. `would_succeed` is true when every check passed."""

    dry_run: bool = True
    kind: TaskKind = TaskKind.PROVISION
    would_succeed: bool
    message: str
    resource_ids: list[str] = []
    expires_at: ExpiryGrantPublic | None
    resources: list[PlannedResourcePublic]
    checks: list[CheckPublic]
    quota: list[QuotaPublic]
