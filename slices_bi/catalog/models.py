"""Catalog tables and their API families (Base / table / Public; request bodies live in
`schemas.py` and `offering_bodies.py`).

The tables are the app's own record of what exists: Prefect sees only ids, and the API
reads these rows, so status reads work while Prefect is busy or down.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import computed_field
from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from slices_bi.catalog.text import INT32_MAX
from slices_bi.catalog.types import UTCDateTime, utcnow

# The API's path prefix (the upstream one), for links in answers.
API_PATH = "/apis/bi.slices.eu/v1alpha2"


def _enum_column(enum: type[StrEnum], index: bool = False) -> Column[str]:
    # VARCHAR holding the values: no native enum type to migrate when a value is added.
    sa_type = SAEnum(
        enum, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
    )
    return Column(sa_type, nullable=False, index=index)


def _utc_column(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class ResourceStatus(StrEnum):
    """Life of a resource; `deleted` and `failed` rows are kept for the record."""

    PENDING = "pending"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"


class TaskStatus(StrEnum):
    """The `/tasks` status values (the Prefect state mapping is in flows/states.py)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_TASK_STATUSES = frozenset({TaskStatus.FINISHED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class TaskKind(StrEnum):
    """What a task does; each kind is one Prefect deployment."""

    PROVISION = "provision"
    DELETE = "delete"
    REBOOT = "reboot"


class OfferingState(SQLModel):
    """Columns of every offered entry (disk image, flavor): its origin and its changes."""

    # "admin" (made through the API) or "sync" (catalog-sync from OpenStack).
    origin: str = Field(default="admin", max_length=16)
    cloud_id: str | None = Field(default=None, index=True, max_length=64)
    missing_from_cloud: bool = False
    # Fields an admin set by hand; catalog-sync never overwrites them.
    admin_fields: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# --- disk images -------------------------------------------------------------------------


class DiskImageBase(SQLModel):
    friendly_name: str = Field(min_length=1, max_length=255)
    cluster_id: str = Field(default="default", max_length=64)
    location: str = Field(min_length=1, max_length=255, description="OpenStack image id or name")
    default_username: str = Field(default="ubuntu", max_length=64)
    min_disk_mb: int = Field(default=0, ge=0, le=INT32_MAX)
    min_ram_mib: int = Field(default=0, ge=0, le=INT32_MAX)
    short_description: str = Field(default="", max_length=255)
    long_description: str = Field(default="", max_length=4096)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hidden: bool = False


class DiskImage(DiskImageBase, OfferingState, table=True):
    __tablename__ = "disk_images"

    id: str = Field(primary_key=True, max_length=128)


class DiskImagePublic(DiskImageBase):
    id: str
    created_at: datetime
    updated_at: datetime


class DiskImagesPublic(SQLModel):
    data: list[DiskImagePublic]
    count: int


# --- flavors -----------------------------------------------------------------------------


class FlavorBase(SQLModel):
    friendly_name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=1024)
    flavor_type: str = Field(default="vm", max_length=16)
    vcpus: int = Field(ge=1, le=4096)
    ram_mib: int = Field(ge=1, le=INT32_MAX)
    disk_mb: int = Field(default=0, ge=0, le=INT32_MAX)
    location: str = Field(min_length=1, max_length=255, description="OpenStack flavor id or name")
    hidden: bool = False


class Flavor(FlavorBase, OfferingState, table=True):
    __tablename__ = "flavors"

    id: str = Field(primary_key=True, max_length=128)


class FlavorPublic(FlavorBase):
    id: str
    created_at: datetime
    updated_at: datetime


class FlavorsPublic(SQLModel):
    data: list[FlavorPublic]
    count: int


# --- experiments -------------------------------------------------------------------------


class Experiment(SQLModel, table=True):
    """What the tokens told us about an experiment (upstream owns it; we keep a copy)."""

    __tablename__ = "experiments"

    id: str = Field(primary_key=True, max_length=255)
    project_id: str | None = Field(default=None, max_length=255)
    expires_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


# --- resources ---------------------------------------------------------------------------


class Resource(SQLModel, table=True):
    """One VM asked for by an experiment; the flows move it through `ResourceStatus`."""

    __tablename__ = "resources"

    id: str = Field(primary_key=True, max_length=128)
    experiment_id: str = Field(foreign_key="experiments.id", index=True, max_length=255)
    project_id: str | None = Field(default=None, max_length=255)
    user_id: str | None = Field(default=None, max_length=255)
    friendly_name: str = Field(max_length=63)
    disk_image_id: str = Field(foreign_key="disk_images.id", max_length=128)
    flavor_id: str = Field(foreign_key="flavors.id", max_length=128)
    network_name: str | None = Field(default=None, max_length=255)
    public_ipv4: bool = False
    status: ResourceStatus = Field(
        default=ResourceStatus.PENDING, sa_column=_enum_column(ResourceStatus, index=True)
    )
    status_reason: str = Field(default="", max_length=64)
    status_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    expires_at: datetime = Field(sa_column=_utc_column(index=True))
    server_id: str | None = Field(default=None, max_length=64, index=True)
    floating_ip_id: str | None = Field(default=None, max_length=64)
    private_ipv4: str | None = Field(default=None, max_length=64)
    public_ipv4_address: str | None = Field(default=None, max_length=64)
    provision_task_id: str | None = Field(default=None, max_length=128)
    delete_task_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class ResourcePublic(SQLModel):
    id: str
    experiment_id: str
    friendly_name: str
    disk_image_id: str
    flavor_id: str
    network_name: str | None
    public_ipv4: bool
    status: ResourceStatus
    status_reason: str
    status_message: str
    expires_at: datetime
    server_id: str | None
    private_ipv4: str | None
    public_ipv4_address: str | None
    provision_task_id: str | None
    delete_task_id: str | None
    created_at: datetime
    updated_at: datetime


class ResourcesPublic(SQLModel):
    data: list[ResourcePublic]
    count: int


class ResourceUserData(SQLModel, table=True):
    """The cloud-init payload of a resource, kept apart so it never leaves the catalog.

    It may hold passwords: only the create-server task reads it, and the row is removed
    once the server exists or the resource is given up.
    """

    __tablename__ = "resource_user_data"

    resource_id: str = Field(primary_key=True, foreign_key="resources.id", max_length=128)
    payload: str = Field(sa_column=Column(Text, nullable=False))


# --- tasks -------------------------------------------------------------------------------


class Task(SQLModel, table=True):
    """One unit of asynchronous work (a Prefect flow run) as the API reports it."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("experiment_id", "request_id", name="uq_task_request"),)

    id: str = Field(primary_key=True, max_length=128)
    kind: TaskKind = Field(sa_column=_enum_column(TaskKind))
    status: TaskStatus = Field(
        default=TaskStatus.PENDING, sa_column=_enum_column(TaskStatus, index=True)
    )
    completed: int = Field(default=0, ge=0, le=100)
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    experiment_id: str = Field(index=True, max_length=255)
    user_id: str | None = Field(default=None, max_length=255)
    resource_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    request_id: str | None = Field(default=None, max_length=64, index=True)
    request_hash: str | None = Field(default=None, max_length=64)
    flow_run_id: str | None = Field(default=None, max_length=64)
    # The X-Request-ID of the API request that made the task.
    correlation_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class TaskPublic(SQLModel):
    id: str
    kind: TaskKind
    status: TaskStatus
    completed: int
    message: str
    resource_ids: list[str]
    created_at: datetime
    updated_at: datetime
    correlation_id: str | None = Field(
        default=None, description="The X-Request-ID of the request that made the task"
    )
    flow_run_id: str | None = Field(default=None, description="The Prefect flow run doing it")

    @computed_field(description="The flow run in the Prefect UI")  # type: ignore[prop-decorator]
    @property
    def flow_run_url(self) -> str | None:
        if not self.flow_run_id:
            return None
        from slices_bi.settings import get_settings

        return f"{get_settings().effective_prefect_ui_url}/runs/flow-run/{self.flow_run_id}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resource_events(self) -> list[str]:
        """Where the timeline of each resource of the task is (`GET`, same token)."""
        return [f"{API_PATH}/resources/{rid}/events" for rid in self.resource_ids]


# The timeline tables share this metadata (migrations and tests see every table here).
from slices_bi.catalog import event_models as _event_models  # noqa: E402, F401
